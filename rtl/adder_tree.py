# Ref: docs/architecture.md §5 (the tile's and the chip's event counters).
"""Additions built from operands of equal width: the balanced adder tree (popcount) of the tile's saturation counts
and the chip's wordline-pulse count, and the narrow-increment add of the event counters.

Why equal widths: the exporter strips a zero extension written in the source, so ``wide + Cat(narrow, 0)`` still
reaches Verilog as an add of unequal unsigned operands, which Verilator's lint reports (WIDTHEXPAND). A 1-bit operand
or two operands of one width are exact as they are.
"""

from amaranth.hdl import Cat, Signal

__all__ = ["add_narrow", "popcount"]


def add_narrow(m, value, inc):
    """``value + inc`` with its carry (``len(value) + 1`` bits) for an unsigned ``inc`` no wider than the signal
    ``value``: the low bits add ``inc``, the high bits add the low part's carry (comb statements into ``m``)."""
    w = len(inc)
    if w > len(value):
        raise ValueError(f"inc must be at most {len(value)} bits wide (the width of {value.name}), got {w}")
    if w in (1, len(value)):
        return value + inc
    lo = Signal(w + 1, name=f"{value.name}_lo")
    hi = Signal(len(value) - w + 1, name=f"{value.name}_hi")
    m.d.comb += [lo.eq(value[:w] + inc), hi.eq(value[w:] + lo[w])]
    return Cat(lo[:w], hi)


def popcount(m, bits, name):
    """The number of set bits of ``bits`` (a value of one or more bits), as a balanced adder tree whose widths grow
    with the depth, not with the number of bits. At an odd level the last term waits for the next level, where its
    partner may be wider: that pair adds through :func:`add_narrow`. Returns an unsigned value wide enough for
    ``len(bits)``; the tree's signals are named ``<name>``, ``<name>_<level>_<index>``."""
    if len(bits) < 1:
        raise ValueError(f"popcount needs at least one bit, got {len(bits)}")
    flat = Signal(len(bits), name=name)
    m.d.comb += flat.eq(bits)
    terms = [flat[k] for k in range(len(flat))]
    level = 0
    while len(terms) > 1:
        pairs = []
        for i in range(0, len(terms) - 1, 2):
            wide, narrow = sorted(terms[i:i + 2], key=len, reverse=True)
            total = Signal(len(wide) + 1, name=f"{name}_{level}_{i // 2}")
            m.d.comb += total.eq(add_narrow(m, wide, narrow))
            pairs.append(total)
        terms = pairs + terms[len(terms) - len(terms) % 2:]
        level += 1
    return terms[0]
