"""rtl/mux.py: the multiplexer tree and the one-hot AND-OR select."""

import pytest
from amaranth.hdl import Fragment, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurophase.rtl.mux import mux_tree, one_hot_select
from neurophase.tb.amaranth_sim import simulate


class _Muxes(wiring.Component):
    """Five 8-bit items: ``tree`` is items[sel], ``one_hot`` the item whose ``hits`` bit is set."""

    def __init__(self):
        super().__init__({"items": In(8).array(5), "sel": In(3), "hits": In(5), "tree": Out(8), "one_hot": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.tree.eq(mux_tree(list(self.items), self.sel)),
                     self.one_hot.eq(one_hot_select(m, "picked", list(self.items), list(self.hits)))]
        return m


def test_mux_tree_and_one_hot_select_pick_the_addressed_item():
    dut = _Muxes()
    values = [0x11, 0x22, 0x33, 0x44, 0x55]

    async def testbench(ctx):
        for k, v in enumerate(values):
            ctx.set(dut.items[k], v)
        for k, v in enumerate(values):
            ctx.set(dut.sel, k)
            ctx.set(dut.hits, 1 << k)
            assert (ctx.get(dut.tree), ctx.get(dut.one_hot)) == (v, v)
        ctx.set(dut.hits, 0)
        assert ctx.get(dut.one_hot) == 0, "no hit selects 0"

    simulate(dut, testbench)


def test_one_hot_select_needs_one_hit_per_value():
    m = Module()
    with pytest.raises(ValueError, match=r"one_hot_select needs one hit per value and at least one value, "
                                         r"got 2 values and 1 hits"):
        one_hot_select(m, "x", [Signal(4), Signal(4)], [Signal()])
    Fragment.get(m, None)       # the module was built, so elaborate it (no unused-elaboratable warning)
