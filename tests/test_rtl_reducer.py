"""rtl/reducer.py: output routing (pass-through of one tile), partial-sum reduction of a group in tile order,
saturating, through the reducer's BN unit (bit for bit model/arith.py), agreement of the group's beats and the
response FIFO credits."""

import numpy as np
import pytest

from neurophase.model.arith import PeripheryFormat, bn_requantise, reduce_partial_sums
from neurophase.rtl.reducer import Reducer
from neurophase.tb.amaranth_sim import simulate

FMT = PeripheryFormat(b_in=4, b_adc=6, acc_bits=8, scale_bits=8, bias_bits=12, shift_max=7, out_bits=12)
COLUMNS, DEPTH = 4, 8
SCALE, BIAS, SHIFT = np.array([3, -2, 5, 1]), np.array([-40, 100, 7, 0]), 2


def _reducer():
    return Reducer(tiles=3, columns=COLUMNS, fmt=FMT, max_group=2, fifo_depth=DEPTH)


async def _program_bn(ctx, dut, last=False):
    bn = dut.bn
    ctx.set(bn.shift, SHIFT)
    ctx.set(bn.relu, 1)
    ctx.set(bn.last, last)
    for c in range(COLUMNS):
        ctx.set(bn.param_we, 1)
        ctx.set(bn.param_channel, c)
        ctx.set(bn.param_scale, int(SCALE[c]))
        ctx.set(bn.param_bias, int(BIAS[c]))
        await ctx.tick()
    ctx.set(bn.param_we, 0)
    await ctx.tick()


def _run(route, data, cycles=40, fifo_level=0, channel_skew=None, last=False):
    """Tiles offer one MVM's beats (``data[k]``: tile k's accumulators, channel order) on route ``route``; returns
    per cycle (o_valid, o_data, delivered, beats, psum_adds, sat_bn, mismatch, readies)."""
    dut = _reducer()
    trace = []

    async def testbench(ctx):
        await _program_bn(ctx, dut, last)
        base, size = route
        ctx.set(dut.route_base, base)
        ctx.set(dut.route_size, size)
        ctx.set(dut.enable, 1)
        ctx.set(dut.fifo_level, fifo_level)
        sent = {k: 0 for k in data}
        for _ in range(cycles):
            for k, acc in data.items():
                j = sent[k]
                channel = j + (channel_skew or {}).get(k, 0)
                ctx.set(dut.tiles[k].valid, j < COLUMNS)
                ctx.set(dut.tiles[k].payload, {"data": int(acc[min(j, COLUMNS - 1)]), "channel": channel % COLUMNS,
                                               "last": j == COLUMNS - 1})
            readies = [ctx.get(dut.tiles[k].ready) for k in range(3)]
            ctx.set(dut.tile_done, sum(1 << k for k in data if readies[k] and sent[k] == COLUMNS - 1))
            trace.append(dict(valid=ctx.get(dut.o_valid), data=ctx.get(dut.o_data), readies=readies,
                              **{name: ctx.get(getattr(dut, name))
                                 for name in ("delivered", "beats", "psum_adds", "sat_bn", "mismatch")}))
            for k in data:
                sent[k] += readies[k] and sent[k] < COLUMNS
            await ctx.tick()

    simulate(dut, testbench)
    return trace


def _signed32(words):
    return [w - (1 << 32) if w >> 31 else w for w in words]


def test_one_routed_tile_passes_its_beats_through_and_its_done_delivers_the_mvm():
    trace = _run((1, 1), {1: [-5, 127, -128, 3], 0: [9, 9, 9, 9]})
    out = [row for row in trace if row["valid"]]
    assert _signed32([row["data"] for row in out]) == [-5, 127, -128, 3]
    assert [row["delivered"] for row in out] == [0, 0, 0, 1]
    assert all(row["readies"][0] == 0 for row in trace), "tiles outside the route are not read"
    assert sum(row["beats"] for row in trace) == 4 and sum(row["psum_adds"] for row in trace) == 0


@pytest.mark.parametrize("last", [False, True])
def test_a_group_adds_its_partial_sums_in_tile_order_and_applies_bn_bit_for_bit(last):
    a, b = np.array([100, -100, 5, 127]), np.array([100, -100, -9, 1])      # saturating sums on channels 0, 1, 3
    trace = _run((0, 2), {0: a, 1: b}, last=last)
    total, _ = reduce_partial_sums(np.stack([a, b]), FMT)
    want, sats = bn_requantise(total, SCALE, BIAS, SHIFT, FMT, relu=True, last=last)
    out = [row for row in trace if row["valid"]]
    assert _signed32([row["data"] for row in out]) == want.tolist()
    assert [row["delivered"] for row in out] == [0, 0, 0, 2]
    assert sum(row["sat_bn"] for row in trace) == sats
    assert sum(row["beats"] for row in trace) == 8 and sum(row["psum_adds"] for row in trace) == 4
    assert not any(row["mismatch"] for row in trace)


def test_group_beats_of_different_channels_raise_mismatch():
    trace = _run((0, 2), {0: [1, 2, 3, 4], 1: [1, 2, 3, 4]}, channel_skew={1: 1})
    assert sum(row["mismatch"] for row in trace) == 4


@pytest.mark.parametrize("fifo_level, takes", [(DEPTH - 1, 0), (DEPTH - 2, 1)])
def test_no_beat_is_taken_without_room_in_the_fifo_for_it_and_the_bn_pipeline(fifo_level, takes):
    trace = _run((0, 2), {0: [1, 2, 3, 4], 1: [1, 2, 3, 4]}, cycles=12, fifo_level=fifo_level)
    # With room for one word, one beat enters the BN pipeline; the next waits until it has left.
    first = [c for c, row in enumerate(trace) if row["readies"][0]]
    assert len(first) == (0 if takes == 0 else 3)
    if takes:
        assert np.diff(first).min() > 3, "one beat in flight at a time"


def test_reducer_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"max_group must be an integer in \[1, 2\], got 3"):
        Reducer(tiles=2, columns=4, fmt=FMT, max_group=3)
