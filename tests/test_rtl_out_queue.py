"""rtl/out_queue.py: beats issued into a pipeline of known latency leave in order, none lost under back-pressure, one
per cycle when the consumer keeps up."""

import random

import pytest
from amaranth.lib import data

from neurophase.rtl.out_queue import OutputQueue
from neurophase.tb.amaranth_sim import simulate

LAYOUT = data.StructLayout({"data": 8, "last": 1})


def _run(latency, depth, beats, stall):
    """Issue ``beats`` values through a ``latency``-cycle pipeline model into the queue while the consumer stalls
    with probability ``stall``; returns (values taken in order, cycles)."""
    dut = OutputQueue(layout=LAYOUT, depth=depth)
    rng = random.Random(latency * 10 + depth)
    out, state = [], dict(cycles=0)

    async def testbench(ctx):
        pipeline, sent = [None] * latency, 0
        while len(out) < beats:
            issue = ctx.get(dut.credit) and sent < beats
            ctx.set(dut.issue, issue)
            arriving = pipeline.pop(0) if latency else (sent if issue else None)
            pipeline.append(sent if issue and latency else None)
            ctx.set(dut.w_en, arriving is not None)
            ctx.set(dut.w_data, {"data": arriving or 0, "last": 0})
            ready = rng.random() >= stall
            ctx.set(dut.out.ready, ready)
            if ctx.get(dut.out.valid) and ready:
                out.append(ctx.get(dut.out.payload.data))
            sent += issue
            await ctx.tick()
            state["cycles"] += 1
        ctx.set(dut.issue, 0)
        ctx.set(dut.w_en, 0)
        assert not ctx.get(dut.draining) and not ctx.get(dut.out.valid)

    simulate(dut, testbench)
    return out, state["cycles"]


@pytest.mark.parametrize("latency, stall", [(0, 0.5), (3, 0.3), (3, 0.8)])
def test_every_beat_leaves_in_order_under_back_pressure(latency, stall):
    out, _ = _run(latency, latency + 2, 60, stall)
    assert out == list(range(60))


@pytest.mark.parametrize("latency", [0, 3])
def test_latency_plus_two_credits_pass_one_beat_per_cycle(latency):
    out, cycles = _run(latency, latency + 2, 40, 0.0)
    assert out == list(range(40))
    assert cycles == 40 + latency + 1      # issue, pipeline, then on `out` the cycle after the write


def test_fewer_credits_than_the_pipeline_needs_slow_the_producer():
    out, cycles = _run(3, 2, 40, 0.0)
    assert out == list(range(40)) and cycles > 60


@pytest.mark.parametrize("kw, msg", [
    (dict(layout=LAYOUT, depth=0), r"depth must be an integer in \[1, 64\], got 0"),
    (dict(layout=9, depth=4), r"layout must be an amaranth.lib.data layout, got 9"),
])
def test_output_queue_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        OutputQueue(**kw)
