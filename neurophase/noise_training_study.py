"""Drift-aware training as the literature does it (Gaussian weight noise, Joshi et al. 2020) against the project's
device-model injection: accuracy from 1 s to 1 year on Monte Carlo chips, alone and with global drift compensation.

Writes build/reports/noise_training_study.{json,md}. Runs on a Dask cluster (a local one by default, ``--scheduler`` for
an existing one), every point stored as it finishes in build/studies/noise_training_study.csv (a rerun computes only
the points it lacks); deterministic for the chip seeds. Model:
model/noise_training_study.py; the two trainings: model/drift_training.py (`neurophase train --drift-aware`,
`--noise-injection`).
"""

import json
from pathlib import Path

from neurophase.model.chip import max_images
from neurophase.options import build_default, build_root, count_or_all, integer, output_folder
from neurophase.study_cli import Progress, add_engine_arguments, cluster_of


def add_arguments(p):
    p.add_argument("--chips", type=integer(1, 1000), default=3, help="Monte Carlo chips (default 3)")
    p.add_argument("--images", type=count_or_all(max_images()), default=None,
                   help=f"first k test images, a count or 'all' (default all {max_images()})")
    p.add_argument("--out", type=output_folder(), default=build_default("reports"),
                   help="report folder (default build/reports, or $NEUROPHASE_BUILD/reports)")
    add_engine_arguments(p, "build/studies/noise_training_study.csv (or under $NEUROPHASE_BUILD)")


def run(args):
    from neurophase.model.noise_training_study import markdown_table, run_study
    describe = lambda row: f"{row['weights']} {row['remedy']} chip {row['chip_seed']}"
    with Progress(args.json, describe) as progress:
        store = args.store or build_root() / "studies" / "noise_training_study.csv"
        result = run_study(args.chips, args.images, store, cluster_of(args), progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "noise_training_study.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown_table(result)
    (out / "noise_training_study.md").write_text(table)
    print(table)
    print(f"run time {result['runtime_s']:.0f} s; wrote {out}/noise_training_study.{{json,md}}")
    return 0
