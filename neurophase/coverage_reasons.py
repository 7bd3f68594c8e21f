"""Why a line is not covered or a bit never toggles: `neurophase coverage`'s explanations, computed from the coverage
points and the Verilog they point into (not hand-written lists of lines or bits that go stale when the RTL changes).

Lines: each uncovered line point is matched, one by one, against :data:`LINE_REASONS` (a module of the block, the
point's kind, and the Verilog line with the ``$n`` temporaries it names replaced by their ``assign`` expressions);
a point that no reason matches is reported NOT EXPLAINED, and a reason that matches no point is reported unused (its
structure left the RTL, or tests now reach it).

Toggles: each bit that missed a toggle point is put into the first class of :data:`TOGGLE_CLASSES` it belongs to,
from what the data, the Verilog and the interface say of it: nets that the block's module only wires to instances of
other Verilog modules (tiles, a harness's stand-ins); event counters (the ``counters`` instance, or a signal named by
a register it counts) above the counts the tests reach; bits outside every field of a register's word layout
(model/interface.py); read-only registers that never changed (constants); bits the Verilog ties to a literal (the
unstored high bits of narrow registers on the 32-bit read path, tie-offs); the high bits of other values that stayed
small; signals that never changed; the rest. Each class is reported with its points and the toggle figure without it.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from neurophase.model.interface import (BN_CTRL, CHIP_CONFIG, CHIP_STATUS, CHIP_WRITABLE, TILE_FORMAT, TILE_GEOMETRY,
                                        TILE_MODE, TILE_READ_ONLY, TILE_STATUS, WORD_BITS, ChipReg, TileReg)

__all__ = ["LineReason", "LINE_REASONS", "ToggleClass", "TOGGLE_CLASSES", "VerilogSource", "explain_lines",
           "classify_toggles"]

# The chip's event counters: its read-only registers that are neither constants nor its status.
_CHIP_COUNTERS = sorted(set(ChipReg) - CHIP_WRITABLE - {ChipReg.ID, ChipReg.CONFIG, ChipReg.STATUS})
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
    LineReason("chip counter reads", r"\.chip\.regs$", ("if",),
               rf"^if \(at_({'|'.join(r.name.lower() for r in _CHIP_COUNTERS)})\) begin$",
               "a READ of one of the chip's event counters: the storms leave them out (their counts depend on timing, "
               "which the golden executor does not model); tests/test_rtl_chip.py reads them after every layer and "
               "checks them against model/events.py (a second whole-chip build, not in this coverage run)"),
    LineReason("reduction saturation", r"\.reducer$", ("cond_then",), r"\$signed\(psum\d*\) [<>] \$signed\(",
               "a group's partial sum past +-2^19: storms route single tiles (a group's tiles must share COLS_USED, "
               "which storms draw per tile) and the reference network's group (conv3) stays far inside; "
               "formal/reducer.py proves the saturating sum for every input, tests/test_rtl_reducer.py saturates it"),
    LineReason("reducer BN shifts", r"\.reducer\.bn$", ("case",), r"^\d+'h[0-9a-f]+:$",
               "a shift value the reducer's BN_CTRL never held: the storms write it a few dozen random legal "
               "values per run (and the value acts only on a group's MVMs, which storms do not route); "
               "formal/bn_unit.py proves the same BnUnit against D4 for every shift"),
    LineReason("response FIFO hold", r"\.resp_fifo$", ("else",), r"else if \(r_en\)",
               "the response FIFO's output word left unread: the chip harness's response sink (tb/hdl/chip_io.v) is "
               "ready every cycle; Amaranth's SyncFIFOBuffered is tested by Amaranth"),
)


_SIGNAL = r"\\?(?P<sig>[^\s\[]+) ?"
_LITERAL = r"(?P<width>\d+)'[hdbo][0-9a-fA-F_]+"
# A field of a packed aggregate, as Yosys writes it: ``assign \count.mvm_count  = count[159:128];``
_FIELD_SLICE = re.compile(rf"\s*assign \\(?P<field>\S+) += {_SIGNAL}\[(?P<hi>\d+):(?P<lo>\d+)\];$")
# Bits the Verilog ties to a literal: ``assign read[159:128] = { 26'h0000000, rows_used };``, ``assign x = 4'h0;``
_TIED = re.compile(rf"\s*assign {_SIGNAL}(?:\[(?P<hi>\d+)(?::(?P<lo>\d+))?\])? += (?P<concat>\{{ )?{_LITERAL}[,;]")
_DECLARED = re.compile(rf"\s*(?:wire|reg|input|output) (?:\[(?P<hi>\d+):0\] )?{_SIGNAL}[;= ]")
# One net under two names: ``assign read[319:288] = \read$159 [63:32];``, ``assign x = y;``
_ALIAS = re.compile(rf"\s*assign {_SIGNAL}(?:\[(?P<hi>\d+):(?P<lo>\d+)\])? += \\?(?P<src>[A-Za-z_][^\s\[;]*) ?"
                    r"(?:\[(?P<shi>\d+):(?P<slo>\d+)\])?;$")
# An instance and its port connections: ``\np_tile_harness.tile.ctrl.regs  regs (`` (or ``np_comparator_bank #(``,
# parameters, ``) comparators0_100 (``) then ``.read(read),``.
_INSTANCE = re.compile(r"\s*\\?(?P<child>[A-Za-z_][^\s#(]*)\s+(?:#\(|\S+ \()$")
_PORT = re.compile(r"\s*\.(?P<port>[^(]+)\(\\?(?P<sig>[^\s()\[]+) ?\),?$")


@dataclass(frozen=True)
class _Net:
    """Bits ``a_lo..`` of signal ``a`` and ``b_lo..`` of ``b`` (``width`` bits; None: all) are one net: a port and
    what the parent connects to it, or the two sides of an ``assign`` that copies bits."""
    a: tuple
    a_lo: int
    b: tuple
    b_lo: int
    width: int


def _spread(tied, nets):
    """Give both names of every net the tied bits of either, until nothing changes (nets chain through modules)."""
    changed = True
    while changed:
        changed = False
        for n in nets:
            a, b = tied.get(n.a, set()), tied.get(n.b, set())
            inside = (lambda k: True) if n.width is None else (lambda k: 0 <= k < n.width)
            to_b = {k - n.a_lo + n.b_lo for k in a if inside(k - n.a_lo)} - b
            to_a = {k - n.b_lo + n.a_lo for k in b if inside(k - n.b_lo)} - a
            if to_a or to_b:
                tied[n.a], tied[n.b], changed = a | to_a, b | to_b, True


@dataclass
class VerilogSource:
    """One Verilog file: its lines; per line the module it is in; per module its ``assign`` expressions of
    temporaries; per (module, aggregate) the fields sliced from it; per (module, signal) the bits tied to literals;
    and the (module, signal) pairs wired to a port of an instance of another Verilog module (not one of its own
    submodules: a tile instance, a harness's stand-in)."""
    lines: list
    module_at: list
    assigns: dict
    fields: dict
    tied: dict
    foreign: set

    @classmethod
    def read(cls, path):
        lines = Path(path).read_text().splitlines() if Path(path).exists() else []
        module_at, assigns, fields, tied, widths, wires, foreign = [], {}, {}, {}, {}, [], set()
        module, child = "", None
        for text in lines:
            m = re.match(r"\s*module (\\\S+|\w+)", text)
            if m:
                module = m.group(1).lstrip("\\")
                assigns[module] = {}
            module_at.append(module)
            if (i := _INSTANCE.match(text)) and not text.lstrip().startswith("module "):
                child = i.group("child")
            elif child and (c := _PORT.match(text)):
                if child.startswith(module + "."):
                    wires.append(_Net((child, c.group("port")), 0, (module, c.group("sig")), 0, None))
                else:
                    foreign.add((module, c.group("sig")))
            elif text.strip() == ");":
                child = None
            if d := _DECLARED.match(text):
                widths[(module, d.group("sig"))] = int(d.group("hi") or 0) + 1
            if a := re.match(r"\s*assign (\\\$\d+) += (.*);$", text):
                assigns[module][a.group(1)] = a.group(2)
            if (f := _FIELD_SLICE.match(text)) and f.group("field").startswith(f.group("sig") + "."):
                lo, hi = int(f.group("lo")), int(f.group("hi"))
                fields.setdefault((module, f.group("sig")), []).append((lo, hi, f.group("field")))
                wires.append(_Net((module, f.group("field")), 0, (module, f.group("sig")), lo, hi - lo + 1))
            elif (n := _ALIAS.match(text)) and (n.group("hi") is None) == (n.group("shi") is None):
                width = int(n.group("hi")) - int(n.group("lo")) + 1 if n.group("hi") else None
                wires.append(_Net((module, n.group("sig")), int(n.group("lo") or 0), (module, n.group("src")),
                                  int(n.group("slo") or 0), width))
            elif t := _TIED.match(text):
                key = (module, t.group("sig"))
                hi = int(t.group("hi")) if t.group("hi") else widths.get(key, 1) - 1
                lo = int(t.group("lo") or t.group("hi") or 0)
                low = hi - int(t.group("width")) + 1 if t.group("concat") else lo
                tied.setdefault(key, set()).update(range(max(lo, low), hi + 1))
        _spread(tied, wires)
        return cls(lines, module_at, assigns, fields, tied, foreign)

    def field_of(self, module, name, bit):
        """(signal, bit) of bit ``bit`` of ``name``: the field the Verilog slices it into, if any."""
        for lo, hi, field in self.fields.get((module, name), ()):
            if lo <= bit <= hi:
                return field, bit - lo
        return name, bit

    def is_tied(self, module, name, bit):
        """Whether the Verilog ties bit ``bit`` of ``name`` to a literal (through any of the net's names)."""
        return bit in self.tied.get((module, name), ())

    def resolved(self, line):
        """Line ``line`` (1-based) stripped, with each ``\\$n`` temporary it reads replaced by its assigned expression
        (the one an ``assign`` line writes is left as it is)."""
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        table = self.assigns.get(self.module_at[line - 1], {}) if 0 < line <= len(self.lines) else {}
        lhs, rhs = text.split("=", 1) if text.startswith("assign ") and "=" in text else ("", text)
        rhs = re.sub(r"\\\$\d+ ?", lambda m: f"({table.get(m.group(0).strip(), m.group(0).strip())})", rhs)
        return f"{lhs}={rhs}" if lhs else rhs


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


@dataclass(frozen=True)
class ToggleClass:
    """A class of untoggled bits: whether they are so by construction (or need stimulus no test can afford), and
    why."""
    construction: bool
    why: str


# In the order a bit is tried.
TOGGLE_CLASSES = {
    "nets of instances outside the block": ToggleClass(True, (
        "nets the block's module only wires to an instance of another Verilog module (the chip's tile instances "
        "and the harness's crossbar stand-ins): those are the tiles' own ports, counted with the tile block")),
    "event counters above the counts reached": ToggleClass(True, (
        "bits of the 32-bit saturating event counters and their read-back paths above the largest count a test "
        "reaches (2^k events; a test counts tens to thousands)")),
    "reserved bits of register words": ToggleClass(True, (
        "bits of a register word outside every field of its layout (model/interface.py): read as 0, a write of 1 "
        "is refused as a bad value")),
    "constant read-only registers": ToggleClass(True, (
        "read-only registers, not counters, that never changed: constants of the build (ID, GEOMETRY, FORMAT, "
        "the chip's CONFIG)")),
    "tied to a constant in the Verilog": ToggleClass(True, (
        "bits the Verilog assigns a literal: the unstored high bits of narrower registers on the 32-bit read "
        "path (rows, columns, channels, ADC range, ...) and tie-offs")),
    "high bits of values that stayed small": ToggleClass(False, (
        "low bits toggled, a run of top bits never did: the values the tests drive stay below 2^k")),
    "never changed": ToggleClass(False, "no bit of the signal ever toggled in these tests"),
    "other bits": ToggleClass(False, "bits scattered within signals that otherwise toggle"),
}

# A toggle point's ``o``: the signal, its last index (the bit; none for one bit) and the direction.
_TOGGLE_POINT = re.compile(r"(?P<name>.*?)(?:\[(?P<bit>\d+)\])?:(?:0->1|1->0)")


@dataclass
class _Bit:
    """One bit of a signal over its toggle points: how many there are, how many were not hit, and whether the
    Verilog ties it to a literal."""
    points: int = 0
    missed: int = 0
    tied: bool = False


def _decoded(name):
    """A Verilator signal name as the Verilog spells it (``__02e`` is ``.``, ``__024`` is ``$``)."""
    return re.sub(r"__0([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), name)


def _components(name):
    return set(re.split(r"[.$]", name))


def _signals(points, case_of, sources):
    """{(case, module, signal): {bit: _Bit}} over the toggle points. A bit of a packed aggregate (a struct port such
    as the counters' ``count``) counts as the bit of the field that the Verilog slices from it (``assign
    \\count.mvm_count = count[159:128];``), so it is classified as that field; a signal with more than one dimension
    is keyed by its leading indices (``acc[7]``)."""
    signals = {}
    for p in points:
        m = _TOGGLE_POINT.fullmatch(p.get("o", ""))
        if not m:
            continue
        source, module = sources[p["f"]], p["page"].split("/", 1)[1]
        name, bit = source.field_of(module, _decoded(m.group("name")), int(m.group("bit") or 0))
        b = signals.setdefault((case_of(p), module, name), {}).setdefault(bit, _Bit())
        b.points += 1
        b.missed += p["count"] == 0
        b.tied = b.tied or source.is_tied(module, name, bit)
    return signals


def _bit_classes(key, bits, counters, reserved, foreign):
    """{bit: class} of the bits of signal ``key`` that missed a toggle point (``foreign``: it is wired to an instance
    of another Verilog module)."""
    _, module, name = key
    parts = _components(name)
    missed = {b for b, x in bits.items() if x.missed}
    if foreign:
        return dict.fromkeys(missed, "nets of instances outside the block")
    if module.endswith(f".{COUNTERS_INSTANCE}") or parts & counters:
        return dict.fromkeys(missed, "event counters above the counts reached")
    out = {}
    if len(bits) == WORD_BITS:
        spare = set().union(*(reserved[r] for r in parts & set(reserved)))
        out.update(dict.fromkeys(missed & spare, "reserved bits of register words"))
    if missed == set(bits) and parts & (_READ_ONLY - counters):
        out.update({b: "constant read-only registers" for b in missed if b not in out})
    out.update({b: "tied to a constant in the Verilog" for b in missed if b not in out and bits[b].tied})
    rest = missed - set(out)
    moved = [b for b, x in bits.items() if x.missed < x.points]
    if not moved:
        return {**out, **dict.fromkeys(rest, "never changed")}
    return {**out, **{b: "high bits of values that stayed small" if b > max(moved) else "other bits" for b in rest}}


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
    reserved = _reserved_bits(registers)
    files = {case_of(p): p["f"] for p in points}
    classes = {name: dict(points=0, signals=[], construction=c.construction, why=c.why)
               for name, c in TOGGLE_CLASSES.items()}
    for key, bits in sorted(signals.items()):
        found = {}
        foreign = (key[1], key[2]) in sources[files[key[0]]].foreign
        for b, cls in _bit_classes(key, bits, counters, reserved, foreign).items():
            found[cls] = found.get(cls, 0) + bits[b].missed
        for cls, missed in found.items():
            classes[cls]["points"] += missed
            classes[cls]["signals"].append(dict(case=key[0], module=key[1], signal=key[2], missed=missed,
                                                points=sum(x.points for x in bits.values())))
    for entry in classes.values():
        entry["pct_without"] = _pct(hit, total - entry["points"])
    construction = sum(e["points"] for e in classes.values() if e["construction"])
    return classes, dict(hit=hit, total=total - construction, pct=_pct(hit, total - construction))


def _pct(hit, total):
    return round(100.0 * hit / total, 1) if total else None
