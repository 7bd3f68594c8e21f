"""Drift-aware training as the literature does it (Gaussian weight noise, Joshi et al. 2020) against the project's
device-model injection: accuracy from 1 s to 1 year on Monte Carlo chips, alone and with global drift compensation.

Writes build/reports/noise_training_study.{json,md}. Uses every core; deterministic for the chip seeds. Model:
model/noise_training_study.py; the two trainings: model/drift_training.py (`neurophase train --drift-aware`,
`--noise-injection`).
"""

import json

from neurophase.model.chip import max_images
from neurophase.options import build_default, count_or_all, integer, output_folder


def add_arguments(p):
    p.add_argument("--chips", type=integer(1, 1000), default=3, help="Monte Carlo chips (default 3)")
    p.add_argument("--images", type=count_or_all(max_images()), default=None,
                   help=f"first k test images, a count or 'all' (default all {max_images()})")
    p.add_argument("--jobs", type=integer(1, 256), default=None, help="processes (default: every core)")
    p.add_argument("--out", type=output_folder(), default=build_default("reports"),
                   help="report folder (default build/reports, or $NEUROPHASE_BUILD/reports)")


def run(args):
    from neurophase.model.noise_training_study import markdown_table, run_study
    result = run_study(args.chips, args.images, args.jobs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "noise_training_study.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown_table(result)
    (args.out / "noise_training_study.md").write_text(table)
    print(table)
    print(f"run time {result['runtime_s']:.0f} s; wrote {args.out}/noise_training_study.{{json,md}}")
    return 0
