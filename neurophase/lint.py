"""Lint every exported RTL top and the behavioural HDL with `verilator --lint-only -Wall`; any warning not waived in
rtl/lint_waivers.vlt fails. Prints one summary line per file (rules and counts, then the first few messages)."""

import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAIVERS = ROOT / "rtl" / "lint_waivers.vlt"
COMPARATOR_BANK = ROOT / "tb" / "hdl" / "comparator_bank.v"
# Behavioural HDL linted beside the exported tops: (file, top module, parameter overrides) -- the defaults and the
# shared-ADC / narrow variants the testbenches use.
HDL = [
    (COMPARATOR_BANK, "np_comparator_bank", {}),
    (COMPARATOR_BANK, "np_comparator_bank", {"COLUMNS": 16, "COLUMNS_PER_ADC": 4, "B_ADC": 6, "FRAC_BITS": 4}),
    (COMPARATOR_BANK, "np_comparator_bank", {"COLUMNS": 8, "B_ADC": 2, "FRAC_BITS": 1}),
]
SHOW = 5   # messages printed per failing file

_WARNING = re.compile(r"^%(Warning|Error)-?([A-Z0-9_]*):?\s*(.*)$")


@dataclass
class LintResult:
    """Outcome of one Verilator lint: ``counts`` per rule (``ERROR`` for errors), the messages in order."""
    label: str
    counts: Counter = field(default_factory=Counter)
    messages: list = field(default_factory=list)
    returncode: int = 0

    @property
    def ok(self):
        return self.returncode == 0 and not self.counts

    def summary(self):
        if self.ok:
            return f"clean  {self.label}"
        rules = ", ".join(f"{rule} x{n}" for rule, n in self.counts.most_common())
        lines = [f"FAIL   {self.label}: {sum(self.counts.values())} warnings ({rules or 'verilator failed'})"]
        lines += [f"         {m}" for m in self.messages[:SHOW]]
        if len(self.messages) > SHOW:
            lines.append(f"         ... {len(self.messages) - SHOW} more")
        return "\n".join(lines)


def add_arguments(p):
    p.add_argument("--out", type=Path, default=Path("build/rtl"), help="folder of the exported Verilog")


def lint_file(path, top=None, parameters=None, label=None):
    """Lint one Verilog file with the project's waivers; returns a :class:`LintResult`."""
    from .tb.toolchain import check_simulator
    check_simulator("verilator")
    path = Path(path)
    top = top or path.stem
    parameters = parameters or {}
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", top]
    cmd += [f"-G{k}={v}" for k, v in parameters.items()]
    cmd += [str(WAIVERS), str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if label is None:
        shown = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        label = str(shown) + "".join(f" {k}={v}" for k, v in parameters.items())
    result = LintResult(label=label, returncode=r.returncode)
    for line in r.stderr.splitlines():
        m = _WARNING.match(line)
        if m and not m.group(3).startswith("Exiting due to"):
            result.counts[m.group(2) or "ERROR"] += 1
            result.messages.append(f"{m.group(2) or m.group(1)}: {m.group(3)}")
    return result


def lint_all(out):
    """Export every top into ``out`` and lint it, then lint the behavioural HDL; returns the results."""
    from .rtl_tools import export_all
    results = [lint_file(path) for path in export_all(out)]
    results += [lint_file(path, top, params) for path, top, params in HDL]
    return results


def run(args):
    results = lint_all(args.out)
    for r in results:
        print(r.summary())
    failed = sum(not r.ok for r in results)
    print(f"lint: {len(results) - failed} of {len(results)} clean")
    return 1 if failed else 0
