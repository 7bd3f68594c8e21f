"""Classify a network's test set with the golden model: FP32, 8-bit digital, and PCM chips at times after programming.

Each Monte Carlo seed s programs a fresh chip (programming noise and drift exponents from seed s) and runs the test
set on it with read-noise seed s. No drift remedy is applied (the BN registers are those of programming time). Every
tile drives its wordlines with ``--encoding`` (bit-serial or pwm, docs/architecture.md D8); the report gives each
tile's ADC full-scale current, which depends on the encoding and the weights but not on the seed. The network is the
shipped digits CNN unless ``--network`` names another (see `neurophase import`).
"""

import json
import time

import numpy as np

from neurophase.model.interface import InputEncoding
from neurophase.netargs import (add_network_arguments, check_images, check_network, fp32_forward, is_digits,
                                network_from, test_set)
from neurophase.options import build_default, count_or_all, input_file, integer, number, output_file
from neurophase.progress import progress_line


def add_arguments(p):
    add_network_arguments(p)
    p.add_argument("--time", type=number(0), nargs="+", default=[3600.0],
                   help="seconds after programming (one or more; default 3600 = 1 hour)")
    p.add_argument("--seeds", type=integer(1, 1000), default=5, help="Monte Carlo chips, seeds 0..n-1 (default 5)")
    p.add_argument("--images", type=count_or_all(what="test inputs"), default=None,
                   help="first k test inputs, a count or 'all' (default all)")
    p.add_argument("--weights", type=input_file("weights file (.npz)"), default=None,
                   help="weights file of the digits CNN written by `neurophase train` (default: the shipped weights)")
    p.add_argument("--encoding", choices=[e.label for e in InputEncoding], default=InputEncoding.BIT_SERIAL.label,
                   help="input encoding of every tile (default bit-serial)")
    p.add_argument("--out", type=output_file(), default=build_default("reports/infer.json"),
                   help="JSON report (default build/reports/infer.json, or under $NEUROPHASE_BUILD)")


def _network(args):
    """The network to run: the digits CNN with --weights, else the one --network names."""
    from neurophase.model.network import digits_network, load_weights
    if args.weights is None:
        return network_from(args)
    if not is_digits(args):
        raise ValueError("--weights is for the digits CNN; an imported network brings its weights")
    return digits_network(load_weights(args.weights)[0])


def check(args):
    check_network(args)
    args.images = check_images(args.images, _network(args))


def run(args):
    from neurophase.model.chip import Chip, ChipConfig
    from neurophase.model.quantise import digital_forward
    seeds, times = args.seeds, args.time
    config = ChipConfig(encoding=InputEncoding.parse(args.encoding))
    net = _network(args)
    test = test_set(net)
    if args.images is not None:
        test = test.first(args.images)
    x, y = test.x, test.y
    acc = lambda out: float(np.mean(np.argmax(out, axis=1) == y))
    t0 = time.time()
    report = {"network": net.name, "images": len(y), "fp32": acc(fp32_forward(args, net, x)),
              "int8_digital": acc(digital_forward(net, x)), "seeds": seeds, "encoding": config.encoding.label,
              "pcm": []}
    pcm = {t: [] for t in times}
    for s in range(seeds):
        chip = Chip.program(net, seed=s, config=config)
        report["i_fs_per_tile_A"] = {str(n): i for n, i in sorted(chip.i_fs.items())}
        for t in times:
            show = progress_line(f"chip seed {s}, t = {t:g} s", "inputs")
            pcm[t].append(acc(chip.run(x, t, seed=s, progress=show)))
    print(f"{net.name}: {len(y)} test inputs, {seeds} chip seed(s), {config.encoding.label} inputs, "
          f"{time.time() - t0:.1f} s")
    print("  ADC full scale per tile: " + ", ".join(f"tile {n} {1e6 * i:.2f} uA"
                                                   for n, i in report["i_fs_per_tile_A"].items()))
    print(f"  FP32              {100 * report['fp32']:6.2f}%")
    print(f"  8-bit digital     {100 * report['int8_digital']:6.2f}%")
    for t in times:
        a = np.array(pcm[t])
        report["pcm"].append({"time_s": t, "accuracy": a.tolist(), "mean": float(a.mean()),
                              "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                              "min": float(a.min()), "max": float(a.max())})
        r = report["pcm"][-1]
        print(f"  PCM t = {t:<10g}s {100 * r['mean']:6.2f}% mean, {100 * r['std']:.2f}% sd, "
              f"{100 * r['min']:.2f}..{100 * r['max']:.2f}% (no drift remedy)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0
