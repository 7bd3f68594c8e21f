"""Classify a network's test set with the golden model: FP32, 8-bit digital, and PCM chips at times after programming.

Each Monte Carlo seed s programs a fresh chip (programming noise and drift exponents from seed s) and runs the test
set on it with read-noise seed s. No drift remedy is applied (the BN registers are those of programming time). Every
tile drives its wordlines with ``--encoding`` (bit-serial or pwm, docs/architecture.md D8); the report gives each
tile's ADC full-scale current, which depends on the encoding and the weights but not on the seed. The network is the
shipped digits CNN unless ``--network`` names another (see `neurophase import`). Runs on a Dask cluster (a local one
by default, ``--scheduler`` for an existing one); every (seed, time) point is stored as it finishes in the results
store (build/studies/infer.csv), so a run again computes only the points the store lacks.
"""

import json
import time
from pathlib import Path

import numpy as np

from neurophase.model.interface import InputEncoding
from neurophase.netargs import (add_network_arguments, check_images, check_network, fp32_forward, is_digits,
                                network_from, test_set)
from neurophase.options import build_default, build_root, count_or_all, input_file, integer, number, output_file
from neurophase.study_cli import Progress, add_engine_arguments, cluster_of


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
    add_engine_arguments(p, "build/studies/infer.csv (or under $NEUROPHASE_BUILD)")


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
    if len(set(args.time)) != len(args.time):
        raise ValueError(f"--time values must be distinct, got {args.time}")


def run(args):
    from neurophase.model.infer_study import InferStudy
    from neurophase.model.quantise import digital_forward
    from neurophase.model.study_engine import run as run_study
    seeds, times = args.seeds, list(args.time)
    encoding = InputEncoding.parse(args.encoding)
    net = _network(args)
    test = test_set(net)
    images = len(test) if args.images is None else args.images
    x, y = test.first(images).x, test.first(images).y
    acc = lambda out: float(np.mean(np.argmax(out, axis=1) == y))
    t0 = time.time()
    report = {"network": net.name, "images": len(y), "fp32": acc(fp32_forward(args, net, x)),
              "int8_digital": acc(digital_forward(net, x)), "seeds": seeds, "encoding": encoding.label, "pcm": []}
    study = InferStudy(net, images, seeds, times, encoding)
    with Progress(args.json, study.describe) as progress:
        rows = run_study(study, args.store or build_root() / "studies" / "infer.csv", cluster_of(args), progress)
    report["i_fs_per_tile_A"] = json.loads(rows[0]["i_fs_A"])
    for t in times:
        a = np.array([float(r["accuracy"]) for r in rows if float(r["t_s"]) == t])
        report["pcm"].append({"time_s": t, "accuracy": a.tolist(), "mean": float(a.mean()),
                              "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                              "min": float(a.min()), "max": float(a.max())})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    if args.json:
        print(json.dumps({"event": "result", "report": str(out), **report}))
        return 0
    print(f"{net.name}: {len(y)} test inputs, {seeds} chip seed(s), {encoding.label} inputs, "
          f"{time.time() - t0:.1f} s")
    print("  ADC full scale per tile: " + ", ".join(f"tile {n} {1e6 * i:.2f} uA"
                                                   for n, i in report["i_fs_per_tile_A"].items()))
    print(f"  FP32              {100 * report['fp32']:6.2f}%")
    print(f"  8-bit digital     {100 * report['int8_digital']:6.2f}%")
    for r in report["pcm"]:
        print(f"  PCM t = {r['time_s']:<10g}s {100 * r['mean']:6.2f}% mean, {100 * r['std']:.2f}% sd, "
              f"{100 * r['min']:.2f}..{100 * r['max']:.2f}% (no drift remedy)")
    print(f"wrote {args.out}")
    return 0
