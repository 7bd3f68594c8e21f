"""Classify the held-out digits with the golden model: FP32, 8-bit digital, and PCM chips at times after programming.

Each Monte Carlo seed s programs a fresh chip (programming noise and drift exponents from seed s) and runs the test
set on it with read-noise seed s. No drift remedy is applied (the BN registers are those of programming time). Every
tile drives its wordlines with ``--encoding`` (bit-serial or pwm, docs/architecture.md D8); the report gives each
tile's ADC full-scale current, which depends on the encoding and the weights but not on the seed.
"""

import json
import sys
import time
import numpy as np

from neurophase.model.interface import InputEncoding
from neurophase.options import build_default, input_file, integer, number, output_file
from neurophase.progress import progress_line


def add_arguments(p):
    p.add_argument("--time", type=number(0), nargs="+", default=[3600.0],
                   help="seconds after programming (one or more; default 3600 = 1 hour)")
    p.add_argument("--seeds", type=integer(1, 1000), default=5, help="Monte Carlo chips, seeds 0..n-1 (default 5)")
    p.add_argument("--weights", type=input_file("weights file (.npz)"), default=None,
                   help="weights file written by `neurophase train` (default: the shipped weights)")
    p.add_argument("--encoding", choices=[e.label for e in InputEncoding], default=InputEncoding.BIT_SERIAL.label,
                   help="input encoding of every tile (default bit-serial)")
    p.add_argument("--out", type=output_file(), default=build_default("reports/infer.json"),
                   help="JSON report (default build/reports/infer.json, or under $NEUROPHASE_BUILD)")


def check(args):
    from neurophase.model.network import load_weights
    if args.weights is not None:
        load_weights(args.weights)


def run(args):
    from neurophase.model.chip import Chip, ChipConfig
    from neurophase.model.network import (digital_forward, fp32_logits, fp32_params, load_split, load_weights,
                                quant_layers)
    seeds, times = args.seeds, args.time
    config = ChipConfig(encoding=InputEncoding.parse(args.encoding))
    params, _ = load_weights() if args.weights is None else load_weights(args.weights)
    _, _, x, y = load_split()
    acc = lambda logits: float(np.mean(np.argmax(logits, axis=1) == y))
    t0 = time.time()
    report = {"images": len(y), "fp32": acc(fp32_logits(fp32_params(params), x)),
              "int8_digital": acc(digital_forward(quant_layers(params), x)), "seeds": seeds,
              "encoding": config.encoding.label, "pcm": []}
    pcm = {t: [] for t in times}
    for s in range(seeds):
        chip = Chip.program(params, seed=s, config=config)
        report["i_fs_per_tile_A"] = {str(n): i for n, i in sorted(chip.i_fs.items())}
        for t in times:
            pcm[t].append(acc(chip.run(x, t, seed=s, progress=progress_line(f"chip seed {s}, t = {t:g} s", "images"))))
    print(f"{len(y)} held-out images, {seeds} chip seed(s), {config.encoding.label} inputs, {time.time() - t0:.1f} s")
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
