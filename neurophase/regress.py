"""Run constrained-random networks through the whole-chip RTL under Verilator, bit for bit (`make regress`).

Each seed names one network of model/random_network.py (layer count, kernel sizes, strides, fan-ins from a fraction
of a tile to several tiles, outputs across column blocks, residual adds, pooling, random weights), compiled by the
host compiler for a chip of reduced tiles (32 rows x 16 columns) and run through the chip RTL (tb/regress.py): every
response word, the logits, every layer's event counts and cycles against the golden executor and CycleModel. Writes
build/reports/regress.json; a failing seed is printed with the command that replays it. Exit status 0 only when no
seed has a mismatch.
"""

from neurophase.options import build_default, integer, output_folder, require_extra
from neurophase.tb.toolchain import SIMULATORS

MAX_SEED = 2 ** 32 - 1


def add_arguments(p):
    p.add_argument("--seeds", type=integer(1, 100_000), default=5, help="number of random networks (default 5)")
    p.add_argument("--start", type=integer(0, MAX_SEED), default=0,
                   help="first seed (default 0): seeds start .. start + seeds - 1")
    p.add_argument("--sim", choices=SIMULATORS, default="verilator", help="simulator (default verilator)")
    p.add_argument("--report-dir", type=output_folder(), default=build_default("reports"),
                   help="folder of the JSON report (default build/reports, or $NEUROPHASE_BUILD/reports)")


def check(args):
    """The last seed is a seed too; the simulator and cocotb are there."""
    from neurophase.tb.toolchain import check_simulator
    if args.start + args.seeds - 1 > MAX_SEED:
        raise ValueError(f"--start {args.start} --seeds {args.seeds}: the last seed must be <= {MAX_SEED}, got "
                         f"{args.start + args.seeds - 1}")
    require_extra("cocotb", "cocotb_tools")
    check_simulator(args.sim)


def run(args):
    from neurophase.tb.regress import run_regress
    seeds = range(args.start, args.start + args.seeds)
    report = run_regress(seeds, sim=args.sim, report_dir=args.report_dir)
    return 0 if not report["failed_seeds"] and "error" not in report else 1
