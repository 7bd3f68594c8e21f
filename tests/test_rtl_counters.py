"""rtl/counters.py: saturating event counters, increments added in their cycle or (registered) one cycle later."""

import pytest

from neurophase.rtl.counters import EventCounters
from neurophase.tb.amaranth_sim import simulate

MAX = (1 << 32) - 1


async def _cycle(ctx, dut, clear=0, **inc):
    for name in ("events", "big"):
        ctx.set(dut.inc[name], inc.get(name, 0))
    ctx.set(dut.clear, clear)
    await ctx.tick()


def _counts(ctx, dut):
    return ctx.get(dut.count.events), ctx.get(dut.count.big)


@pytest.mark.parametrize("registered", [False, True])
def test_counters_add_their_increments_saturate_and_clear(registered):
    dut = EventCounters({"events": 3, "big": 32}, registered=registered)
    lag = int(registered)

    async def testbench(ctx):
        assert dut.latency == 1 + lag
        for inc in (1, 7, 0, 5):
            await _cycle(ctx, dut, events=inc)
        await _cycle(ctx, dut)
        await _cycle(ctx, dut)
        assert _counts(ctx, dut) == (13, 0)
        await _cycle(ctx, dut, big=MAX - 2)
        await _cycle(ctx, dut, big=5)
        for _ in range(lag + 1):
            await _cycle(ctx, dut)
        assert _counts(ctx, dut) == (13, MAX), "a count that would pass 2^32 - 1 stays there"
        await _cycle(ctx, dut, big=1)
        await _cycle(ctx, dut)
        assert ctx.get(dut.count.big) == MAX
        await _cycle(ctx, dut, clear=1, events=3)       # the clearing cycle's increments are dropped
        await _cycle(ctx, dut, events=2)
        for _ in range(lag + 1):
            await _cycle(ctx, dut)
        assert _counts(ctx, dut) == (2, 0)

    simulate(dut, testbench)


def test_registered_counters_count_an_event_one_cycle_later():
    plain, registered = EventCounters({"events": 1, "big": 1}), EventCounters({"events": 1, "big": 1}, registered=True)

    def run(dut):
        seen = []

        async def testbench(ctx):
            await _cycle(ctx, dut, events=1)
            for _ in range(3):
                seen.append(ctx.get(dut.count.events))
                await _cycle(ctx, dut)

        simulate(dut, testbench)
        return seen

    assert run(plain) == [1, 1, 1]
    assert run(registered) == [0, 1, 1]


def test_a_clear_also_drops_the_registered_increment():
    dut = EventCounters({"events": 1, "big": 1}, registered=True)

    async def testbench(ctx):
        await _cycle(ctx, dut, events=1)          # registered, would be counted in the next cycle
        await _cycle(ctx, dut, clear=1)
        await _cycle(ctx, dut)
        await _cycle(ctx, dut)
        assert ctx.get(dut.count.events) == 0

    simulate(dut, testbench)


@pytest.mark.parametrize("increments, msg", [
    ({}, r"increments must map one or more counter names to widths, got \{\}"),
    ({"a b": 1}, r"increments must map one or more counter names to widths, got \{'a b': 1\}"),
    ({"events": 33}, r"width of events must be an integer in \[1, 32\], got 33"),
])
def test_event_counters_reject_bad_parameters(increments, msg):
    with pytest.raises(ValueError, match=msg):
        EventCounters(increments)
