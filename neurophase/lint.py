"""Lint every exported RTL top with `verilator --lint-only -Wall`; fails on any warning not waived in rtl/lint_waivers.vlt."""

import subprocess
from pathlib import Path

WAIVERS = Path(__file__).resolve().parent.parent / "rtl" / "lint_waivers.vlt"


def add_arguments(p):
    p.add_argument("--out", type=Path, default=Path("build/rtl"), help="folder of the exported Verilog")


def lint_file(path):
    """Return (ok, output) of Verilator's lint of one exported top."""
    from .tb.toolchain import check_simulator
    check_simulator("verilator")
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", path.stem]
    if WAIVERS.exists():
        cmd.append(str(WAIVERS))
    cmd.append(str(path))
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode == 0 and "%Warning" not in r.stderr, r.stderr


def run(args):
    from .rtl_tools import export_all
    failed = 0
    for path in export_all(args.out):
        ok, out = lint_file(path)
        print(f"{'clean' if ok else 'FAIL '}  {path}")
        if not ok:
            failed += 1
            print(out)
    return 1 if failed else 0
