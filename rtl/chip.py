# Ref: docs/architecture.md §4 step 4 (partial sums before BN), §5 (chip top, command interface), D7.
import enum

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int, signed_range
from neurophase.model.interface import (ACT_COUNT_BITS, CHIP_ID, CHIP_TARGET, WORD_BITS, ChipErr, ChipReg, Op,
                                       acts_per_word)
from neurophase.rtl.bn_unit import BnUnit
from neurophase.rtl.params import validating
from neurophase.rtl.tile import Tile

__all__ = ["ChipTop"]


class _S(enum.IntEnum):
    """Command decoder states."""
    HEADER = 0
    WDATA = 1
    WRITE = 2
    READ = 3
    READ_DATA = 4
    ACT = 5
    SKIP = 6
    ROUTE = 7


def _widen(value, width):
    """``value`` zero-extended to ``width`` bits by an explicit concatenation (operands of one width: lint-clean)."""
    return Cat(value, Const(0, width - len(value))) if len(value) < width else value


def _add_narrow(m, value, inc):
    """``value + inc`` with its carry (len(value) + 1 bits) for an ``inc`` narrower than ``value``, built from
    additions of equal-width operands: the low bits add ``inc``, the high bits add the 1-bit carry. (A zero
    extension written in the source is stripped by the exporter, leaving a narrow operand.)"""
    w = len(inc)
    if w in (1, len(value)):                # a 1-bit or equal-width operand is exact as it is
        return value + inc
    lo = Signal(w + 1, name=f"{value.name}_lo")
    hi = Signal(len(value) - w + 1, name=f"{value.name}_hi")
    m.d.comb += [lo.eq(value[:w] + inc), hi.eq(value[w:] + lo[w])]
    return Cat(lo[:w], hi)


def _select(m, name, values, hits):
    """The value whose one-hot ``hits`` bit is set (0 when none): an AND-OR mux, no partial case statement."""
    width = len(values[0])
    out = Signal(width, name=name)
    terms = [v.as_unsigned() & h.replicate(width) for v, h in zip(values, hits)]
    acc = terms[0]
    for t in terms[1:]:
        acc = acc | t
    m.d.comb += out.eq(acc)
    return out


class ChipTop(wiring.Component):
    """The chip's digital top: N tiles, a command decoder, activation delivery, output routing with partial-sum
    reduction and a BN unit for reduced outputs.

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
    word, whatever the host does before and after (model/energy.py CycleModel.segment_cycles predicts it). A READ
    returns the count up to the cycle before its header; a clear zeroes it from the cycle after the clearing write.
    WRITE, READ and ROUTE of chip registers wait until no MVM is outstanding (tile registers guard themselves:
    WRITE_WHILE_BUSY).

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
    tiles : number of tiles (1..255; 144 on the chip).
    rows, columns, columns_per_adc, fmt, acts_per_beat : every tile's geometry (:class:`~neurophase.rtl.tile.Tile`).
    max_group : largest reduction group (tiles whose accumulators are added), 1..tiles (default: 4 or ``tiles``).
    tile_module : Verilog module name of the tile, exported once (:meth:`verilog_dependencies`) and instantiated
        ``tiles`` times, so the chip's Verilog grows by one instance per tile, not one copy of the tile.
    frontend : ``None`` for the chip itself (each tile's analog side is a port group ``analog[k]``), or, in
        simulation, ``frontend(m, k, analog)`` attaching a stand-in of tile k's crossbar to its analog signals.

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
                 max_group=None, tile_module="np_chip_tile", frontend=None):
        with validating(self):
            self.n_tiles = check_int("tiles", tiles, 1, CHIP_TARGET - 1)
            self.max_group = check_int("max_group", min(4, tiles) if max_group is None else max_group, 1, tiles)
            self.apw = acts_per_word(fmt.b_in)
            if acts_per_beat % self.apw:
                raise ValueError(f"acts_per_beat must be a multiple of {self.apw} (activations per command word), "
                                 f"got {acts_per_beat}")
            check_int("rows", rows, 1, (1 << ACT_COUNT_BITS) - 1)
            # A tile object only for its signature and parameters: the chip instantiates the tile's exported module.
            self.proto = Tile(rows=rows, columns=columns, columns_per_adc=columns_per_adc, fmt=fmt,
                              acts_per_beat=acts_per_beat)
            for unit in (self.proto, self.proto.ctrl, self.proto.bn, *self.proto.adcs, *self.proto.lanes):
                unit._MustUse__silence = True
            self.bn = BnUnit(channels=1 << ceil_log2(columns), fmt=fmt)
        self.rows, self.columns, self.fmt, self.acts_per_beat = rows, columns, fmt, acts_per_beat
        self.tile_module, self.frontend = tile_module, frontend
        self.analog_signature = wiring.Signature({
            name: self.proto.signature.members[name]
            for name in ("wl", "pulse", "adc_range", "dac_code", "comparator", "col_sel")
            if name in self.proto.signature.members})
        members = {"cmd": In(stream.Signature(WORD_BITS)), "resp": Out(stream.Signature(WORD_BITS)),
                   "error": Out(1)}
        if frontend is None:
            members["analog"] = Out(self.analog_signature).array(tiles)
        super().__init__(members)

    def verilog_dependencies(self):
        """Modules the chip instantiates by name, to be exported beside it: {module name: component}."""
        return {self.tile_module: Tile(rows=self.rows, columns=self.columns,
                                       columns_per_adc=self.proto.columns_per_adc, fmt=self.fmt,
                                       acts_per_beat=self.acts_per_beat)}

    def _tile_instance(self, m, k):
        """Instantiate tile k; returns its port interface (signals named ``tile<k>__<port>``)."""
        t = self.proto.signature.flip().create(path=(f"tile{k}",))
        ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
        for path, member, value in self.proto.signature.flip().flatten(t):
            # flipped: the tile's outputs are In here
            ports[("o_" if member.flow == In else "i_") + "__".join(str(p) for p in path)] = value
        m.submodules[f"tile{k}"] = Instance(self.tile_module, **ports)
        return t

    def elaborate(self, platform):
        m = Module()
        fmt, n, apw = self.fmt, self.n_tiles, self.apw
        tiles = [self._tile_instance(m, k) for k in range(n)]
        sig = self.analog_signature
        for k, t in enumerate(tiles):
            if self.frontend is not None:
                self.frontend(m, k, t)
                continue
            for (_, member, port), (_, _, pin) in zip(sig.flatten(self.analog[k]), sig.flatten(t)):
                m.d.comb += port.eq(pin) if member.flow == Out else pin.eq(port)

        # -- registers and state ------------------------------------------------------------------------------------
        errors = Signal(len(ChipErr))
        err = {e: Signal(name=f"e_{e.name.lower()}") for e in ChipErr}
        clear_err = Signal(len(ChipErr))
        m.d.comb += self.error.eq(errors.any())
        outstanding = Signal(16)
        route_base = Signal(8)
        route_size = Signal(8, init=1)
        new_size = Signal(8)
        new_end = Signal(9)
        offset = Signal(8)                       # tile of the command minus the route's first tile
        inc_out = Signal()                       # an ACT completed: one more tile MVM outstanding
        dec_out = Signal(17)                     # routed outputs of this many tile MVMs delivered
        out_plus = Signal(17)
        m.d.comb += out_plus.eq(outstanding + _widen(inc_out, 16))
        m.d.sync += outstanding.eq(out_plus - dec_out)
        idle = Signal()

        # The reducer's BN configuration registers, shaped like the ports they drive.
        red_shift = Signal.like(self.bn.shift, name="red_shift")
        red_relu, red_last = Signal.like(self.bn.relu, name="red_relu"), Signal.like(self.bn.last, name="red_last")
        red_channel = Signal.like(self.bn.param_channel, name="red_channel")
        red_scale = Signal.like(self.bn.param_scale, name="red_scale")
        red_bias = Signal.like(self.bn.param_bias, name="red_bias")     # the last bias written, read back only
        counters = {r: Signal(WORD_BITS, name=r.name.lower()) for r in
                    (ChipReg.CYCLES, ChipReg.ACTS, ChipReg.PLANES, ChipReg.TILE_BEATS, ChipReg.OUT_WORDS,
                     ChipReg.PSUM_ADDS, ChipReg.CMD_WORDS, ChipReg.SAT_BN)}
        # Increments at their exact widths: one event, ACT counts, tiles of a route (PLANES: the pulse adder tree's
        # sum, below).
        inc_bits = {ChipReg.ACTS: ACT_COUNT_BITS, ChipReg.TILE_BEATS: 8, ChipReg.PSUM_ADDS: 8}
        inc = {r: Signal(inc_bits.get(r, 1), name=f"{r.name.lower()}_inc") for r in counters if r != ChipReg.PLANES}
        clear_cnt = Signal()

        # -- command decoder ----------------------------------------------------------------------------------------
        cmd = self.cmd
        word = cmd.payload
        op, tile_f, arg = Signal(4), Signal(8), Signal(20)
        count, arg_hi = Signal(ACT_COUNT_BITS), Signal(20 - ACT_COUNT_BITS)
        size, size_hi = Signal(8), Signal(12)
        m.d.comb += [op.eq(word[28:32]), tile_f.eq(word[20:28]), arg.eq(word[:20]),
                     count.eq(arg[:ACT_COUNT_BITS]), arg_hi.eq(arg[ACT_COUNT_BITS:]),
                     size.eq(arg[:8]), size_hi.eq(arg[8:])]
        state = Signal(_S)
        sel = Signal(8)                          # target of the current command
        addr = Signal(5)
        wdata = Signal(WORD_BITS)
        left = Signal(ACT_COUNT_BITS)            # data words still to come (ACT, skip)
        to_chip = sel == CHIP_TARGET
        m.d.comb += [inc[ChipReg.CMD_WORDS].eq(cmd.valid & cmd.ready),
                     new_end.eq(tile_f + size), offset.eq(tile_f - route_base)]

        # Tile register buses: address and data broadcast, strobes one-hot.
        tile_we, tile_re = Signal(), Signal()
        for k, t in enumerate(tiles):
            m.d.comb += [t.bus.addr.eq(addr), t.bus.wdata.eq(wdata),
                         t.bus.we.eq(tile_we & (sel == k)), t.bus.re.eq(tile_re & (sel == k))]

        sel_hit = [Signal(name=f"sel_tile{k}") for k in range(n)]
        m.d.comb += [h.eq(sel == k) for k, h in enumerate(sel_hit)]
        tile_rdata = _select(m, "tile_rdata", [t.bus.rdata for t in tiles], sel_hit)

        # Activation beats: words assembled into the tile's beat, offered to the selected tile.
        wpb = self.acts_per_beat // apw
        beat = Signal(self.acts_per_beat * fmt.b_in)
        beat_valid = Signal()
        beat_last = Signal()
        slot = Signal(range(wpb))
        for k, t in enumerate(tiles):
            m.d.comb += [t.act.payload.eq(beat), t.act.valid.eq(beat_valid & (sel == k))]
        act_ready = Cat(t.act.ready & h for t, h in zip(tiles, sel_hit)).any()
        with m.If(beat_valid & act_ready):
            m.d.sync += beat_valid.eq(0)
            with m.If(beat_last):
                m.d.comb += inc_out.eq(1)

        # Chip register access (reads registered like a tile's)
        chip_rdata = Signal(WORD_BITS)
        chip_we, chip_re = Signal(), Signal()
        red_we = Signal()
        read_pending = Signal()                  # the read data is in rdata this cycle
        read_from_chip = Signal()

        bad_tile = (sel >= n) & ~to_chip
        n_words = Signal(ACT_COUNT_BITS)
        m.d.comb += n_words.eq((count + apw - 1) >> ceil_log2(apw))
        # Checks of an ACT header, each a named signal: an expression used in several branches would be built
        # once per use, and the copies Yosys folds away are left as unused temporaries.
        settled = Signal()                      # no MVM outstanding, no activation beat waiting
        m.d.comb += settled.eq((outstanding == 0) & ~beat_valid)
        legal_count, t_ok = Signal(name="legal_count"), Signal(name="t_ok")
        routed, has_words = Signal(name="routed"), Signal(name="has_words")
        m.d.comb += [legal_count.eq(count.any() & (count <= self.rows) & ~arg_hi.any()), t_ok.eq(tile_f < n),
                     routed.eq((tile_f >= route_base) & (offset < route_size)), has_words.eq(n_words.any())]

        with m.If(state == _S.HEADER):
            m.d.comb += [cmd.ready.eq(~beat_valid), idle.eq(~beat_valid & ~cmd.valid)]
            with m.If(cmd.valid & ~beat_valid):
                m.d.sync += [sel.eq(tile_f), addr.eq(arg[:5])]
                with m.If(~op.any()):      # Op.NOP
                    pass
                with m.Elif(op == Op.WRITE):
                    m.d.sync += state.eq(_S.WDATA)
                with m.Elif(op == Op.READ):
                    m.d.sync += state.eq(_S.READ)
                with m.Elif(op == Op.ACT):
                    m.d.sync += [left.eq(n_words), slot.eq(0)]
                    with m.If(~t_ok):
                        m.d.comb += err[ChipErr.BAD_TILE].eq(1)
                    with m.Elif(~legal_count):
                        m.d.comb += err[ChipErr.BAD_VALUE].eq(1)
                    with m.Elif(~routed):
                        m.d.comb += err[ChipErr.BAD_ROUTE].eq(1)
                    with m.If(t_ok & legal_count & routed):
                        m.d.comb += inc[ChipReg.ACTS].eq(count)
                        m.d.sync += state.eq(_S.ACT)
                    with m.Elif(has_words):
                        m.d.sync += state.eq(_S.SKIP)
                with m.Elif(op == Op.ROUTE):
                    size_ok = size.any() & (size <= self.max_group) & ~size_hi.any()
                    with m.If(~size_ok):
                        m.d.comb += err[ChipErr.BAD_VALUE].eq(1)
                    with m.Elif(new_end > n):
                        m.d.comb += err[ChipErr.BAD_TILE].eq(1)
                    with m.Else():
                        m.d.sync += new_size.eq(size)
                        m.d.sync += state.eq(_S.ROUTE)
                with m.Else():
                    m.d.comb += err[ChipErr.BAD_OPCODE].eq(1)
        with m.Elif(state == _S.WDATA):
            m.d.comb += cmd.ready.eq(1)
            with m.If(cmd.valid):
                m.d.sync += wdata.eq(word)
                with m.If(bad_tile):
                    m.d.comb += err[ChipErr.BAD_TILE].eq(1)
                    m.d.sync += state.eq(_S.HEADER)
                with m.Else():
                    m.d.sync += state.eq(_S.WRITE)
        with m.Elif(state == _S.WRITE):
            # A chip register write waits, like READ and ROUTE, until no MVM is outstanding, so the reducer's BN
            # registers never change under an MVM in flight (a tile guards its own registers: WRITE_WHILE_BUSY).
            with m.If(~to_chip | settled):
                m.d.comb += [tile_we.eq(~to_chip), chip_we.eq(to_chip)]
                m.d.sync += state.eq(_S.HEADER)
        with m.Elif(state == _S.READ):
            with m.If(bad_tile):
                m.d.comb += err[ChipErr.BAD_TILE].eq(1)
                m.d.sync += state.eq(_S.HEADER)
            with m.Elif(settled):
                m.d.comb += [tile_re.eq(~to_chip), chip_re.eq(to_chip)]
                m.d.sync += read_from_chip.eq(to_chip)
                m.d.sync += state.eq(_S.READ_DATA)
        with m.Elif(state == _S.READ_DATA):
            m.d.comb += read_pending.eq(1)
            m.d.sync += state.eq(_S.HEADER)
        with m.Elif(state == _S.ACT):
            m.d.comb += cmd.ready.eq(~beat_valid)
            with m.If(cmd.valid & ~beat_valid):
                for s in range(wpb):
                    with m.If(slot == s):
                        m.d.sync += beat[s * WORD_BITS:(s + 1) * WORD_BITS].eq(word)
                m.d.sync += [left.eq(left - 1), slot.eq(Mux(slot == wpb - 1, 0, slot + 1))]
                with m.If((slot == wpb - 1) | (left == 1)):
                    m.d.sync += [beat_valid.eq(1), beat_last.eq(left == 1)]
                with m.If(left == 1):
                    m.d.sync += state.eq(_S.HEADER)
        with m.Elif(state == _S.SKIP):
            m.d.comb += cmd.ready.eq(1)
            with m.If(cmd.valid):
                m.d.sync += left.eq(left - 1)
                with m.If(left == 1):
                    m.d.sync += state.eq(_S.HEADER)
        with m.Else():                          # _S.ROUTE, the last of the 3-bit state's 8 values
            with m.If(settled):
                m.d.sync += [route_base.eq(sel), route_size.eq(new_size)]
                m.d.sync += state.eq(_S.HEADER)

        # -- chip registers -------------------------------------------------------------------------------------------
        def fits(value, bits):
            top = value[bits - 1:]
            return top.all() | ~top.any()

        writable = {ChipReg.ERRORS, ChipReg.RED_BN_CTRL, ChipReg.RED_BN_CHANNEL, ChipReg.RED_BN_SCALE,
                    ChipReg.RED_BN_BIAS, ChipReg.CTRL}
        at = {r: addr == r for r in ChipReg}
        bad_value = Cat(
            at[ChipReg.RED_BN_CTRL] & ((wdata[:6] > fmt.shift_max) | wdata[6:8].any() | wdata[10:].any()),
            at[ChipReg.RED_BN_CHANNEL] & (wdata >= self.columns),
            at[ChipReg.CTRL] & wdata[2:].any(),
            # A WORD_BITS-wide field takes every value (its check would be a constant, left as dead logic).
            *(at[r] & ~fits(wdata, bits) for r, bits in ((ChipReg.RED_BN_SCALE, fmt.scale_bits),
                                                         (ChipReg.RED_BN_BIAS, fmt.bias_bits)) if bits < WORD_BITS),
        ).any()
        is_writable = Cat(at[r] for r in writable).any()
        is_mapped = Cat(at[r] for r in ChipReg).any()
        with m.If(chip_we):
            with m.If(~is_writable):
                m.d.comb += err[ChipErr.CHIP_REG].eq(1)
            with m.Elif(bad_value):
                m.d.comb += err[ChipErr.BAD_VALUE].eq(1)
            with m.Else():
                with m.If(at[ChipReg.ERRORS]):
                    m.d.comb += clear_err.eq(wdata)
                with m.If(at[ChipReg.CTRL]):
                    m.d.comb += clear_cnt.eq(wdata[0])
                    with m.If(wdata[1]):
                        m.d.comb += clear_err.eq(~0)
                with m.If(at[ChipReg.RED_BN_CTRL]):
                    m.d.sync += [red_shift.eq(wdata[:6]), red_relu.eq(wdata[8]), red_last.eq(wdata[9])]
                with m.If(at[ChipReg.RED_BN_CHANNEL]):
                    m.d.sync += red_channel.eq(wdata)
                with m.If(at[ChipReg.RED_BN_SCALE]):
                    m.d.sync += red_scale.eq(wdata)
                with m.If(at[ChipReg.RED_BN_BIAS]):
                    m.d.comb += red_we.eq(1)
                    m.d.sync += red_bias.eq(wdata)
                    m.d.sync += red_channel.eq(Mux(red_channel == self.columns - 1, 0, red_channel + 1))
        with m.If(chip_re & ~is_mapped):
            m.d.comb += err[ChipErr.CHIP_REG].eq(1)
        read_map = {
            ChipReg.ID: Const(CHIP_ID, WORD_BITS),
            ChipReg.CONFIG: Cat(Const(n, 8), Const(self.max_group, 8), Const(apw, 8)),
            ChipReg.ERRORS: errors,
            ChipReg.STATUS: Cat(outstanding, route_base, route_size),
            ChipReg.RED_BN_CTRL: Cat(red_shift, Const(0, 6 - len(red_shift)), Const(0, 2), red_relu, red_last)
            if len(red_shift) < 6 else Cat(red_shift, Const(0, 2), red_relu, red_last),
            ChipReg.RED_BN_CHANNEL: red_channel,
            ChipReg.RED_BN_SCALE: red_scale.as_signed(),
            ChipReg.RED_BN_BIAS: red_bias.as_signed(),
            **counters,
        }
        with m.If(chip_re):
            m.d.sync += chip_rdata.eq(0)
            for r, v in read_map.items():
                with m.If(at[r]):
                    m.d.sync += chip_rdata.eq(v)

        # -- output routing and partial-sum reduction ---------------------------------------------------------------
        m.submodules.resp_fifo = rfifo = fifo.SyncFIFOBuffered(width=WORD_BITS, depth=8)
        m.d.comb += [self.resp.payload.eq(rfifo.r_data), self.resp.valid.eq(rfifo.r_rdy),
                     rfifo.r_en.eq(self.resp.ready)]
        slot_ok = [route_size > g for g in range(self.max_group)]
        # hit[g][k]: tile k is slot g of the route (tile route_base + g)
        hit = [[Signal(name=f"slot{g}_tile{k}") for k in range(n)] for g in range(self.max_group)]
        for g in range(self.max_group):
            m.d.comb += [h.eq(route_base + g == k) for k, h in enumerate(hit[g])]
        rslot = [dict(valid=_select(m, f"slot{g}_valid", [t.out.valid for t in tiles], hit[g]),
                     data=_select(m, f"slot{g}_data", [t.out.payload.data for t in tiles], hit[g]).as_signed(),
                     channel=_select(m, f"slot{g}_channel", [t.out.payload.channel for t in tiles], hit[g]),
                     last=_select(m, f"slot{g}_last", [t.out.payload.last for t in tiles], hit[g]))
                for g in range(self.max_group)]
        all_valid = Cat(~ok | sl["valid"] for ok, sl in zip(slot_ok, rslot)).all()
        take = Signal()
        for k, t in enumerate(tiles):
            member = Cat(hit[g][k] & slot_ok[g] for g in range(self.max_group)).any()
            m.d.comb += t.out.ready.eq(take & member)

        bn = self.bn
        m.submodules.reduce_bn = bn
        m.d.comb += [bn.param_we.eq(red_we), bn.param_channel.eq(red_channel), bn.param_scale.eq(red_scale),
                     bn.param_bias.eq(wdata), bn.shift.eq(red_shift), bn.relu.eq(red_relu), bn.last.eq(red_last)]
        reduce = route_size > 1
        sat_bn = Signal()
        size_m1 = Signal(8)
        # Saturating sum in tile order (model/arith.py reduce_partial_sums).
        lo, hi = signed_range(fmt.acc_bits)
        total = rslot[0]["data"][:fmt.acc_bits].as_signed()
        for g in range(1, self.max_group):
            s = Signal(signed(fmt.acc_bits + 1), name=f"psum{g}")
            m.d.comb += s.eq(total + rslot[g]["data"][:fmt.acc_bits].as_signed())
            sat = Signal(signed(fmt.acc_bits), name=f"psum{g}_sat")
            m.d.comb += sat.eq(Mux(s > hi, hi, Mux(s < lo, lo, s)))
            total = Mux(slot_ok[g], sat, total)
        agree = Cat(~ok | ((sl["channel"] == rslot[0]["channel"]) & (sl["last"] == rslot[0]["last"]))
                    for ok, sl in zip(slot_ok[1:], rslot[1:])).all()

        # Credits: a beat is taken only when the FIFO has room for it and every beat in the BN pipeline.
        inflight = Signal(len(rfifo.level))
        pipe_last = Signal(bn.latency)             # the `last` flags of the beats in the BN pipeline
        room = Signal()
        m.d.comb += room.eq(rfifo.level + inflight + 1 < rfifo.depth)
        m.d.comb += take.eq(all_valid & room & outstanding.any() & ~read_pending)
        direct_w = Signal()
        issue = take & reduce
        m.d.comb += [bn.i_valid.eq(issue), bn.i_channel.eq(rslot[0]["channel"]), bn.i_acc.eq(total),
                     direct_w.eq(take & ~reduce)]
        m.d.sync += [inflight.eq(Mux(issue & ~bn.o_valid, inflight + 1,
                                     Mux(bn.o_valid & ~issue, inflight - 1, inflight))),
                     pipe_last.eq(Cat(issue & rslot[0]["last"], pipe_last[:-1]))]
        if self.max_group > 1:
            with m.If(take & reduce & ~agree):
                m.d.comb += err[ChipErr.REDUCE_MISMATCH].eq(1)
        else:                                   # a single-tile route has nothing to disagree with
            err[ChipErr.REDUCE_MISMATCH] = Const(0, 1)
        with m.If(read_pending):
            m.d.comb += [rfifo.w_en.eq(1), rfifo.w_data.eq(Mux(read_from_chip, chip_rdata, tile_rdata))]
        with m.Elif(direct_w):
            m.d.comb += [rfifo.w_en.eq(1),
                         rfifo.w_data.eq(rslot[0]["data"])]
            # The routed tile's own done pulse (its last beat accepted) ends the MVM.
            with m.If(Cat(t.done for t in tiles).any()):
                m.d.comb += dec_out.eq(1)
        with m.Elif(bn.o_valid):
            m.d.comb += [rfifo.w_en.eq(1), rfifo.w_data.eq(bn.o_y)]
            with m.If(pipe_last[-1]):
                m.d.comb += dec_out.eq(route_size)
            with m.If(bn.o_saturated):
                m.d.comb += sat_bn.eq(1)

        # -- counters ---------------------------------------------------------------------------------------------
        # Wordline pulses of all tiles this cycle: a balanced adder tree over the pulse bits (widths grow with the
        # depth; a term carried over from an odd level is narrower than its later partner).
        pulse_bits = Signal(n, name="pulse_bits")
        m.d.comb += pulse_bits.eq(Cat(t.pulse for t in tiles))
        terms = [pulse_bits[k] for k in range(n)]
        while len(terms) > 1:
            nxt = []
            for i in range(0, len(terms) - 1, 2):
                wide, narrow = sorted(terms[i:i + 2], key=len, reverse=True)
                total = Signal(len(wide) + 1, name=f"pulses{len(terms)}_{i // 2}")
                m.d.comb += total.eq(_add_narrow(m, wide, narrow))
                nxt.append(total)
            terms = nxt + terms[len(terms) - len(terms) % 2:]
        inc[ChipReg.PLANES] = terms[0]
        m.d.comb += size_m1.eq(route_size - 1)
        busy = Signal()
        m.d.comb += busy.eq(~idle | outstanding.any() | rfifo.level.any())
        m.d.comb += [inc[ChipReg.CYCLES].eq(busy),
                     inc[ChipReg.TILE_BEATS].eq(Mux(take, route_size, 0)),
                     inc[ChipReg.OUT_WORDS].eq(direct_w | bn.o_valid),
                     inc[ChipReg.PSUM_ADDS].eq(Mux(issue, size_m1, 0)),
                     inc[ChipReg.SAT_BN].eq(sat_bn)]
        for r, c in counters.items():
            total_c = Signal(WORD_BITS + 1, name=f"{r.name.lower()}_next")
            # The increment is registered (one cycle late, exact); a clear also drops the registered increment,
            # so a cleared counter counts from the cycle after the clear.
            inc_r = Signal(len(inc[r]), name=f"{r.name.lower()}_inc_r")
            m.d.comb += total_c.eq(_add_narrow(m, c, inc_r))
            with m.If(clear_cnt):
                m.d.sync += [c.eq(0), inc_r.eq(0)]
            with m.Else():
                m.d.sync += [c.eq(Mux(total_c[WORD_BITS], (1 << WORD_BITS) - 1, total_c)), inc_r.eq(inc[r])]

        tile_error = Cat(t.error for t in tiles).any()
        m.d.comb += err[ChipErr.TILE_ERROR].eq(tile_error)
        m.d.sync += errors.eq((errors & ~clear_err) | Cat(err[e] for e in ChipErr))
        return m
