"""rtl/adder_tree.py: the balanced popcount and the narrow-increment add, exact at any width."""

import random

import pytest
from amaranth.hdl import Fragment, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurophase.rtl.adder_tree import add_narrow, popcount
from neurophase.tb.amaranth_sim import simulate


class _Popcount(wiring.Component):
    def __init__(self, width):
        self._width = width
        super().__init__({"bits": In(width), "count": Out(width.bit_length())})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.count.eq(popcount(m, self.bits, "ones"))
        return m


class _AddNarrow(wiring.Component):
    def __init__(self, wide, narrow):
        super().__init__({"value": In(wide), "inc": In(narrow), "total": Out(wide + 1)})

    def elaborate(self, platform):
        m = Module()
        value = Signal.like(self.value, name="value_q")
        m.d.comb += [value.eq(self.value), self.total.eq(add_narrow(m, value, self.inc))]
        return m


@pytest.mark.parametrize("width", [1, 2, 3, 5, 13, 144])
def test_popcount_counts_the_set_bits_of_any_width(width):
    dut = _Popcount(width)
    rng = random.Random(width)
    words = [0, (1 << width) - 1] + [rng.getrandbits(width) for _ in range(30)]

    async def testbench(ctx):
        for w in words:
            ctx.set(dut.bits, w)
            assert ctx.get(dut.count) == bin(w).count("1"), hex(w)

    simulate(dut, testbench)


@pytest.mark.parametrize("wide, narrow", [(8, 1), (8, 3), (32, 8), (32, 32)])
def test_add_narrow_returns_the_exact_sum_with_its_carry(wide, narrow):
    dut = _AddNarrow(wide, narrow)
    rng = random.Random(wide * 100 + narrow)
    cases = [((1 << wide) - 1, (1 << narrow) - 1), (0, 0)] + \
        [(rng.getrandbits(wide), rng.getrandbits(narrow)) for _ in range(30)]

    async def testbench(ctx):
        for v, i in cases:
            ctx.set(dut.value, v)
            ctx.set(dut.inc, i)
            assert ctx.get(dut.total) == v + i

    simulate(dut, testbench)


def test_add_narrow_rejects_an_increment_wider_than_the_value():
    m = Module()
    with pytest.raises(ValueError, match=r"inc must be at most 4 bits wide \(the width of v\), got 5"):
        add_narrow(m, Signal(4, name="v"), Signal(5))
    Fragment.get(m, None)       # the module was built, so elaborate it (no unused-elaboratable warning)


def test_popcount_rejects_an_empty_value():
    m = Module()
    with pytest.raises(ValueError, match=r"popcount needs at least one bit, got 0"):
        popcount(m, Signal(0), "none")
    Fragment.get(m, None)
