"""Reset in every controller state (Amaranth's simulator): the tile controller reset in IDLE with activations
buffered and an MVM armed, in READ and in READOUT, and the command decoder reset in each of its states, come back
with every register at its reset value and run the next MVM or command correctly. (Every formal/ proof also takes
reset as a free input in every cycle.)"""

import pytest
from amaranth.hdl import Module, ResetInserter, Signal

from neurophase.model.interface import (CHIP_TARGET, TILE_MODE, TILE_STATUS, ChipReg, Op, TileCtrl, TileReg,
                                        header)
from neurophase.formal.probe import open_block
from neurophase.rtl.cmd_decoder import CommandDecoder, _S
from neurophase.rtl.tile_ctrl import TileController
from neurophase.tb.amaranth_sim import bus_read, bus_write, simulate

ROWS, COLUMNS, ADC_LATENCY = 4, 2, 3


class _Resettable:
    """``dut`` behind a ResetInserter driven by ``rst``; its internal registers by name (formal/probe.py)."""

    def __init__(self, dut):
        self.dut, self.rst = dut, Signal()
        self.inside = open_block(dut)
        self.top = Module()
        self.top.submodules.dut = ResetInserter(self.rst)(self.inside.module)

    async def pulse_reset(self, ctx):
        ctx.set(self.rst, 1)
        await ctx.tick()
        ctx.set(self.rst, 0)


async def _tile_cycle(ctx, dut, adc):
    """One cycle of the ADC model (done ADC_LATENCY cycles after start)."""
    if ctx.get(dut.adc_start):
        adc["in"] = ADC_LATENCY
    ctx.set(dut.adc_done, adc.get("in") == 0)
    adc["in"] = None if adc.get("in") in (None, 0) else adc["in"] - 1
    await ctx.tick()


async def _run_mvm(ctx, dut, adc):
    """Arm, stream one vector and read the raw beats out; returns their channels."""
    await bus_write(ctx, dut.bus, TileReg.MODE, TILE_MODE.encode(raw=1))
    await bus_write(ctx, dut.bus, TileReg.CTRL, TileCtrl.START)
    ctx.set(dut.act.valid, 1)
    ctx.set(dut.act.payload, [1, 2, 3, 4])
    ctx.set(dut.out.ready, 1)
    channels = []
    for _ in range(200):
        if ctx.get(dut.act.ready):
            ctx.set(dut.act.valid, 1)
        if ctx.get(dut.out.valid):
            channels.append(ctx.get(dut.out.payload.channel))
        done = ctx.get(dut.done)
        await _tile_cycle(ctx, dut, adc)
        ctx.set(dut.act.valid, 0)
        if done:
            return channels
    raise AssertionError("the MVM did not finish")


@pytest.mark.parametrize("state", ["IDLE", "READ", "READOUT"])
def test_tile_controller_reset_in_each_state_returns_to_its_reset_values_and_runs_the_next_mvm(state):
    dut = TileController(rows=ROWS, columns=COLUMNS, acts_per_beat=ROWS)
    r = _Resettable(dut)

    async def testbench(ctx):
        adc = {}
        await bus_write(ctx, dut.bus, TileReg.MODE, TILE_MODE.encode(raw=1))
        await bus_write(ctx, dut.bus, TileReg.COLS_USED, 1)
        await bus_write(ctx, dut.bus, TileReg.CTRL, TileCtrl.START)
        ctx.set(dut.act.valid, 1)
        ctx.set(dut.act.payload, [5, 6, 7, 8])
        if state != "IDLE":
            await ctx.tick()
            ctx.set(dut.act.valid, 0)
            want = {"READ": lambda: ctx.get(dut.pulse), "READOUT": lambda: ctx.get(dut.out.valid)}[state]
            for _ in range(100):
                if want():
                    break
                await _tile_cycle(ctx, dut, adc)
            assert want(), f"never reached {state}"
        await r.pulse_reset(ctx)
        ctx.set(dut.act.valid, 0)
        status = await bus_read(ctx, dut.bus, TileReg.STATUS)
        assert status == 0, f"STATUS after reset in {state}: {TILE_STATUS.decode(status)}"
        assert await bus_read(ctx, dut.bus, TileReg.COLS_USED) == COLUMNS
        assert await bus_read(ctx, dut.bus, TileReg.MODE) == 0
        assert await bus_read(ctx, dut.bus, TileReg.ERRORS) == 0
        assert not ctx.get(dut.out.valid) and not ctx.get(dut.wl)
        assert await _run_mvm(ctx, dut, {}) == list(range(COLUMNS))

    simulate(r.top, testbench)


def _decoder():
    return CommandDecoder(tiles=2, rows=8, max_group=2, b_in=8, acts_per_beat=8)


# Words that leave the decoder in each state (an MVM outstanding, never delivered, holds READ, ROUTE and WRITE).
_TO_STATE = {
    "HEADER": [],
    "WDATA": [header(Op.WRITE, 0, TileReg.ROWS_USED)],
    "ACT": [header(Op.ACT, 0, 8), 1],
    "SKIP": [header(Op.ACT, 0, 40), 1, 2],
    "READ": [header(Op.ACT, 0, 4), 1, header(Op.READ, CHIP_TARGET, ChipReg.ID)],
    "ROUTE": [header(Op.ACT, 0, 4), 1, header(Op.ROUTE, 1, 1)],
    "WRITE": [header(Op.ACT, 0, 4), 1, header(Op.WRITE, CHIP_TARGET, ChipReg.CTRL), 0],
}


@pytest.mark.parametrize("state", sorted(_TO_STATE))
def test_command_decoder_reset_in_each_state_takes_the_next_word_as_a_header(state):
    dut = _decoder()
    r = _Resettable(dut)

    async def testbench(ctx):
        ctx.set(dut.act.ready, 1)          # beats taken: the ACT before a READ, ROUTE or WRITE stays outstanding
        for word in _TO_STATE[state]:
            ctx.set(dut.cmd.valid, 1)
            ctx.set(dut.cmd.payload, word)
            for _ in range(10):
                taken = ctx.get(dut.cmd.ready)
                await ctx.tick()
                if taken:
                    break
        ctx.set(dut.cmd.valid, 0)
        ctx.set(dut.act.ready, 0)
        await ctx.tick()
        assert ctx.get(r.inside["state"]) == _S[state]
        await r.pulse_reset(ctx)
        assert (ctx.get(dut.route_base), ctx.get(dut.route_size), ctx.get(dut.outstanding)) == (0, 1, 0)
        assert not ctx.get(dut.act.valid)
        ctx.set(dut.cmd.valid, 1)
        ctx.set(dut.cmd.payload, header(Op.READ, CHIP_TARGET, ChipReg.ID))
        strobes = []
        for _ in range(4):
            strobes.append(ctx.get(dut.chip_re))
            await ctx.tick()
            ctx.set(dut.cmd.valid, 0)
        assert strobes.count(1) == 1, f"after reset in {state}: chip_re {strobes}"

    simulate(r.top, testbench)
