"""The `neurophase` command: one subcommand per job; the Makefile targets call these."""

import argparse
import importlib
import sys

# subcommand -> module with `add_arguments(parser)`, `run(args) -> int` and a docstring whose first line is the help.
COMMANDS = {
    "rtl": "neurophase.rtl_tools",
    "lint": "neurophase.lint",
    "coverage": "neurophase.coverage",
    "formal": "neurophase.formal_cli",
    "bench": "neurophase.bench",
    "energy": "neurophase.energy",
    "train": "neurophase.train",
    "import": "neurophase.import_network",
    "map": "neurophase.map",
    "infer": "neurophase.infer",
    "drift-study": "neurophase.drift_study",
    "fault-study": "neurophase.fault_study",
    "noise-training-study": "neurophase.noise_training_study",
    "sim": "neurophase.sim",
    "regress": "neurophase.regress",
    "zoo": "neurophase.zoo",
}


def build_parser():
    parser = argparse.ArgumentParser(prog="neurophase", description="NeuroPhase digital twin")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(modname)
        doc = (mod.__doc__ or name).strip()
        p = sub.add_parser(name, help=doc.splitlines()[0], description=doc)
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args._module.run(args) or 0
    except (ValueError, RuntimeError) as e:
        print(f"neurophase {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:      # Ctrl-C: one line, the shell's status for SIGINT
        print(f"neurophase {args.command}: interrupted" + (f"; {e}" if str(e) else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
