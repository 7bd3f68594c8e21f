"""Accuracy against the magnitude of each analog non-ideality and fault (IR drop, ADC offset and gain, comparator noise,
stuck devices, dead lines), with and without the remedies (Monte Carlo chips).

Writes build/reports/fault_study.{json,csv,md,png} for the digits CNN, fault_study_<network name>.* for any other
``--network`` (``model/data/resnet_style.onnx --calib model/data/resnet_style_calib.npz --data
model/data/digits_test.npz``: the ResNet-style network); ``--quick``: a ``_quick`` suffix, one magnitude per
non-ideality, 1 chip, 60 test inputs; ``--encoding pwm``: a ``_pwm`` suffix. Runs on a Dask cluster (a local one by
default, ``--scheduler`` for an existing one); every point is stored as it finishes in the results store
(build/studies/<same stem>.csv), so an interrupted study run again computes only the points it lacks. Deterministic
for the chip seeds whatever the workers. Model: model/fault_study.py; laws: docs/architecture.md D11-D13.
"""

from neurophase.model.fault_study import NONIDEALITIES
from neurophase.model.interface import InputEncoding
from neurophase.netargs import add_network_arguments, check_images, check_network, network_from
from neurophase.options import build_default, build_root, count_or_all, integer, number, output_folder
from neurophase.study_cli import Progress, add_engine_arguments, cluster_of


def add_arguments(p):
    add_network_arguments(p)
    p.add_argument("--quick", action="store_true", help="1 chip, one magnitude per non-ideality, the first 60 images")
    p.add_argument("--chips", type=integer(1, 1000), default=None, help="Monte Carlo chips (default 3; quick 1)")
    p.add_argument("--images", type=count_or_all(what="test inputs"), default=None,
                   help="first k test inputs, a count or 'all' (default all; quick 60)")
    p.add_argument("--time", type=number(0), default=0.0, help="seconds after programming of the test (default 0)")
    p.add_argument("--only", nargs="+", choices=list(NONIDEALITIES), default=None, metavar="NONIDEALITY",
                   help=f"only these non-idealities (default all): {' '.join(NONIDEALITIES)}")
    p.add_argument("--encoding", choices=[e.label for e in InputEncoding], default=InputEncoding.BIT_SERIAL.label,
                   help="input encoding of every tile (default bit-serial)")
    p.add_argument("--out", type=output_folder(), default=build_default("reports"),
                   help="report folder (default build/reports, or $NEUROPHASE_BUILD/reports)")
    add_engine_arguments(p, "build/studies/<the reports' name>.csv (or under $NEUROPHASE_BUILD)")


def check(args):
    check_network(args)
    args.images = check_images(args.images, network_from(args))


def run(args):
    import json
    from neurophase.model.fault_study import (NetworkSpec, StudySettings, describe_row, markdown_table, run_study,
                                              write_reports)
    encoding = InputEncoding.parse(args.encoding)
    chips = args.chips or (1 if args.quick else 3)
    images = args.images or (60 if args.quick else None)
    settings = StudySettings(time=args.time, test_images=images, encoding=encoding)
    network = NetworkSpec(args.network, args.calib, args.data)
    stem = ("fault_study" + ("" if network.is_digits else f"_{network.open().name}")
            + ("_quick" if args.quick else "") + ("_pwm" if encoding is InputEncoding.PWM else ""))
    with Progress(args.json, describe_row) as progress:
        result = run_study(chips, settings, quick=args.quick, nonidealities=args.only, network=network,
                           store=args.store or build_root() / "studies" / f"{stem}.csv", cluster=cluster_of(args),
                           progress=progress, cache=build_root() / "cache")
    paths = write_reports(result, args.out, stem)
    if args.json:
        print(json.dumps({"event": "result", "reports": {k: str(v) for k, v in paths.items()},
                          "summary": result["summary"]}))
    else:
        print(markdown_table(result))
        print(f"run time {result['runtime_s']:.0f} s; wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
