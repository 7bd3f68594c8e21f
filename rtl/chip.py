# Ref: docs/architecture.md §4 step 4 (partial sums before BN), §5 (chip top, command interface), D7.
from amaranth.hdl import Cat, ClockDomain, ClockSignal, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out, flipped

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int
from neurophase.model.interface import (CHIP_CONFIG, CHIP_ID, CHIP_MAX_GROUP, CHIP_STATUS, CHIP_TARGET,
                                       CHIP_WRITABLE, CHIP_WRITE_ONLY, RED_BN_REGS, RESP_FIFO_LATENCY, WORD_BITS,
                                       ChipCtrl, ChipErr, ChipReg, acts_per_word)
from neurophase.rtl.adder_tree import popcount
from neurophase.rtl.bn_regs import BnRegisterBank
from neurophase.rtl.clock_gate import ClockGate
from neurophase.rtl.cmd_decoder import CommandDecoder
from neurophase.rtl.counters import EventCounters
from neurophase.rtl.layouts import view
from neurophase.rtl.mux import one_hot_select
from neurophase.rtl.params import validating
from neurophase.rtl.reducer import Reducer
from neurophase.rtl.regfile import RegisterFile, flag, unknown_flags
from neurophase.rtl.tile import Tile
from neurophase.rtl.tile_ctrl import ALL_ENCODINGS, SETTLE_CYCLES, check_encodings

__all__ = ["ChipTop"]

# The event counters, in register order.
_COUNTERS = (ChipReg.CYCLES, ChipReg.ACTS, ChipReg.PLANES, ChipReg.TILE_BEATS, ChipReg.OUT_WORDS, ChipReg.PSUM_ADDS,
             ChipReg.CMD_WORDS, ChipReg.SAT_BN)
# The response FIFO: deep enough for the reducer's BN pipeline and a register read (fifo.SyncFIFOBuffered).
_RESP_DEPTH = 8


class ChipTop(wiring.Component):
    """The chip's digital top: N tiles, a command decoder, activation delivery, output routing with partial-sum
    reduction and a BN unit for reduced outputs.

    Built from :class:`~neurophase.rtl.cmd_decoder.CommandDecoder` (framing, register strobes, ACT beats, ROUTE),
    :class:`~neurophase.rtl.reducer.Reducer` (routing, partial sums, its BN unit, credits), the chip's
    :class:`~neurophase.rtl.regfile.RegisterFile` with the reducer's
    :class:`~neurophase.rtl.bn_regs.BnRegisterBank` (the tile's BN register logic) and
    :class:`~neurophase.rtl.counters.EventCounters`; the tiles are instances of the exported tile module.

    Behaviour
    ---------
    The host drives 32-bit command words into ``cmd`` and receives 32-bit words on ``resp``. A header word holds
    ``op`` [31:28], ``tile`` [27:20] (``0xFF`` = the chip's own registers) and ``arg`` [19:0]
    (:class:`neurophase.model.interface.Op` and :func:`~neurophase.model.interface.header`):

    ========  ================================================================================================
    NOP       nothing
    WRITE     ``arg[4:0]`` register address; the next word is the data (tile registers: rtl/tile_ctrl.py)
    READ      ``arg[4:0]`` register address; waits until no MVM is outstanding, then one response word
    ACT       ``arg[12:0]`` = K activations (1..rows) for one MVM of ``tile``, then ceil(K / 4) words of four
              8-bit activations, activation 0 in bits [7:0]; assembled into the tile's input beats
    ROUTE     waits until no MVM is outstanding, then routes the outputs of tiles ``tile`` .. ``tile + arg - 1``
              (``arg`` = 1..max_group) to ``resp``: one tile passes its output beats through; a group of
              several tiles (a row-split layer, its tiles in RAW mode) has each channel's accumulators added in
              tile order, saturating (model/arith.py reduce_partial_sums), then the chip's BN unit
              (registers RED_BN_*) computes the output (model/arith.py bn_requantise)
    ========  ================================================================================================

    Output words carry one channel each, sign-extended, in channel order, MVM by MVM in ACT order. Chip registers
    (:class:`~neurophase.model.interface.ChipReg`): ID, CONFIG (tiles, max_group, activations per word), ERRORS (W1C),
    STATUS (outstanding MVMs, route), RED_BN_CTRL / RED_BN_CHANNEL / RED_BN_SCALE / RED_BN_BIAS (the reducer's BN
    registers, written and read back like a tile's: RED_BN_BIAS reads the last bias written), event counters (CYCLES,
    ACTS, PLANES, TILE_BEATS, OUT_WORDS, PSUM_ADDS, CMD_WORDS, SAT_BN; saturating, one cycle behind their events) and
    CTRL (bit 0 clears the counters, bit 1 the errors). CYCLES counts the cycles with work in the chip: a command word
    taken or in progress, an MVM outstanding or a response word not yet taken; for a block of commands streamed one word
    per cycle whose responses are taken at once, that is every cycle from its first command word to its last response
    word, whatever the host does before and after (model/cycles.py CycleModel.segment_cycles predicts it). A READ
    returns the count up to the cycle before its header; a clear zeroes it from the cycle after the clearing write.
    WRITE, READ and ROUTE of chip registers wait until no MVM is outstanding (tile registers guard themselves:
    WRITE_WHILE_BUSY).

    Each tile's clock runs only while the tile has work (its ``active`` output, and ``SETTLE_CYCLES`` edges after:
    :class:`~neurophase.rtl.clock_gate.ClockGate`), as a chip saves the clock power of idle tiles; the gated tile
    sees every edge at which its state can change, so the chip behaves, cycle for cycle, as with ungated clocks. A
    tile's reset is the chip's registered on the tile's clock: tiles leave reset one cycle after the chip.

    Errors are flagged in ERRORS (:class:`~neurophase.model.interface.ChipErr`) and on ``error``, never silently
    dropped: an unknown opcode (the word is skipped), a tile number past the chip's tiles (a WRITE's data word and
    an ACT's words are skipped), an ACT count or ROUTE size out of range (skipped likewise), an ACT to a tile
    outside the current route (skipped: its outputs could never leave), an illegal chip register access or value,
    group tiles whose beats disagree in channel or last flag, and any tile's own error flag.

    Latency: a WRITE takes 3 cycles (header, data word, the write); a ROUTE 2; an ACT of K activations
    1 + ceil(K / 4) + ceil(K / acts_per_beat) cycles when the tile accepts (header, data words, one cycle per beat
    handed over; a tile takes no input while it converts, and the decoder waits with the beat); a routed output
    beat is written into the response FIFO in the cycle the chip takes it from the tile (passed through) or
    ``bn_latency`` cycles later (reduced), and is on ``resp`` 2 cycles after the write.
    Throughput: one command word per cycle; one output word per cycle.

    Parameters
    ----------
    tiles : number of tiles (1..254; 144 on the chip).
    rows, columns, columns_per_adc, fmt, acts_per_beat, encodings : every tile's geometry and input encodings
        (:class:`~neurophase.rtl.tile.Tile`; by default bit-serial and PWM, selected per tile by its MODE register).
    max_group : largest reduction group (tiles whose accumulators are added), 1..tiles (default:
        model/interface.py ``CHIP_MAX_GROUP``, 18, ResNet-50's largest fan-in over 256-row tiles, or ``tiles``).
    tile_module : Verilog module name of the tile, exported once (:meth:`verilog_dependencies`) and instantiated
        ``tiles`` times, so the chip's Verilog grows by one instance per tile, not one copy of the tile.
    gate_tile_clocks : gate each tile's clock (default), or clock every tile on every cycle.
    frontend : ``None`` for the chip itself (each tile's analog side is a port group ``analog[k]``), or, in
        simulation, ``frontend(m, k, analog, clock)`` attaching a stand-in of tile k's crossbar to its analog signals
        (``clock``: the tile's clock, gated as the tile's).

    Members
    -------
    cmd : In(stream.Signature(32))
        Command words.
    resp : Out(stream.Signature(32))
        Response words (register reads and routed outputs).
    error : Out(1)
        A chip error flag is set.
    analog : Out(analog signature).array(tiles)
        Only without ``frontend``: each tile's ``wl``, ``pulse``, ``adc_range``, ``dac_code`` (out) and
        ``comparator`` (in), as on :class:`~neurophase.rtl.tile.Tile`.
    """

    def __init__(self, *, tiles, rows=256, columns=128, columns_per_adc=1, fmt=PeripheryFormat(), acts_per_beat=16,
                 max_group=None, tile_module="np_chip_tile", frontend=None, encodings=ALL_ENCODINGS,
                 gate_tile_clocks=True):
        with validating(self):
            self.n_tiles = check_int("tiles", tiles, 1, CHIP_TARGET - 1)
            self.max_group = check_int("max_group", min(CHIP_MAX_GROUP, tiles) if max_group is None else max_group,
                                       1, tiles)
            self.apw = acts_per_word(fmt.b_in)
            self.encodings = check_encodings(encodings)
            # The tile's ports, without a tile: the chip instantiates the tile's exported module by name.
            self.tile_signature = Tile.signature_for(rows=rows, columns=columns, columns_per_adc=columns_per_adc,
                                                     fmt=fmt, acts_per_beat=acts_per_beat)
            self._config = CHIP_CONFIG.encode(tiles=tiles, max_group=self.max_group, acts_per_word=self.apw)
            self.decoder = CommandDecoder(tiles=tiles, rows=rows, max_group=self.max_group, b_in=fmt.b_in,
                                          acts_per_beat=acts_per_beat)
            self.reducer = Reducer(tiles=tiles, columns=columns, fmt=fmt, max_group=self.max_group,
                                   fifo_depth=_RESP_DEPTH)
            self.red_bn_regs = BnRegisterBank(channels=columns, fmt=fmt)
        self.rows, self.columns, self.columns_per_adc, self.fmt = rows, columns, columns_per_adc, fmt
        self.n_adc, self.acts_per_beat = columns // columns_per_adc, acts_per_beat
        self.tile_module, self.frontend = tile_module, frontend
        self.gate_tile_clocks = bool(gate_tile_clocks)
        self.analog_signature = wiring.Signature({
            name: self.tile_signature.members[name]
            for name in ("wl", "pulse", "adc_range", "dac_code", "comparator", "col_sel")
            if name in self.tile_signature.members})
        members = {"cmd": In(stream.Signature(WORD_BITS)), "resp": Out(stream.Signature(WORD_BITS)),
                   "error": Out(1)}
        if frontend is None:
            members["analog"] = Out(self.analog_signature).array(tiles)
        super().__init__(members)

    def verilog_dependencies(self):
        """Modules the chip instantiates by name, to be exported beside it: {module name: component}."""
        return {self.tile_module: Tile(rows=self.rows, columns=self.columns, columns_per_adc=self.columns_per_adc,
                                       fmt=self.fmt, acts_per_beat=self.acts_per_beat, encodings=self.encodings)}

    def _tiles(self, m):
        """Instantiate the tiles and attach their analog sides; returns their port interfaces (signals named
        ``tile<k>__<port>``)."""
        tiles = []
        sig = self.analog_signature
        for k in range(self.n_tiles):
            t = self.tile_signature.flip().create(path=(f"tile{k}",))
            clock, reset = self._tile_clock(m, k, t)
            ports = {"i_clk": clock, "i_rst": reset}
            for path, member, value in self.tile_signature.flip().flatten(t):
                # flipped: the tile's outputs are In here
                ports[("o_" if member.flow == In else "i_") + "__".join(str(p) for p in path)] = value
            m.submodules[f"tile{k}"] = Instance(self.tile_module, **ports)
            if self.frontend is not None:
                self.frontend(m, k, t, clock)
            else:
                for (_, member, port), (_, _, pin) in zip(sig.flatten(self.analog[k]), sig.flatten(t)):
                    m.d.comb += port.eq(pin) if member.flow == Out else pin.eq(port)
            tiles.append(t)
        return tiles

    def _tile_clock(self, m, k, t):
        """Tile k's clock (gated on its ``active`` output, or the chip's clock) and its reset: the chip's, registered
        on the tile's clock, as a reset synchroniser per clock domain does. So the tile's logic depends only on its
        own clock's registers (an idle tile costs a simulator nothing), and it leaves reset one cycle after the chip."""
        clock = ClockSignal()
        if self.gate_tile_clocks:
            m.submodules[f"tile{k}_clock_gate"] = gate = ClockGate(hold=SETTLE_CYCLES)
            m.d.comb += gate.wake.eq(t.active)
            clock = gate.gclk
        domain = ClockDomain(f"tile{k}", reset_less=True, local=True)
        m.domains += domain
        reset = Signal(init=1, name=f"tile{k}_rst")
        m.d.comb += domain.clk.eq(clock)
        m.d[f"tile{k}"] += reset.eq(ResetSignal())
        return clock, reset

    def _registers(self, m, dec, counters):
        """The chip's register file and the reducer's BN register bank, on the decoder's chip register strobes."""
        m.submodules.red_bn_regs = bank = self.red_bn_regs
        bank_checks = bank.value_checks()
        owner_flags = [ChipErr.BAD_OPCODE, ChipErr.BAD_TILE, ChipErr.BAD_VALUE, ChipErr.BAD_ROUTE, ChipErr.TILE_ERROR]
        if self.max_group > 1:                  # a single-tile route has nothing to disagree with
            owner_flags.append(ChipErr.REDUCE_MISMATCH)
        m.submodules.regs = regs = RegisterFile(
            ChipReg, read_only=set(ChipReg) - CHIP_WRITABLE, write_only=CHIP_WRITE_ONLY,
            checks={ChipReg.CTRL: lambda w: unknown_flags(w, ChipCtrl),
                    **{r: bank_checks[t] for r, t in RED_BN_REGS.items() if t in bank_checks}},
            errors=ChipErr, error_register=ChipReg.ERRORS, illegal_flag=ChipErr.CHIP_REG,
            bad_value_flag=ChipErr.BAD_VALUE, owner_flags=owner_flags)
        m.d.comb += [regs.bus.addr.eq(dec.addr), regs.bus.wdata.eq(dec.wdata), regs.bus.we.eq(dec.chip_we),
                     regs.bus.re.eq(dec.chip_re), bank.wdata.eq(dec.wdata),
                     *(bank.write[t.name.lower()].eq(regs.write[r.name.lower()]) for r, t in RED_BN_REGS.items()),
                     regs.clear.eq(regs.write.ctrl & flag(dec.wdata, ChipCtrl.CLEAR_ERRORS)),
                     counters.clear.eq(regs.write.ctrl & flag(dec.wdata, ChipCtrl.CLEAR_COUNTERS))]
        status = view(CHIP_STATUS, regs.read.status)
        m.d.comb += [status.outstanding.eq(dec.outstanding), status.route_base.eq(dec.route_base),
                     status.route_size.eq(dec.route_size)]
        values = {ChipReg.ID: CHIP_ID, ChipReg.CONFIG: self._config,
                  **{r: bank.read[t.name.lower()] for r, t in RED_BN_REGS.items()},
                  **{r: counters.count[r.name.lower()] for r in _COUNTERS}}
        m.d.comb += [regs.read[r.name.lower()].eq(v) for r, v in values.items()]
        return regs, bank

    def elaborate(self, platform):
        m = Module()
        tiles = self._tiles(m)
        m.submodules.decoder = dec = self.decoder
        m.submodules.reducer = red = self.reducer
        m.submodules.resp_fifo = rfifo = fifo.SyncFIFOBuffered(width=WORD_BITS, depth=_RESP_DEPTH)
        assert RESP_FIFO_LATENCY == 2       # SyncFIFOBuffered: written in cycle t, on r_data in cycle t + 2
        wiring.connect(m, host=flipped(self.cmd), decoder=dec.cmd)

        # Tile register buses and input beats: address, data and the beat broadcast, strobes and valid one-hot.
        hit = [Signal(name=f"sel_tile{k}") for k in range(self.n_tiles)]
        m.d.comb += [h.eq(dec.sel == k) for k, h in enumerate(hit)]
        for t, h in zip(tiles, hit):
            m.d.comb += [t.bus.addr.eq(dec.addr), t.bus.wdata.eq(dec.wdata), t.bus.we.eq(dec.tile_we & h),
                         t.bus.re.eq(dec.tile_re & h), t.act.payload.eq(dec.act.payload),
                         t.act.valid.eq(dec.act.valid & h)]
        m.d.comb += dec.act.ready.eq(Cat(t.act.ready & h for t, h in zip(tiles, hit)).any())
        tile_rdata = one_hot_select(m, "tile_rdata", [t.bus.rdata for t in tiles], hit)

        # Output routing and reduction into the response FIFO; a register read's word goes first.
        for t, port in zip(tiles, red.tiles):
            wiring.connect(m, tile=flipped(t.out), reducer=port)
        m.d.comb += [red.tile_done.eq(Cat(t.done for t in tiles)), red.route_base.eq(dec.route_base),
                     red.route_size.eq(dec.route_size), red.fifo_level.eq(rfifo.level),
                     red.enable.eq(dec.outstanding.any() & ~dec.read_pending), dec.delivered.eq(red.delivered),
                     self.resp.payload.eq(rfifo.r_data), self.resp.valid.eq(rfifo.r_rdy),
                     rfifo.r_en.eq(self.resp.ready), rfifo.w_en.eq(dec.read_pending | red.o_valid)]

        # Event counters (each one cycle behind its events) and the chip's registers.
        busy = ~dec.idle | dec.outstanding.any() | rfifo.level.any()
        increments = {ChipReg.CYCLES: busy, ChipReg.ACTS: dec.acts,
                      ChipReg.PLANES: popcount(m, Cat(t.pulse for t in tiles), "pulses"),
                      ChipReg.TILE_BEATS: red.beats, ChipReg.OUT_WORDS: red.o_valid, ChipReg.PSUM_ADDS: red.psum_adds,
                      ChipReg.CMD_WORDS: dec.words, ChipReg.SAT_BN: red.sat_bn}
        m.submodules.counters = counters = EventCounters({r.name.lower(): len(v) for r, v in increments.items()},
                                                         registered=True)
        m.d.comb += [counters.inc[r.name.lower()].eq(v) for r, v in increments.items()]
        regs, bank = self._registers(m, dec, counters)
        wiring.connect(m, bank=bank.bn, reducer=red.bn)
        with m.If(dec.read_pending):
            m.d.comb += rfifo.w_data.eq(Mux(dec.read_from_chip, regs.bus.rdata, tile_rdata))
        with m.Else():
            m.d.comb += rfifo.w_data.eq(red.o_data)

        flags = regs.flags
        m.d.comb += [flags.bad_opcode.eq(dec.error.bad_opcode), flags.bad_tile.eq(dec.error.bad_tile),
                     flags.bad_value.eq(dec.error.bad_value), flags.bad_route.eq(dec.error.bad_route),
                     flags.tile_error.eq(Cat(t.error for t in tiles).any()), self.error.eq(regs.errors.any())]
        if self.max_group > 1:
            m.d.comb += flags.reduce_mismatch.eq(red.mismatch)
        return m
