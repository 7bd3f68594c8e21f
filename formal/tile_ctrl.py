# Ref: docs/architecture.md §5 (tile controller: registers, START, sequencing, output stream, back-pressure).
"""Formal properties of rtl/tile_ctrl.py at reduced sizes: a configuration write while the tile is busy is rejected
and flagged (by induction); every START ends in ``done`` or an error flag within a bound, the output beats of
every MVM leave once each in channel order, and the ADC is never started while converting (bounded model check)."""

from amaranth.hdl import Assume, Cat, Elaboratable, Module, Signal

from neurophase.formal.probe import free, open_block
from neurophase.formal.sby import Mutant, Proof, Properties
from neurophase.model.arith import PeripheryFormat
from neurophase.model.interface import TILE_CONFIG, TILE_STATUS, TileCtrl, TileErr, TileReg
from neurophase.rtl.layouts import view
from neurophase.rtl.tile_ctrl import TileController, _State

__all__ = ["FormalTileController", "PROOFS", "MUTANTS", "START_BOUND"]

ROWS, COLUMNS, ACTS_PER_BEAT, BN_LATENCY, ADC_LATENCY = 4, 3, 2, 1, 2
FMT = PeripheryFormat(b_in=2, b_adc=2, acc_bits=4, scale_bits=3, bias_bits=5, shift_max=3, out_bits=3)
# Cycles from a START to its MVM's done at these sizes: buffer fill (2 beats), 2 reads of ADC_LATENCY + 1 cycles,
# the readout of 3 channels through the BN model and the queue with the consumer stalling every other cycle, and
# the tail of an MVM already draining when the START came.
START_BOUND = 24


class FormalTileController(Elaboratable):
    """TileController(rows=4, columns=3, 2-bit activations) with free register accesses, activations, ADC codes and
    reset; an ADC model whose ``done`` comes ADC_LATENCY cycles after ``start``; a BN model of BN_LATENCY cycles
    that passes the channel through. ``sequencing`` adds the environment the START bound needs: activations always
    offered, and the consumer never stalling two cycles running."""

    def __init__(self, mutant=None, sequencing=False):
        self.mutant, self.sequencing = mutant, sequencing

    def elaborate(self, platform):
        m = Module()
        self.props = props = Properties(m)
        dut = TileController(rows=ROWS, columns=COLUMNS, fmt=FMT, acts_per_beat=ACTS_PER_BEAT,
                             bn_latency=BN_LATENCY, range_bits=2, adc_range_init=1)
        blk = open_block(dut, platform)
        if self.mutant:
            MUTANTS[self.mutant].apply(blk, dut)
        m.submodules.dut = blk.module
        free(m, dut.bus.addr, dut.bus.wdata, dut.bus.we, dut.bus.re, dut.act.valid, dut.act.payload, dut.out.ready,
             dut.adc_rail_low, dut.adc_rail_high, dut.sa_saturated, dut.acc, dut.bn.o_y, dut.bn.o_saturated)
        self._adc(m, props if self.sequencing else None, dut)
        self._bn(m, dut)
        regs = blk.submodules["regs"]
        if self.sequencing:
            self._sequencing(m, props, dut, regs)
        else:
            self._registers(m, props, dut, regs)
        return m

    @staticmethod
    def _adc(m, props, dut):
        """The ADC array: ``done`` ADC_LATENCY cycles after ``start``; it never sees a start while converting."""
        pipe = Signal(ADC_LATENCY, name="adc_pipe")
        m.d.sync += pipe.eq(Cat(dut.adc_start, pipe[:-1]))
        m.d.comb += [dut.adc_done.eq(pipe[-1]), dut.adc_start_err.eq(0)]
        if props is None:
            return
        # The controller never starts the ADCs while they convert.
        props.check("adc_sequencing", ~dut.adc_start | ~pipe[:-1].any())

    @staticmethod
    def _bn(m, dut):
        """The BN unit: each input's channel comes out BN_LATENCY cycles later (its value is free)."""
        valid, channel = dut.bn.i_valid, dut.bn.i_channel
        for k in range(BN_LATENCY):
            v, c = Signal(name=f"bn_valid{k}"), Signal.like(channel, name=f"bn_channel{k}")
            m.d.sync += [v.eq(valid), c.eq(channel)]
            valid, channel = v, c
        m.d.comb += [dut.bn.o_valid.eq(valid), dut.bn.o_channel.eq(channel)]

    @staticmethod
    def _registers(m, props, dut, regs):
        bus = dut.bus
        status = view(TILE_STATUS, regs.read.status)
        busy = status.busy | status.draining | status.buffered.any()
        config = Cat(bus.addr == r for r in TILE_CONFIG).any()
        locked = Signal(name="locked_write")
        m.d.comb += locked.eq(bus.we & config & busy)
        values = Cat(regs.read[r.name.lower()] for r in sorted(TILE_CONFIG))
        values_q, locked_q = Signal.like(values, name="config_q"), Signal(name="locked_q")
        m.d.sync += [values_q.eq(values), locked_q.eq(locked)]
        with m.If(locked):
            # A configuration write while the tile is busy (an MVM armed or running, outputs draining or activations
            # buffered) strobes no register ...
            props.check("write_while_busy", ~Cat(regs.write[r.name.lower()] for r in TILE_CONFIG).any())
        with m.If(locked_q):
            # ... leaves every configuration register as it was, and sets WRITE_WHILE_BUSY.
            props.check("write_while_busy", (values == values_q) &
                        regs.errors[TileErr.WRITE_WHILE_BUSY.bit_length() - 1])

    def _sequencing(self, m, props, dut, regs):
        m.d.comb += Assume(dut.act.valid)
        ready_q = Signal(init=1, name="ready_q")
        m.d.sync += ready_q.eq(dut.out.ready)
        m.d.comb += Assume(ready_q | dut.out.ready)
        bus = dut.bus
        started = bus.we & (bus.addr == TileReg.CTRL) & bus.wdata[TileCtrl.START.bit_length() - 1]
        status = view(TILE_STATUS, regs.read.status)
        for name, begins, ends in (("start_ends", started, dut.done | dut.error),
                                   ("armed_ends", status.armed, dut.done)):
            waiting = Signal(range(START_BOUND + 1), name=f"{name}_wait")   # cycles since it began, + 1
            with m.If(ends):
                m.d.sync += waiting.eq(0)
            with m.Elif(begins | (waiting != 0)):
                m.d.sync += waiting.eq(waiting + 1)
            # Every START ends in done (an MVM's last beat accepted) or an error flag within START_BOUND cycles; an
            # accepted START (the tile armed) ends in done.
            props.check(name, waiting < START_BOUND)
        self._output_order(m, props, dut, regs)

    @staticmethod
    def _output_order(m, props, dut, regs):
        beat = dut.out.payload
        accepted = dut.out.valid & dut.out.ready
        expect = Signal.like(beat.channel, name="next_channel")
        last_ch = (regs.read.cols_used - 1)[:len(beat.channel)]
        with m.If(accepted):
            m.d.sync += expect.eq(expect + 1)
            with m.If(beat.last):
                m.d.sync += expect.eq(0)
            # Every MVM's beats leave once each, in channel order, ``last`` on the last used channel: the output
            # queue drops, duplicates and reorders nothing.
            props.check("output_order", (beat.channel == expect) & (beat.last == (expect == last_ch)))
        # ``done`` pulses exactly when an MVM's last beat is accepted.
        props.check("done", dut.done == (accepted & beat.last))


def _unlocked(blk, dut):
    """The register file is never told the tile is busy: configuration writes land under a running MVM."""
    blk.module.d.comb += blk.submodules["regs"].busy.eq(0)


def _early_idle(blk, dut):
    """The readout stops one channel early: the last used channel is never issued."""
    with blk.module.If((blk["state"] == _State.READOUT) & (dut.bn.i_channel == 1) & blk.submodules["queue"].credit):
        blk.module.d.sync += blk["state"].eq(_State.IDLE)


def _done_on_every_beat(blk, dut):
    """``done`` pulses for every accepted beat, not only the last."""
    blk.module.d.comb += dut.done.eq(dut.out.valid & dut.out.ready)


PROOFS = [
    Proof("tile_ctrl_registers", FormalTileController, {
        "write_while_busy": "a configuration write while the tile is busy (an MVM armed or running, outputs draining "
                            "or activations buffered) strobes nothing, changes no configuration register and sets "
                            "WRITE_WHILE_BUSY"},
        mode="prove", depth=4, why="the register rules are local to the cycle of the write: induction closes"),
    Proof("tile_ctrl_sequencing", lambda mutant=None: FormalTileController(mutant, sequencing=True), {
        "start_ends": f"every START ends in done or an error flag within {START_BOUND} cycles (activations offered, "
                      "the consumer never stalling two cycles running)",
        "armed_ends": f"an accepted START (the tile armed) ends in done within {START_BOUND} cycles",
        "output_order": "every MVM's beats leave once each, in channel order, last on the last used channel: the "
                        "output queue drops, duplicates and reorders nothing",
        "done": "done pulses exactly when an MVM's last beat is accepted",
        "adc_sequencing": "the controller never starts the ADCs while they convert"},
        mode="bmc", depth=START_BOUND + 8, why="a bounded-response property: induction would need the controller's "
                                               "progress as an invariant; the depth holds a whole START window and "
                                               "back-to-back MVMs")]

MUTANTS = {m.name: m for m in [
    Mutant("unlocked", "tile_ctrl_registers", _unlocked.__doc__, ("write_while_busy",), _unlocked, depth=6),
    Mutant("early_idle", "tile_ctrl_sequencing", _early_idle.__doc__, ("output_order", "start_ends", "armed_ends"),
           _early_idle,
           depth=20),
    Mutant("done_every_beat", "tile_ctrl_sequencing", _done_on_every_beat.__doc__, ("done",), _done_on_every_beat,
           depth=16)]}
