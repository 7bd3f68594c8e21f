# Ref: model/interface.py (the one definition of every register and command word's fields).
"""Amaranth views of the interface's word layouts, so the RTL decodes and builds words from the same fields as the
golden model and the host: ``view(BN_CTRL, wdata).shift`` is bits [5:0] because model/interface.py says so."""

from amaranth.hdl import unsigned
from amaranth.lib import data

__all__ = ["flexible_layout", "view"]


def flexible_layout(layout):
    """The ``data.FlexibleLayout`` of a :class:`neurophase.model.interface.WordLayout`: every field unsigned, at its
    offset; reserved bits belong to no field."""
    return data.FlexibleLayout(layout.width, {name: data.Field(unsigned(bits), offset)
                                              for name, (offset, bits) in layout.fields.items()})


def view(layout, value):
    """``value`` (a signal or expression at least ``layout.width`` bits wide) seen through ``layout``'s fields."""
    return data.View(flexible_layout(layout), value[:layout.width])
