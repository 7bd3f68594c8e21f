"""Thin launcher of cocotb testbenches: export the top, build it once per parametrisation, run, check results.

Ref: STYLE.md examples 8 and 9. Parameters are baked into the Verilog at elaboration, so they are mirrored into the
simulation's environment as ``PARAM_<NAME>`` for the testbench to read (:func:`params`).
"""

import fcntl
import json
import os
import re
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from neurophase.tb.toolchain import check_simulator, verilator_make_env

__all__ = ["run_cocotb", "params", "write_report", "without_initial_values", "build_root"]


def build_root():
    """Where simulator builds and reports go: ``$NEUROPHASE_BUILD``, else ``build`` under the current folder (read at
    each call, so an installed package writes where it is run, never into site-packages)."""
    return Path(os.environ.get("NEUROPHASE_BUILD") or "build").absolute()


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def run_cocotb(*, component, toplevel, test_module, sim, parameters, case=None, extra_sources=(),
               extra_env=None, waves=False, coverage=False, testcase=None, seed=None, workdir=None, timings=None):
    """Export ``component`` as ``toplevel``, build it under ``sim`` and run the cocotb ``test_module``.

    The simulation runs in ``workdir`` (its working directory: files the testbench reads or writes by relative path,
    the results and the log; default the build directory). The export and build hold a lock on the build directory,
    so runs that share a build but not a workdir (e.g. pytest workers) may run at the same time.

    Returns (results_xml_path, build_dir). Raises RuntimeError when any cocotb test failed, so a failing cocotb test
    fails pytest and the command line alike. ``timings``: a dict that receives ``build_s``, the wall seconds of the
    export and build (seconds when nothing changed; waiting for another process's build included).
    """
    from cocotb_tools.check_results import get_results

    check_simulator(sim)
    # `neurophase coverage` asks every Verilator run of the block tests for coverage through the environment.
    coverage = coverage or (sim == "verilator" and os.environ.get("NEUROPHASE_COVERAGE") == "1")
    x_seed = _x_seed() if sim == "verilator" else None
    case = case or "_".join(f"{k}{v}" for k, v in sorted(parameters.items()))
    suffix = ("_cov" if coverage else "") + ("_xrand" if x_seed is not None else "")
    build_dir = build_root() / "sim" / _slug(toplevel) / _slug(f"{sim}_{case}{suffix}")
    test_dir = Path(workdir) if workdir is not None else build_dir
    env = {f"PARAM_{k.upper()}": json.dumps(v) for k, v in parameters.items()}
    # The testbench's numpy (the golden model between segments) on one BLAS thread: the simulator waits for it
    # anyway, and OpenBLAS's idle threads spin on the second core (6% of a chip run's samples).
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.update(extra_env or {})

    runner = _verilator_ports_only() if sim == "verilator" else _icarus_vcd()
    build0 = time.perf_counter()
    with locked(build_dir):
        _build(runner, component, toplevel, sim, build_dir, extra_sources, waves, coverage, x_seed)
    if timings is not None:
        timings["build_s"] = time.perf_counter() - build0
    try:
        # Every top is Verilog; stating it lets a Verilator control file (.vlt) be among the sources.
        xml = runner.test(test_module=test_module, hdl_toplevel=toplevel, hdl_toplevel_lang="verilog",
                          build_dir=build_dir,
                          test_dir=test_dir, extra_env=env, waves=waves, testcase=testcase, seed=seed,
                          plusargs=_plusargs(x_seed, waves, sim, test_dir / toplevel,
                                             build_dir if coverage else None),
                          timescale=("1ns", "1ps"), results_xml=str(test_dir / "results.xml"),
                          log_file=test_dir / "sim.log")
    except SystemExit as e:
        raise RuntimeError(f"cocotb: tests failed in {test_module} on {sim} (exit {e.code}; "
                           f"log: {test_dir / 'sim.log'})") from None
    n_tests, n_failed = get_results(Path(xml))
    if n_tests == 0 or n_failed:
        raise RuntimeError(f"cocotb: {n_failed} of {n_tests} tests failed in {test_module} on {sim} "
                           f"(log: {test_dir / 'sim.log'})")
    return Path(xml), build_dir


@contextmanager
def locked(build_dir):
    """Hold an exclusive lock on ``build_dir`` (another process exporting or building into it, or running a
    simulation in it, waits)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build(runner, component, toplevel, sim, build_dir, extra_sources, waves, coverage, x_seed):
    """Export ``component`` into ``build_dir`` and build it with cocotb's ``runner`` (nothing is rebuilt when the
    sources did not change); with an ``x_seed``, from the Verilog without its initial values."""
    from neurophase.rtl.export import write_verilog

    src = write_verilog(component, toplevel, build_dir / "rtl")
    if x_seed is not None:
        src = _without_initial_values(src)
    build_args = []
    saved_makeflags = os.environ.get("MAKEFLAGS")
    if sim == "verilator":
        build_args = ["-Wno-fatal", "-O3"]
        extra_sources = [*extra_sources, _top_ports_visible(build_dir, toplevel, src)]
        if coverage:
            build_args += ["--coverage-line", "--coverage-toggle"]
        if x_seed is not None:
            build_args += ["--x-assign", "unique", "--x-initial", "unique"]
        os.environ["MAKEFLAGS"] = verilator_make_env()
    # cocotb's runner leaves by SystemExit when a build fails, or (under pytest) when a cocotb test fails; turn that
    # into one RuntimeError naming the log, for pytest and the command line alike.
    try:
        runner.build(sources=[src, *extra_sources], hdl_toplevel=toplevel, build_dir=build_dir,
                     build_args=build_args, timescale=("1ns", "1ps"), waves=waves,
                     log_file=build_dir / "build.log")
    except SystemExit as e:
        log = build_dir / "build.log"
        raise RuntimeError(f"{sim} build of {toplevel} failed (exit {e.code}; log: {log})") from None
    finally:
        if saved_makeflags is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved_makeflags


def _plusargs(x_seed, waves, sim, vcd_stem, coverage_dir=None):
    """Simulator plusargs: Verilator's random initial values for an x-init run, Icarus's VCD path for waves, and for
    a coverage run a coverage file of its own in ``coverage_dir`` (the build directory, where `neurophase coverage`
    finds it: runs that share a build write files of their own, and the run's workdir may be a temporary one)."""
    args = [] if x_seed is None else [f"+verilator+seed+{x_seed}", "+verilator+rand+reset+2"]
    if waves and sim == "icarus":
        args.append(f"+dumpfile_path={vcd_stem}.vcd")
    if coverage_dir is not None:
        args.append(f"+verilator+coverage+file+{coverage_dir}/coverage_{uuid.uuid4().hex[:12]}.dat")
    return args


def _x_seed():
    """NEUROPHASE_X_SEED=<n> (n >= 1): a Verilator run in which every register and memory starts at a random value
    from seed n, as silicon does, and every X the design assigns is random too; None when unset."""
    text = os.environ.get("NEUROPHASE_X_SEED")
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"NEUROPHASE_X_SEED must be an integer >= 1, got {text!r}")
    return int(text)


# Yosys writes a register's init value as its declaration's initialiser (`reg [7:0] n = 8'h00;`, an escaped name
# ends in a space) and a memory's as an initial block of element assignments.
_REG_INIT = re.compile(r"^(\s*reg\b[^=;\n]*?)\s*=\s*[^;\n]+;$", re.M)
_MEMORY_INIT = re.compile(r"^\s*initial begin\n(?:\s*[^\s\[]+\[\d+\] = [^;\n]+;\n)+\s*end\n", re.M)


def without_initial_values(text):
    """Verilog ``text`` with no register initialiser and no memory initial block: only reset gives a state a value,
    and Verilator's ``--x-initial unique`` gives everything else a random one at start."""
    return _MEMORY_INIT.sub("", _REG_INIT.sub(r"\1 ;", text))


def _without_initial_values(src):
    """Write :func:`without_initial_values` of the Verilog file ``src`` beside it (``<name>_noinit.v``, only when its
    bytes change); return that path."""
    src = Path(src)
    path = src.with_name(f"{src.stem}_noinit.v")
    text = without_initial_values(src.read_text())
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _top_ports_visible(build_dir, toplevel, src):
    """A Verilator control file making the top module's ports, and nothing else, visible to cocotb's VPI.

    Only ports: Verilator must assume a public signal can change under it at any time, and re-evaluates all logic
    fed by one whenever the testbench writes anything (every clock edge)."""
    text = Path(src).read_text()
    body = text[text.index(f"module {toplevel}("):]
    body = body[:body.index("endmodule")]
    ports = re.findall(r"^\s*(input|output|inout)\s+(?:\[[^\]]*\]\s*)?([A-Za-z_][A-Za-z0-9_$]*)\s*;", body, re.M)
    lines = ["`verilator_config"] + [f'public_flat_{"rd" if d == "output" else "rw"} -module "{toplevel}" -var "{n}"'
                                     for d, n in ports]
    path = build_dir / "public_ports.vlt"
    if not path.exists() or path.read_text() != "\n".join(lines) + "\n":
        path.write_text("\n".join(lines) + "\n")
    return path


def _verilator_ports_only():
    """cocotb's Verilator runner without ``--public-flat-rw``: the testbenches reach the top's ports only, and a
    design whose every internal signal is public compiles to about three times the C++ and simulates several times
    slower (Verilator can neither inline nor fold it)."""
    from cocotb_tools.runner import Verilator

    class VerilatorPortsOnly(Verilator):
        def _build_command(self):
            return [[arg for arg in cmd if arg != "--public-flat-rw"] for cmd in super()._build_command()]

    return VerilatorPortsOnly()


def _icarus_vcd():
    """cocotb's Icarus runner writing its trace as VCD (into the file named by ``+dumpfile_path``) instead of FST:
    both simulators then give the same format, which any viewer and `neurophase report` (pyvcd) read."""
    from cocotb_tools.runner import Icarus

    class IcarusVcd(Icarus):
        def _test_command(self):
            return [["-vcd" if arg == "-fst" else arg for arg in cmd] for cmd in super()._test_command()]

    return IcarusVcd()


def write_report(report, name, report_dir=None):
    """Write a simulation report as JSON to ``<report_dir or build/reports>/<name>``; returns the path."""
    out_dir = Path(report_dir) if report_dir else build_root() / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps(report, indent=1) + "\n")
    return path


def params():
    """Inside a simulation: the parameters mirrored by :func:`run_cocotb`, as a dict with lower-case keys."""
    return {k[6:].lower(): json.loads(v) for k, v in os.environ.items() if k.startswith("PARAM_")}
