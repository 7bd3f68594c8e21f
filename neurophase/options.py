"""Option checking shared by the `neurophase` commands: argparse types and checks of files and folders.

Every check runs before a command does any work and rejects a bad value with one line naming what is wrong and what
is allowed. A type raises :class:`argparse.ArgumentTypeError` (argparse adds the option's name); the path checks
used by a command's ``check(args)`` raise ``ValueError`` naming the option. Folders and files to be written are
tried for real (a temporary file in the nearest existing folder), so a read-only file system is caught as well as a
missing permission. Default folders sit under :func:`build_root`: ``./build``, or ``$NEUROPHASE_BUILD``.
"""

import argparse
import importlib.util
import math
import os
import tempfile
from pathlib import Path

__all__ = ["build_root", "build_default", "integer", "number", "count_or_all", "check_count", "input_file",
           "output_folder", "output_file", "check_output_folder", "check_output_file", "check_input_file",
           "require_extra", "DEV_EXTRA"]

DEV_EXTRA = "pip install 'neurophase[dev]'"


def build_root():
    """The folder build products and reports go to: ``$NEUROPHASE_BUILD``, else ``build`` in the current folder."""
    from neurophase.tb.runner import build_root as root
    return root()


def build_default(rel):
    """A command's default output path ``rel`` under :func:`build_root`, as a string: argparse runs a string default
    through the option's type, so the default is checked like a given value."""
    return str(build_root() / rel)


def _range_text(lo, hi, what):
    if lo is not None and hi is not None:
        return f"{what} in [{lo}, {hi}]"
    if lo is not None:
        return f"{what} >= {lo}"
    return f"{what} <= {hi}" if hi is not None else what


def integer(lo=None, hi=None):
    """An argparse type: an integer in [lo, hi] (either bound may be None)."""
    allowed = _range_text(lo, hi, "an integer")

    def parse(text):
        try:
            v = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {v}")
        return v
    return parse


def number(lo=None, hi=None, *, above=False):
    """An argparse type: a finite number >= lo (> lo with ``above``) and <= hi."""
    low = "" if lo is None else f"{'>' if above else '>='} {lo:g}"
    allowed = "a finite number" + (f" {low}" if lo is not None else "") + (
        f" and <= {hi:g}" if hi is not None and lo is not None else f" <= {hi:g}" if hi is not None else "")

    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if not math.isfinite(v) or (lo is not None and (v <= lo if above else v < lo)) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return v
    return parse


def count_or_all(hi=None, what="images"):
    """An argparse type: a count in [1, hi] or ``all`` (= hi). With ``hi`` None the bound depends on other options:
    ``all`` stays the string ``"all"`` and the command's ``check(args)`` resolves it (:func:`check_count`)."""
    allowed = f"a number of {what} in [1, {hi}] or 'all'" if hi is not None else f"a number of {what} >= 1 or 'all'"

    def parse(text):
        if text == "all":
            return "all" if hi is None else hi
        try:
            v = int(text, 10)
        except ValueError:
            v = None
        if v is None or v < 1 or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return v
    return parse


def check_count(option, value, hi, what="images"):
    """A :func:`count_or_all` value parsed without a bound, checked against ``hi``: ``"all"`` gives ``hi``, None (not
    given) stays None."""
    if value == "all":
        return hi
    if value is not None and value > hi:
        raise ValueError(f"{option} must be a number of {what} in [1, {hi}] or 'all', got {value}")
    return value


def _nearest_existing(path):
    p = Path(path).absolute()
    while not p.exists():
        p = p.parent
    return p


def _check_writable(option, path, folder, allowed):
    """Check that ``folder`` (the folder ``path`` is, or is written into) exists or can be made, and is writable."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise ValueError(f"{option} {path}: cannot make a folder there, {base} is a file ({allowed})")
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as e:
        raise ValueError(f"{option} {path}: folder {base} is not writable ({e.strerror}; {allowed})") from None


def check_output_folder(option, path):
    """Check that ``path`` is a folder, or can be made one, and that files can be written in it; returns it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: is a file, not a folder (give a folder to write into)")
    _check_writable(option, path, path, "give a writable folder")
    return path


def check_output_file(option, path):
    """Check that the file ``path`` can be written (it is not a folder; its folder can be made and written)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder (give a file name to write)")
    _check_writable(option, path, path.parent, "give a file in a writable folder")
    return path


def check_input_file(option, path, what="file"):
    """Check that ``path`` is an existing, readable, non-empty file; returns it. ``what`` names its kind."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{option} {path}: no such file (give an existing {what})")
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder (give an existing {what})")
    try:
        with open(path, "rb") as f:
            empty = not f.read(1)
    except OSError as e:
        raise ValueError(f"{option} {path}: cannot be read ({e.strerror}; give a readable {what})")
    if empty:
        raise ValueError(f"{option} {path}: is empty (give a {what})")
    return path


def _path_type(check, *args):
    def parse(text):
        try:
            return check("", text, *args)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix(" ")) from None
    return parse


def input_file(what="file"):
    """An argparse type: an existing, readable, non-empty file (its content is checked by the command)."""
    return _path_type(check_input_file, what)


def output_folder():
    """An argparse type: a folder that exists or can be made, and that files can be written in."""
    return _path_type(check_output_folder)


def output_file():
    """An argparse type: a file that can be written (its folder can be made and written)."""
    return _path_type(check_output_file)


def require_extra(*modules):
    """Raise ``RuntimeError`` naming the extra to install when one of ``modules`` cannot be imported."""
    for name in modules:
        if importlib.util.find_spec(name) is None:
            raise RuntimeError(f"{name} is not installed: this command needs the dev extra ({DEV_EXTRA})")
