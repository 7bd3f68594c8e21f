# Ref: docs/architecture.md §5 (tile readout, chip output routing).
"""Multiplexers written so every simulator evaluates them from time 0: continuous assignments, no ``always @*`` case
statement."""

from amaranth.hdl import Mux, Signal

__all__ = ["mux_tree", "one_hot_select"]


def mux_tree(items, sel):
    """``items[sel]`` as a tree of 2:1 multiplexers on the bits of ``sel``.

    Exported as continuous assignments, which every simulator evaluates from time 0. An Array index becomes an
    ``always @*`` case statement instead, which Icarus does not run until one of its inputs changes: with constant
    inputs (an MVM of all-zero activations, say) its output stayed X.
    """
    level = list(items)
    for b in range(len(sel)):
        level = [Mux(sel[b], level[k + 1], level[k]) if k + 1 < len(level) else level[k]
                 for k in range(0, len(level), 2)]
    return level[0]


def one_hot_select(m, name, values, hits):
    """The value whose one-hot ``hits`` bit is set (0 when none), as a signal ``name`` driven by an AND-OR
    multiplexer (comb statements into ``m``): no partial case statement."""
    if len(values) != len(hits) or not values:
        raise ValueError(f"one_hot_select needs one hit per value and at least one value, got {len(values)} values "
                         f"and {len(hits)} hits")
    width = len(values[0])
    out = Signal(width, name=name)
    terms = [v.as_unsigned() & h.replicate(width) for v, h in zip(values, hits)]
    acc = terms[0]
    for t in terms[1:]:
        acc = acc | t
    m.d.comb += out.eq(acc)
    return out
