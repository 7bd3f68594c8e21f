"""Run constrained-random networks through the whole-chip RTL under Verilator, bit for bit (`make regress`).

Each seed names one network of model/random_network.py (layer count, kernel sizes, strides, fan-ins from a fraction
of a tile to several tiles, outputs across column blocks, residual adds, pooling, random weights), compiled by the
host compiler for a chip of reduced tiles (32 rows x 16 columns) and run through the chip RTL (tb/regress.py): every
response word, the logits, every layer's event counts and cycles against the golden executor and CycleModel. Writes
build/reports/regress.json; a failing seed is printed with the command that replays it. Exit status 0 only when no
seed has a mismatch.
"""

from pathlib import Path


def add_arguments(p):
    p.add_argument("--seeds", type=int, default=5, help="number of random networks (default 5)")
    p.add_argument("--start", type=int, default=0, help="first seed (default 0): seeds start .. start + seeds - 1")
    p.add_argument("--sim", default="verilator", help="verilator (default) or icarus")
    p.add_argument("--report-dir", type=Path, default=None, help="folder of the JSON report (default build/reports)")


def run(args):
    from neurophase.model.checks import check_int
    from neurophase.tb.regress import run_regress
    from neurophase.tb.toolchain import check_simulator
    check_simulator(args.sim)
    n = check_int("seeds", args.seeds, 1, 100_000)
    start = check_int("start", args.start, 0, 2 ** 32 - n)
    report = run_regress(range(start, start + n), sim=args.sim, report_dir=args.report_dir)
    return 0 if not report["failed_seeds"] and "error" not in report else 1
