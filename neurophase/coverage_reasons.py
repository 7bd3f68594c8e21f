"""Why a line is not covered or a bit never toggles: `neurophase coverage`'s explanations, computed from the coverage
points and the Verilog they point into (not hand-written lists of lines or bits that go stale when the RTL changes).

Lines: each uncovered line point is matched, one by one, against :data:`LINE_REASONS` (a module of the block, the
point's kind, and the Verilog line with the ``$n`` temporaries it names replaced by their ``assign`` expressions);
a point that no reason matches is reported NOT EXPLAINED, and a reason that matches no point is reported unused (its
structure left the RTL, or tests now reach it).

Toggles: each signal with bits that never toggled is put into the first class of :data:`TOGGLE_CLASSES` it belongs
to, from what the data and the interface say of it: event counters (the ``counters`` instance, or a signal named by
a register it counts) above the counts the tests reach; read-only registers that never changed (constants); the
high bits of configuration registers above the values written; signals the Verilog ties to a constant; the high
bits of other values that stayed small; other signals that never changed; the rest. Each class is reported with its
points and the toggle figure without it.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from neurophase.model.interface import (BN_CTRL, CHIP_CONFIG, CHIP_STATUS, CHIP_WRITABLE, TILE_CONFIG, TILE_FORMAT,
                                        TILE_GEOMETRY, TILE_MODE, TILE_READ_ONLY, TILE_STATUS, WORD_BITS, ChipReg,
                                        TileReg)

__all__ = ["LineReason", "LINE_REASONS", "TOGGLE_CLASSES", "VerilogSource", "explain_lines", "classify_toggles"]

# The EventCounters instance of rtl/tile_ctrl.py and rtl/chip.py (``m.submodules.counters``): its counters are
# named after the registers that read them.
COUNTERS_INSTANCE = "counters"


@dataclass(frozen=True)
class LineReason:
    """Why the line points of a module (``module``: a regular expression searched in its instance path) of ``kinds``
    (Verilator's ``o`` field: if, else, elsif, cond_then, block, ...) whose resolved Verilog line matches ``text``
    are not covered."""
    name: str
    module: str
    kinds: tuple
    text: str
    why: str

    def matches(self, module, kind, text):
        return bool(re.search(self.module, module)) and kind in self.kinds and bool(re.search(self.text, text))


LINE_REASONS = (
    LineReason("fsm spare encoding", r"\.ctrl$", ("else",), r"else if \(\(state == 2'h2\)\)",
               "the tile controller's FSM (rtl/tile_ctrl.py _State) has 3 states in a 2-bit register; the else of its "
               "last state test is state 3, which no assignment gives it (every next state is IDLE, READ or READOUT)"),
    LineReason("counter saturation", rf"\.{COUNTERS_INSTANCE}$", ("cond_then",), r"\? 32'd4294967295 :",
               "a 32-bit event counter stopping at 2^32 - 1 needs 2^32 events (43 s of chip time at 100 MHz, days of "
               "simulation); tests/test_rtl_counters.py saturates the same EventCounters with a 32-bit increment"),
)


# A field of a packed aggregate, as Yosys writes it: ``assign \count.mvm_count  = count[159:128];``
_FIELD_SLICE = re.compile(r"\s*assign \\(?P<field>\S+) += \\?(?P<whole>[^\s\[]+) ?\[(?P<hi>\d+):(?P<lo>\d+)\];$")


@dataclass
class VerilogSource:
    """One Verilog file: its lines, and per line the module it is in with that module's ``assign`` expressions."""
    lines: list
    module_at: list
    assigns: dict
    fields: dict

    @classmethod
    def read(cls, path):
        lines = Path(path).read_text().splitlines() if Path(path).exists() else []
        module_at, assigns, fields, module = [], {}, {}, ""
        for text in lines:
            m = re.match(r"\s*module (\\\S+|\w+)", text)
            if m:
                module = m.group(1).lstrip("\\")
                assigns[module] = {}
            a = re.match(r"\s*assign (\\\$\d+) += (.*);$", text)
            if a:
                assigns[module][a.group(1)] = a.group(2)
            f = _FIELD_SLICE.match(text)
            if f and f.group("field").startswith(f.group("whole") + "."):
                fields.setdefault((module, f.group("whole")), []).append(
                    (int(f.group("lo")), int(f.group("hi")), f.group("field")))
            module_at.append(module)
        return cls(lines, module_at, assigns, fields)

    def resolved(self, line):
        """Line ``line`` (1-based) stripped, with each ``\\$n`` temporary it reads replaced by its assigned expression
        (the one an ``assign`` line writes is left as it is)."""
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        table = self.assigns.get(self.module_at[line - 1], {}) if 0 < line <= len(self.lines) else {}
        lhs, rhs = text.split("=", 1) if text.startswith("assign ") and "=" in text else ("", text)
        rhs = re.sub(r"\\\$\d+ ?", lambda m: f"({table.get(m.group(0).strip(), m.group(0).strip())})", rhs)
        return f"{lhs}={rhs}" if lhs else rhs

    def module(self, line):
        return self.module_at[line - 1] if 0 < line <= len(self.lines) else ""


def explain_lines(points, case_of):
    """The uncovered line points, one by one: dicts of where (case/file:line), the module (instance path), kind, the
    resolved Verilog line and the reason (None when no reason matches); and the names of :data:`LINE_REASONS` that
    matched nothing."""
    sources, out, used = {}, [], set()
    for p in sorted(points, key=lambda p: (p["f"], int(p["l"]), p.get("o", ""))):
        src = sources.setdefault(p["f"], VerilogSource.read(p["f"]))
        module = p["page"].split("/", 1)[1]
        text = src.resolved(int(p["l"]))
        reason = next((r for r in LINE_REASONS if r.matches(module, p.get("o", ""), text)), None)
        if reason:
            used.add(reason.name)
        out.append(dict(where=f"{case_of(p)}/{Path(p['f']).name}:{p['l']}", module=module,
                        kind=p.get("o", ""), verilog=text[:160], reason=reason.name if reason else None,
                        why=reason.why if reason else "NOT EXPLAINED"))
    return out, [r.name for r in LINE_REASONS if r.name not in used]


_CONFIG = {r.name.lower() for r in TILE_CONFIG | (CHIP_WRITABLE - {ChipReg.ERRORS, ChipReg.CTRL})}
_READ_ONLY = {r.name.lower() for r in TILE_READ_ONLY} | {r.name.lower() for r in set(ChipReg) - CHIP_WRITABLE}
_REGISTERS = {r.name.lower() for r in TileReg} | {r.name.lower() for r in ChipReg}

# The word layouts of the registers that have fields (model/interface.py), per register file: a bit outside every
# field is reserved (read as 0, a write of 1 refused).
REGISTER_LAYOUTS = {
    "tile": {TileReg.BN_CTRL: BN_CTRL, TileReg.MODE: TILE_MODE, TileReg.GEOMETRY: TILE_GEOMETRY,
             TileReg.FORMAT: TILE_FORMAT, TileReg.STATUS: TILE_STATUS},
    "chip": {ChipReg.CONFIG: CHIP_CONFIG, ChipReg.STATUS: CHIP_STATUS, ChipReg.RED_BN_CTRL: BN_CTRL},
}


def _reserved_bits(registers):
    """{register name: the bits of its word outside every field} of register file ``registers``."""
    return {reg.name.lower(): {b for b in range(layout.width) if layout.reserved_mask >> b & 1}
            for reg, layout in REGISTER_LAYOUTS[registers].items()}


# Toggle classes in the order a signal is tried; ``construction`` marks those that cannot toggle by construction or
# only with stimulus no test can afford (the rest are gaps of the stimulus).
TOGGLE_CLASSES = {
    "event counters above the counts reached": dict(construction=True, why=(
        "32-bit saturating counters (and their read-back paths) whose high bits need 2^k events; a test counts tens "
        "to thousands")),
    "reserved bits of register words": dict(construction=True, why=(
        "bits of a register word outside every field of its layout (model/interface.py): read as 0, a write of 1 "
        "is refused as a bad value")),
    "constant read-only registers": dict(construction=True, why=(
        "read-only registers that are not counters and never changed (ID, GEOMETRY, FORMAT, the chip's CONFIG): "
        "constants of the build")),
    "configuration registers above the values written": dict(construction=True, why=(
        "bits of configuration registers above the largest legal value of this build (rows, columns, channels, "
        "reserved fields; an illegal value is refused, so the register never takes it)")),
    "tied to a constant in the Verilog": dict(construction=True, why=(
        "signals the Verilog assigns a literal (unused ports and fields the RTL ties off)")),
    "high bits of values that stayed small": dict(construction=False, why=(
        "low bits toggled, a run of top bits never did: the values the tests drive stay below 2^k")),
    "never changed": dict(construction=False, why="no bit of the signal ever toggled in these tests"),
    "other bits": dict(construction=False, why="bits scattered within signals that otherwise toggle"),
}

# A toggle point's ``o``: the signal, its last index (the bit; none for one bit) and the direction.
_TOGGLE_POINT = re.compile(r"(?P<name>.*?)(?:\[(?P<bit>\d+)\])?:(?:0->1|1->0)")


def _decoded(name):
    """A Verilator signal name as the Verilog spells it (``__02e`` is ``.``, ``__024`` is ``$``)."""
    return re.sub(r"__0([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), name)


def _components(name):
    return set(re.split(r"[.$]", name))


def _signals(points, case_of, sources):
    """{(case, module, signal): {bit: directions not toggled}} over the toggle points. A bit of a packed aggregate
    (a struct port such as the counters' ``count``) is counted as the bit of the field that the Verilog slices from
    it (``assign \\count.mvm_count = count[159:128];``), so it is classified as that field. A signal with more than one
    dimension is keyed by its leading indices (``acc[7]``)."""
    signals = {}
    for p in points:
        m = _TOGGLE_POINT.fullmatch(p.get("o", ""))
        if not m:
            continue
        module, name = p["page"].split("/", 1)[1], _decoded(m.group("name"))
        bit = int(m.group("bit") or 0)
        for lo, hi, field in sources[p["f"]].fields.get((module, name), ()):
            if lo <= bit <= hi:
                name, bit = field, bit - lo
                break
        bits = signals.setdefault((case_of(p), module, name), {})
        bits[bit] = bits.get(bit, 0) + (p["count"] == 0)
    return signals


def _tied(source, module, name):
    """Whether ``module`` in ``source`` assigns signal ``name`` a literal."""
    spelled = re.escape(name if re.fullmatch(r"[A-Za-z_]\w*", name) else f"\\{name} ")
    return any(re.match(rf"\s*assign {spelled}\s*= \d+'[hdbo][0-9a-fA-F_]+;$", text)
               for text, at in zip(source.lines, source.module_at) if at == module)


def _bit_classes(key, bits, counters, tied, reserved):
    """{bit: class} of the bits of signal ``key`` that did not toggle both ways."""
    _, module, name = key
    parts = _components(name)
    missed = [b for b, n in bits.items() if n]
    if module.endswith(f".{COUNTERS_INSTANCE}") or parts & counters:
        return dict.fromkeys(missed, "event counters above the counts reached")
    spare = set().union(*(reserved[r] for r in parts & set(reserved))) if len(bits) == WORD_BITS else set()
    if spare & set(missed):
        return {**_bit_classes(key, {b: n for b, n in bits.items() if b not in spare}, counters, tied, {}),
                **dict.fromkeys(spare & set(missed), "reserved bits of register words")}
    never = len(missed) == len(bits)
    if never and parts & (_READ_ONLY - counters):
        return dict.fromkeys(missed, "constant read-only registers")
    if never and tied:
        return dict.fromkeys(missed, "tied to a constant in the Verilog")
    if never:
        return dict.fromkeys(missed, "never changed")
    if not missed:
        return {}
    top = max(b for b, n in bits.items() if n < 2)         # the highest bit that moved at all
    above = "configuration registers above the values written" if parts & _CONFIG else \
        "high bits of values that stayed small"
    return {b: above if b > top else "other bits" for b in missed}


def classify_toggles(points, case_of, registers):
    """The untoggled toggle points by class: {class: {points, signals: [{case, module, signal, missed, points}],
    why, construction, pct_without}} and the figure without the classes that are by construction. ``registers``
    ("tile" or "chip") names the register file whose word layouts tell reserved bits."""
    total = len(points)
    hit = sum(p["count"] > 0 for p in points)
    sources = {f: VerilogSource.read(f) for f in {p["f"] for p in points}}
    signals = _signals(points, case_of, sources)
    counters = {n for (_, module, name) in signals if module.endswith(f".{COUNTERS_INSTANCE}")
                for n in _components(name)} & _REGISTERS
    files = {case_of(p): p["f"] for p in points}
    classes = {name: dict(points=0, signals=[], **info) for name, info in TOGGLE_CLASSES.items()}
    for key, bits in sorted(signals.items()):
        if not any(bits.values()):
            continue
        tied = _tied(sources[files[key[0]]], key[1], key[2]) if not any(n < 2 for n in bits.values()) else False
        found = {}
        for b, cls in _bit_classes(key, bits, counters, tied, _reserved_bits(registers)).items():
            found[cls] = found.get(cls, 0) + bits[b]
        for cls, missed in found.items():
            classes[cls]["points"] += missed
            classes[cls]["signals"].append(dict(case=key[0], module=key[1], signal=key[2], missed=missed,
                                                points=2 * len(bits)))
    for entry in classes.values():
        entry["pct_without"] = _pct(hit, total - entry["points"])
    construction = sum(e["points"] for e in classes.values() if e["construction"])
    return classes, dict(hit=hit, total=total - construction, pct=_pct(hit, total - construction))


def _pct(hit, total):
    return round(100.0 * hit / total, 1) if total else None
