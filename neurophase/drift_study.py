"""Accuracy from 1 s to 10 years after programming, with each drift remedy and all three together (Monte Carlo chips).

Writes build/reports/drift_study.{json,csv,md,png} (``--quick``: drift_study_quick.*, 3 chips, 1 s and 1 year, 120 test
images; ``--encoding pwm``: a ``_pwm`` suffix) and says whether the paper's ">= 97.1% of FP32" and "within 0.5% of fresh
for a year" hold for the reference network. Runs on a Dask cluster (a local one by default, ``--scheduler`` for an
existing one); every point (method, chip, time) is stored as it finishes in the results store (build/studies/<same
stem>.csv), so an interrupted study run again computes only the points it lacks. Deterministic for the seeds whatever
the workers. ``--network`` studies another network (a file from `neurophase import`, or an ONNX file with --calib;
its test set from the import's --data) with no remedy, BN recalibration and global drift compensation; the reports
and the store then carry the network's name in their stem.
"""

from neurophase.model.chip import max_images
from neurophase.model.interface import InputEncoding
from neurophase.netargs import add_network_arguments, check_images, check_network, network_from
from neurophase.options import build_default, build_root, count_or_all, integer, number, output_folder
from neurophase.study_cli import Progress, add_engine_arguments, cluster_of


def add_arguments(p):
    from neurophase.model.drift_study import PAIR_METHODS, PCM_METHODS
    add_network_arguments(p, data=False)
    p.add_argument("--quick", action="store_true", help="3 chips, 1 s and 1 year, the first 120 test images")
    p.add_argument("--chips", type=integer(1, 1000), default=None, help="Monte Carlo chips (default 10; quick 3)")
    p.add_argument("--images", type=count_or_all(what="test inputs"), default=None,
                   help=f"first k test images, a count or 'all' (default all, {max_images()} of the digits; quick 120)")
    p.add_argument("--times", type=number(0), nargs="+", default=None,
                   help="seconds after programming, increasing, 0 allowed (default 1 s .. 10 years; quick 1 s, 1 year)")
    p.add_argument("--methods", nargs="+", default=None, choices=PCM_METHODS + PAIR_METHODS, metavar="METHOD",
                   help="PCM methods to measure, of pcm dat bn sr gdc all3 dat_bn sr_bn (default all; quick without "
                        "dat_bn sr_bn); the paper's claims need all3")
    p.add_argument("--encoding", choices=[e.label for e in InputEncoding], default=InputEncoding.BIT_SERIAL.label,
                   help="input encoding of every tile (default bit-serial)")
    p.add_argument("--budget", type=number(0, 1), default=0.05,
                   help="selective reprogramming: fraction of the weights rewritten at each time (default 0.05)")
    p.add_argument("--out", type=output_folder(), default=build_default("reports"),
                   help="report folder (default build/reports, or $NEUROPHASE_BUILD/reports)")
    add_engine_arguments(p, "build/studies/<the reports' name>.csv (or under $NEUROPHASE_BUILD)")


def _config(args):
    from neurophase.model.drift_study import StudyConfig, time_label
    kw = {k: v for k, v in (("chips", args.chips), ("test_images", args.images)) if v is not None}
    if args.times is not None:
        kw["times"] = tuple((time_label(t), t) for t in args.times)
    if args.methods is not None:
        kw["methods"] = tuple(args.methods)
    return (StudyConfig.quick_mode if args.quick else StudyConfig)(
        budget=args.budget, encoding=InputEncoding.parse(args.encoding), network=str(args.network),
        calib=None if args.calib is None else str(args.calib), **kw)


def check(args):
    check_network(args)
    args.images = check_images(args.images, network_from(args))
    _config(args)


def run(args):
    import json
    from neurophase.model.drift_study import DriftStudy, markdown_table, network_name, run_study, write_reports
    cfg = _config(args)
    encoding = cfg.encoding
    named = "" if cfg.network == "digits" else "_" + network_name(cfg)
    stem = "drift_study" + named + ("_quick" if args.quick else "") + ("_pwm" if encoding is InputEncoding.PWM else "")
    with Progress(args.json, DriftStudy(cfg).describe) as progress:
        result = run_study(cfg, args.store or build_root() / "studies" / f"{stem}.csv", cluster_of(args), progress)
    paths = write_reports(result, args.out, stem)
    if args.json:
        print(json.dumps({"event": "result", "reports": {k: str(v) for k, v in paths.items()},
                          "fixed": result["fixed"], "summary": result["summary"], "verdicts": result["verdicts"]}))
    else:
        print(markdown_table(result))
        print(f"run time {result['runtime_s']:.0f} s; wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
