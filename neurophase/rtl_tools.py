"""Export every RTL top to Verilog (one file per top, byte-identical on every machine and run)."""

from neurophase.options import build_default, output_folder


def add_arguments(p):
    p.add_argument("--out", type=output_folder(), default=build_default("rtl"),
                   help="output folder (default build/rtl, or $NEUROPHASE_BUILD/rtl)")


def export_all(out):
    from neurophase.rtl.export import TOPS, write_verilog
    return [write_verilog(factory(), name, out) for name, factory in TOPS.items()]


def run(args):
    for path in export_all(args.out):
        print(f"wrote {path}")
    return 0
