"""rtl/act_buffer.py: the activation buffer fills from beats, drops rows past ROWS_USED, holds its vector and
empties on consume."""

import pytest

from neurophase.rtl.act_buffer import ActivationBuffer
from neurophase.tb.amaranth_sim import simulate, stream_put

ROWS, APB = 10, 4


async def _consume(ctx, dut):
    ctx.set(dut.consume, 1)
    await ctx.tick()
    ctx.set(dut.consume, 0)


def _x(ctx, dut):
    return [ctx.get(dut.x[i]) for i in range(ROWS)]


def test_buffer_fills_to_rows_used_and_drops_the_last_beats_spare_lanes():
    dut = ActivationBuffer(rows=ROWS, b_in=4, acts_per_beat=APB)

    async def testbench(ctx):
        ctx.set(dut.rows_used, 6)
        assert ctx.get(dut.in_use) == 0b0000111111
        for k in range(2):
            assert not ctx.get(dut.full)
            await stream_put(ctx, dut.act, [k * APB + lane + 1 for lane in range(APB)])
        assert ctx.get(dut.full) and ctx.get(dut.fill) == 8
        assert _x(ctx, dut) == [1, 2, 3, 4, 5, 6, 0, 0, 0, 0], "lanes past ROWS_USED are dropped"
        ctx.set(dut.act.valid, 1)
        assert not ctx.get(dut.act.ready), "a full buffer takes no beat"

    simulate(dut, testbench)


def test_consume_empties_the_buffer_and_hold_keeps_the_vector_stable():
    dut = ActivationBuffer(rows=ROWS, b_in=4, acts_per_beat=APB)

    async def testbench(ctx):
        ctx.set(dut.rows_used, 4)
        await stream_put(ctx, dut.act, [9, 8, 7, 6])
        ctx.set(dut.hold, 1)
        await _consume(ctx, dut)
        assert ctx.get(dut.fill) == 0 and not ctx.get(dut.full)
        ctx.set(dut.act.valid, 1)
        for _ in range(3):
            assert not ctx.get(dut.act.ready), "hold takes no beat"
            await ctx.tick()
        assert _x(ctx, dut)[:4] == [9, 8, 7, 6], "the vector stays while held"
        ctx.set(dut.hold, 0)
        await stream_put(ctx, dut.act, [1, 2, 3, 4])
        assert _x(ctx, dut)[:4] == [1, 2, 3, 4] and ctx.get(dut.full)

    simulate(dut, testbench)


def test_rows_past_a_shrunk_rows_used_keep_their_values_and_leave_in_use():
    dut = ActivationBuffer(rows=ROWS, b_in=4, acts_per_beat=APB)

    async def testbench(ctx):
        ctx.set(dut.rows_used, 8)
        await stream_put(ctx, dut.act, [1, 1, 1, 1])
        await stream_put(ctx, dut.act, [2, 2, 2, 2])
        await _consume(ctx, dut)
        ctx.set(dut.rows_used, 3)
        await stream_put(ctx, dut.act, [5, 5, 5, 5])
        assert _x(ctx, dut)[:8] == [5, 5, 5, 1, 2, 2, 2, 2]
        assert ctx.get(dut.in_use) == 0b111

    simulate(dut, testbench)


@pytest.mark.parametrize("kw, msg", [
    (dict(rows=0), r"rows must be an integer in \[1, 4096\], got 0"),
    (dict(rows=8, acts_per_beat=9), r"acts_per_beat must be an integer in \[1, 8\], got 9"),
    (dict(b_in=17), r"b_in must be an integer in \[1, 16\], got 17"),
])
def test_activation_buffer_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        ActivationBuffer(**kw)
