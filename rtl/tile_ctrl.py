# Ref: docs/architecture.md §2 (bit-serial inputs, column ADCs), §4 (digital contract), §5 (tile controller),
# D8 (PWM).
import enum
from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out, flipped
from amaranth.utils import ceil_log2

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int
from neurophase.model.interface import (TILE_CONFIG, TILE_FORMAT, TILE_GEOMETRY, TILE_ID, TILE_MODE, TILE_READ_ONLY,
                                       TILE_STATUS, TILE_WRITE_ONLY, WORD_BITS, InputEncoding, TileCtrl, TileErr,
                                       TileReg)
from neurophase.rtl.act_buffer import ActivationBuffer
from neurophase.rtl.adder_tree import popcount
from neurophase.rtl.bn_regs import BnRegisterBank
from neurophase.rtl.bn_unit import BnUnit
from neurophase.rtl.counters import EventCounters
from neurophase.rtl.encoder_bit_serial import BitSerialEncoder
from neurophase.rtl.encoder_pwm import PwmEncoder
from neurophase.rtl.layouts import view
from neurophase.rtl.mux import mux_tree
from neurophase.rtl.out_queue import OutputQueue
from neurophase.rtl.params import validating
from neurophase.rtl.regfile import RegisterBus, RegisterFile, flag, outside, reserved_set, unknown_flags

__all__ = ["TileController", "ENCODERS", "ALL_ENCODINGS", "SETTLE_CYCLES", "check_encodings"]

# The input encoders a tile can implement (the input-encoder slot, rtl/input_encoder.py), by MODE.encoding value.
ENCODERS = {InputEncoding.BIT_SERIAL: BitSerialEncoder, InputEncoding.PWM: PwmEncoder}
# Clock edges a tile needs after its ``active`` falls: a BN_BIAS write reaches the BN unit's parameter memory two
# edges after its write cycle (rtl/bn_regs.py stages it, rtl/bn_unit.py registers the memory's write port), and a
# reset registered on the tile's clock (rtl/chip.py) reaches the tile one edge after the chip's.
SETTLE_CYCLES = 2
# What a tile implements by default: every encoder, bit-serial first (MODE's reset value).
ALL_ENCODINGS = tuple(ENCODERS)


def check_encodings(encodings):
    """``encodings`` as a tuple, when it lists different input encodings that have an encoder."""
    encodings = tuple(encodings)
    if not encodings or len(set(encodings)) < len(encodings) or not set(encodings) <= set(ENCODERS):
        raise ValueError(f"encodings must list different input encodings among {[e.label for e in ENCODERS]}, "
                         f"got {list(encodings)}")
    return encodings


# The event counters, in register order.
_COUNTERS = (TileReg.SAT_ADC_LOW, TileReg.SAT_ADC_HIGH, TileReg.SAT_ACC, TileReg.SAT_BN, TileReg.MVM_COUNT,
             TileReg.BUSY_CYCLES)


class _State(enum.IntEnum):
    IDLE = 0
    READ = 1         # the input encoder's reads: wordlines driven, the ADCs converting
    READOUT = 2      # accumulators issued to the BN unit (or raw) one channel per cycle


class TileController(wiring.Component):
    """Tile controller: registers, activation buffer, input encoder, ADC/shift-and-add/BN sequencing, output queue.

    Behaviour
    ---------
    *Registers* (word addresses, 32-bit data; RO read-only, RW read/write, W1C write 1 to clear; fields as
    model/interface.py's layouts):

    ============  ====  ==========================================================================================
    0x00 ID        RO   0x4E505431 ("NPT1")
    0x01 GEOMETRY  RO   rows [15:0], columns [31:16] (TILE_GEOMETRY)
    0x02 FORMAT    RO   b_in [7:0], b_adc [15:8], acc_bits [23:16], activations per input beat [31:24] (TILE_FORMAT)
    0x03 CTRL      W    bit 0 START (arm one MVM), bit 1 CLEAR_ERRORS, bit 2 CLEAR_COUNTERS (TileCtrl); reads 0
    0x04 STATUS    RO   bit 0 busy (MVM armed or running), 1 done (sticky until the next MVM starts), 2 armed,
                        3 activation buffer full, 4 outputs draining, [9:8] state (0 idle, 1 reading, 2 readout),
                        [31:16] activations buffered (TILE_STATUS)
    0x05 ERRORS    W1C  sticky error flags, :class:`TileErr`
    0x06 ROWS_USED RW   wordlines used, 1..rows (reset: rows)
    0x07 COLS_USED RW   columns read out, 1..columns (reset: columns)
    0x08 BN_CTRL   RW   shift r [5:0] (0..shift_max), bit 8 ReLU, bit 9 last layer (signed output) (BN_CTRL)
    0x09 MODE      RW   bit 0 RAW (stream accumulators, skip BN), bit 1 AUTOSTART, [3:2] input encoding (an
                        :class:`InputEncoding` among ``encodings``; reset: the first); other bits must be 0 (TILE_MODE)
    0x0A ADC_RANGE RW   ADC full-scale current in units of ADC_RANGE_STEP_A (10 nA, model/interface.py),
                        1..2^range_bits-1; drives the ``adc_range`` pin
    0x0B BN_CHANNEL RW  channel of the next BN write, 0..columns-1
    0x0C BN_SCALE  RW   staged BN scale s (signed scale_bits, sign-extended to 32 bits)
    0x0D BN_BIAS   RW   writing b (signed bias_bits) stores (s, b) for BN_CHANNEL in the BN unit and increments
                        BN_CHANNEL (wrapping to 0); reads the last bias written
    0x0E SAT_ADC_LOW   RO  conversions of used columns at the lowest code (saturating 32-bit counters, below too)
    0x0F SAT_ADC_HIGH  RO  conversions of used columns at the highest code
    0x10 SAT_ACC   RO   shift-and-add steps of used columns that clamped
    0x11 SAT_BN    RO   BN outputs that clamped
    0x12 MVM_COUNT RO   MVMs completed (last output beat accepted)
    0x13 BUSY_CYCLES RO cycles with an MVM running or its outputs draining
    ============  ====  ==========================================================================================

    Errors are flagged, never silently dropped: an unmapped address or a write to a read-only register sets
    ILLEGAL_ADDRESS; a configuration write (0x06-0x0D) while busy, draining or with activations buffered sets
    WRITE_WHILE_BUSY and is not applied; an out-of-range value (an encoding the tile does not implement included)
    sets BAD_VALUE and is not applied; START while an MVM is armed or running, or in AUTOSTART mode, sets
    START_WHILE_BUSY. ``error`` is high while any flag is set.

    *Activations* arrive on ``act``, ``acts_per_beat`` unsigned ``b_in``-bit activations per beat, row 0 first, into
    a ``rows x b_in`` buffer; lanes past ROWS_USED in the last beat are dropped. ``act.ready`` is low while the
    buffer is full or the wordlines are being driven.

    *An MVM* starts when the buffer holds ROWS_USED activations and START armed it (or AUTOSTART is set): the input
    encoder that MODE selects (the input-encoder slot, :class:`~neurophase.rtl.input_encoder.InputEncoderSignature`)
    makes its reads of the held vector, driving ``wl`` (masked to the rows below ROWS_USED), ``pulse`` and
    ``adc_start``. The bit-serial encoder reads one bit-plane per read, MSB first: ``wl`` carries the plane's bit of
    every activation for ``adc_latency + 1`` cycles, ``pulse`` and ``adc_start`` high in the first. The PWM encoder
    (:class:`~neurophase.rtl.encoder_pwm.PwmEncoder`, D8) makes one read: a window of ``(2^b_in - 1) *
    lsb_cycles`` cycles, ``pulse`` in its first, in which wordline i is driven for its first ``x_i * lsb_cycles``
    cycles, then ``adc_start`` with the wordlines off. Each read's codes enter the shift-and-add (``sa_valid``, with
    ``sa_clear`` on the first read, so a PWM accumulator is its one code) in the ADC's ``done`` cycle.
    After the last read the buffer accepts the next vector while the used columns are read out, one per cycle: into
    the BN unit (``bn.i_*``) whose results go to ``out``, or in RAW mode straight to ``out``. The next MVM's reads
    may start as soon as every channel has been issued.

    *Output*: one beat per channel, channel order, ``last`` on the final used channel; back-pressure is honoured
    by an output queue of ``bn_latency + 2`` credits (:class:`~neurophase.rtl.out_queue.OutputQueue`), so no BN
    result is ever lost. ``done`` pulses when the last beat of an MVM is accepted.

    *Activity*: ``active`` is high in every cycle in which the controller's or its blocks' state can change (a
    register access, an input beat offered, an MVM armed or running, activations buffered, outputs in flight),
    so that a chip may stop an inactive tile's clock (rtl/clock_gate.py): pipelines that outlast these events
    settle within :data:`SETTLE_CYCLES` clock edges after ``active`` falls (formal/clock_gate.py proves a gated
    tile equal to an ungated one).

    Latency and throughput
    ----------------------
    Reads: bit-serial ``b_in * (adc_latency + 1)`` cycles from the start, PWM ``(2^b_in - 1) * lsb_cycles +
    adc_latency + 1``, where ``adc_latency`` is the ADC array's ``start`` to ``done`` time (``columns_per_adc * b_adc
    + 1`` for :class:`SarAdcArray`); the controller follows ``adc_done``. Readout: the first channel is issued the
    cycle after the last read's ``adc_done``; its beat is on ``out`` ``bn_latency + 1`` cycles later (1 in RAW
    mode); then one channel issued and one beat per cycle while ``out.ready`` is high. The next MVM's reads can
    start the cycle after the last channel is issued (through IDLE): back to back, one MVM per (reads' cycles) +
    ``COLS_USED + 1`` cycles when the next vector is loaded in time (``ceil(ROWS_USED / acts_per_beat)`` beats,
    accepted during the readout).

    Parameters
    ----------
    rows : wordlines (1..4096).
    columns : logical columns (1..256).
    fmt : :class:`neurophase.model.arith.PeripheryFormat` (b_in, b_adc, acc_bits, scale_bits, bias_bits <= 32,
        shift_max <= 63, out_bits).
    acts_per_beat : activations per input beat (1..rows, at most what FORMAT's field holds).
    bn_latency : cycles from ``bn.i_valid`` to ``bn.o_valid`` (0..16).
    range_bits : width of the ADC_RANGE register and ``adc_range`` pin (1..32).
    adc_range_init : reset value of ADC_RANGE (1..2^range_bits-1).
    encodings : the input encodings implemented (:data:`ENCODERS`), the first being MODE's reset value
        (default: :data:`ALL_ENCODINGS`, bit-serial and PWM).

    Members
    -------
    bus : In(RegisterBus)
        Register interface.
    act : In(stream.Signature(ArrayLayout(unsigned(b_in), acts_per_beat)))
        Input activations.
    out : Out(stream.Signature(StructLayout(data=signed(data_bits), channel=unsigned, last=1)))
        One channel's BN output (or raw accumulator) per beat; ``data_bits = max(acc_bits, out_bits)``.
    done : Out(1)
        One-cycle pulse: an MVM's last output beat was accepted.
    error : Out(1)
        Any error flag is set.
    active : Out(1)
        The tile's state can change at the next clock edge (see *Activity*).
    wl : Out(rows)
        Wordline enables of the current read (analog side).
    pulse : Out(1)
        One-cycle strobe at the start of each read (analog side).
    adc_range : Out(range_bits)
        ADC full-scale setting (analog side).
    adc_start : Out(1), adc_done : In(1), adc_start_err : In(1)
        SAR ADC array handshake and its start-while-busy flag.
    col_mask : Out(columns)
        Columns in use (below COLS_USED): the ADCs of the others need not convert (power gating).
    adc_rail_low, adc_rail_high : In(columns)
        Per-column rail flags of the ADC codes, valid with ``adc_done``.
    sa_valid, sa_clear : Out(1); sa_saturated : In(columns); acc : In(ArrayLayout(signed(acc_bits), columns))
        Shift-and-add control, its per-lane saturation flags (read in the cycle after ``sa_valid``) and the
        accumulators.
    bn : In(BnUnit.signature_for(columns, fmt))
        The BN unit's ports seen from the driving side (:class:`~neurophase.rtl.bn_unit.BnUnit` lists them): its
        parameters (``param_*``, ``shift``, ``relu``, ``last``) and input (``i_*``, one channel per cycle) out,
        its output (``o_*``) in.
    """

    def __init__(self, *, rows=256, columns=128, fmt=PeripheryFormat(), acts_per_beat=16, bn_latency=3,
                 range_bits=16, adc_range_init=1000, encodings=ALL_ENCODINGS):
        with validating(self):
            self._rows = check_int("rows", rows, 1, 4096)
            self._columns = check_int("columns", columns, 1, 256)
            if not isinstance(fmt, PeripheryFormat):
                raise ValueError(f"fmt must be a PeripheryFormat, got {fmt!r}")
            # The BN registers check the widths they hold (scale_bits, bias_bits, shift_max).
            self._bn_regs = BnRegisterBank(channels=columns, fmt=fmt)
            self._apb = check_int("acts_per_beat", acts_per_beat, 1, rows)
            check_int("acts_per_beat * b_in", acts_per_beat * fmt.b_in, 1, 4096)
            self._bn_latency = check_int("bn_latency", bn_latency, 0, 16)
            self._range_bits = check_int("range_bits", range_bits, 1, WORD_BITS)
            self._range_init = check_int("adc_range_init", adc_range_init, 1, (1 << range_bits) - 1)
            encodings = check_encodings(encodings)
            # The read-only identification words, from the interface's layouts (a value that does not fit is an error).
            self._geometry = TILE_GEOMETRY.encode(rows=rows, columns=columns)
            self._format = TILE_FORMAT.encode(b_in=fmt.b_in, b_adc=fmt.b_adc, acc_bits=fmt.acc_bits,
                                              acts_per_beat=acts_per_beat)
        self._fmt, self._encodings = fmt, encodings
        self.out_layout = self.output_layout(columns, fmt)
        super().__init__({
            "bus": In(RegisterBus()),
            "act": In(stream.Signature(data.ArrayLayout(unsigned(fmt.b_in), acts_per_beat))),
            "out": Out(stream.Signature(self.out_layout)),
            "done": Out(1),
            "error": Out(1),
            "active": Out(1),
            "wl": Out(rows),
            "pulse": Out(1),
            "adc_range": Out(range_bits, init=adc_range_init),
            "adc_start": Out(1),
            "col_mask": Out(columns),
            "adc_done": In(1),
            "adc_start_err": In(1),
            "adc_rail_low": In(columns),
            "adc_rail_high": In(columns),
            "sa_valid": Out(1),
            "sa_clear": Out(1),
            "sa_saturated": In(columns),
            "acc": In(data.ArrayLayout(signed(fmt.acc_bits), columns)),
            "bn": In(BnUnit.signature_for(columns, fmt)),
        })

    @staticmethod
    def output_layout(columns, fmt):
        """The payload of an output beat: ``data`` (signed ``max(acc_bits, out_bits)``), ``channel``, ``last``."""
        return data.StructLayout({"data": signed(max(fmt.acc_bits, fmt.out_bits)),
                                  "channel": unsigned(max(1, ceil_log2(columns))), "last": 1})

    @property
    def out_depth(self):
        """Depth of the output queue, in credits: a beat holds one from its issue to its acceptance on ``out``,
        ``bn_latency`` + 2 cycles (BN pipeline, queue write), so this many keep one beat per cycle."""
        return self._bn_latency + 2

    def _value_checks(self, bank):
        """{register: check(wdata)} of the values each writable register accepts."""
        encodings = self._encodings
        return {
            TileReg.CTRL: lambda w: unknown_flags(w, TileCtrl),
            TileReg.ROWS_USED: lambda w: outside(w, 1, self._rows),
            TileReg.COLS_USED: lambda w: outside(w, 1, self._columns),
            TileReg.MODE: lambda w: reserved_set(w, TILE_MODE) |
            ~Cat(view(TILE_MODE, w).encoding == e for e in encodings).any(),
            TileReg.ADC_RANGE: lambda w: outside(w, 1, (1 << self._range_bits) - 1),
            **bank.value_checks(),
        }

    def _configuration(self, m, write, wdata):
        """ROWS_USED, COLS_USED (and COLS_USED - 1), MODE's fields and ADC_RANGE, stored on their write strobes."""
        cfg = SimpleNamespace(rows_used=Signal(range(self._rows + 1), init=self._rows),
                              cols_used=Signal(range(self._columns + 1), init=self._columns),
                              last_ch=Signal(range(self._columns), init=self._columns - 1),
                              raw=Signal(), auto=Signal(), encoding=Const(self._encodings[0], InputEncoding))
        mode = view(TILE_MODE, wdata)
        if len(self._encodings) > 1:    # with one encoding, only it can have been written: MODE reads it back
            cfg.encoding = Signal(InputEncoding, init=self._encodings[0])
        with m.If(write.rows_used):
            m.d.sync += cfg.rows_used.eq(wdata)
        with m.If(write.cols_used):
            m.d.sync += [cfg.cols_used.eq(wdata), cfg.last_ch.eq(wdata[:len(cfg.cols_used)] - 1)]
        with m.If(write.mode):
            m.d.sync += [cfg.raw.eq(mode.raw), cfg.auto.eq(mode.autostart)]
            if len(self._encodings) > 1:
                m.d.sync += cfg.encoding.eq(mode.encoding)
        with m.If(write.adc_range):
            m.d.sync += self.adc_range.eq(wdata)
        return cfg

    def _encoder_slot(self, m, x, start, encoding):
        """Every implemented input encoder, fed the buffered vector and started when MODE selects it; returns the
        selected encoder's outputs (MODE changes only between MVMs)."""
        selected = {}
        for e in self._encodings:
            m.submodules[f"encoder_{e.name.lower()}"] = enc = ENCODERS[e](rows=self._rows, b_in=self._fmt.b_in)
            chosen = encoding == e if len(self._encodings) > 1 else Const(1, 1)
            m.d.comb += [enc.x.eq(x), enc.adc_done.eq(self.adc_done), enc.start.eq(start & chosen)]
            for name in ("wl", "pulse", "adc_start", "code_valid", "first", "last"):
                port = getattr(enc, name)
                selected[name] = Mux(chosen, port, selected[name]) if name in selected else port
        return SimpleNamespace(**selected)

    def _counters(self, m, raw, busy):
        """The saturating event counters (SAT_*, MVM_COUNT, BUSY_CYCLES) of the used columns' events."""
        def used(flags, valid, name):
            # Flags of used columns, counted in the cycles they are valid.
            count = popcount(m, flags & self.col_mask, name)
            return Mux(valid, count, Const(0, len(count)))

        sa_step = Signal()      # the shift-and-add's saturation flags describe the step of the previous cycle
        m.d.sync += sa_step.eq(self.sa_valid)
        increments = {
            TileReg.SAT_ADC_LOW: used(self.adc_rail_low, self.adc_done, "rail_low_used"),
            TileReg.SAT_ADC_HIGH: used(self.adc_rail_high, self.adc_done, "rail_high_used"),
            TileReg.SAT_ACC: used(self.sa_saturated, sa_step, "acc_sat_used"),
            TileReg.SAT_BN: self.bn.o_valid & self.bn.o_saturated & ~raw,
            TileReg.MVM_COUNT: self.done,
            TileReg.BUSY_CYCLES: busy,
        }
        m.submodules.counters = counters = EventCounters({r.name.lower(): len(v) for r, v in increments.items()})
        m.d.comb += [counters.inc[r.name.lower()].eq(v) for r, v in increments.items()]
        return counters

    def _readout(self, m, queue, issue, raw, last_ch):
        """The used columns' accumulators, one per issued channel, into the BN unit or (RAW) the output queue."""
        bn, beat = self.bn, queue.w_data
        m.d.comb += [queue.issue.eq(issue), bn.i_valid.eq(issue & ~raw),
                     bn.i_acc.eq(mux_tree([self.acc[j] for j in range(self._columns)], bn.i_channel))]
        with m.If(raw):
            m.d.comb += [queue.w_en.eq(issue), beat.data.eq(bn.i_acc), beat.channel.eq(bn.i_channel),
                         beat.last.eq(bn.i_channel == last_ch)]
        with m.Else():
            m.d.comb += [queue.w_en.eq(bn.o_valid), beat.data.eq(bn.o_y), beat.channel.eq(bn.o_channel),
                         beat.last.eq(bn.o_channel == last_ch)]
        m.d.comb += self.done.eq(self.out.valid & self.out.ready & self.out.payload.last)

    def elaborate(self, platform):
        m = Module()
        fmt = self._fmt
        m.submodules.bn_regs = bank = self._bn_regs
        m.submodules.regs = regs = RegisterFile(
            TileReg, read_only=TILE_READ_ONLY, write_only=TILE_WRITE_ONLY, locked=TILE_CONFIG,
            checks=self._value_checks(bank), errors=TileErr, error_register=TileReg.ERRORS,
            illegal_flag=TileErr.ILLEGAL_ADDRESS, locked_flag=TileErr.WRITE_WHILE_BUSY,
            bad_value_flag=TileErr.BAD_VALUE, owner_flags=(TileErr.START_WHILE_BUSY, TileErr.ADC_START_ERROR))
        m.submodules.buffer = buf = ActivationBuffer(rows=self._rows, b_in=fmt.b_in, acts_per_beat=self._apb)
        m.submodules.queue = queue = OutputQueue(layout=self.out_layout, depth=self.out_depth)
        wiring.connect(m, host=flipped(self.bus), regs=regs.bus)
        wiring.connect(m, source=flipped(self.act), buffer=buf.act)
        wiring.connect(m, queue=queue.out, sink=flipped(self.out))

        # -- registers ------------------------------------------------------------------------------------------------
        write, wdata = regs.write, self.bus.wdata
        cfg = self._configuration(m, write, wdata)
        m.d.comb += [bank.wdata.eq(wdata), *(bank.write[r.name.lower()].eq(write[r.name.lower()])
                                             for r in bank.registers())]
        m.d.comb += [getattr(self.bn, name).eq(getattr(bank.bn, name)) for name in bank.bn.signature.members]
        m.d.comb += [buf.rows_used.eq(cfg.rows_used), self.error.eq(regs.errors.any()),
                     self.col_mask.eq(Cat(Const(j, range(self._columns + 1)) < cfg.cols_used
                                          for j in range(self._columns)))]

        # -- sequencing -----------------------------------------------------------------------------------------------
        state, armed, done_flag = Signal(_State, name="state"), Signal(name="armed"), Signal(name="done_flag")
        issue_ch = self.bn.i_channel
        mvm_busy, start, start_req, e_start, issue = Signal(), Signal(), Signal(), Signal(), Signal()
        m.d.comb += [mvm_busy.eq((state != _State.IDLE) | armed), buf.hold.eq(state == _State.READ),
                     regs.busy.eq(mvm_busy | queue.draining | (buf.fill != 0)),
                     self.active.eq(regs.busy | self.bus.we | self.bus.re | self.act.valid)]
        with m.If(write.ctrl):
            m.d.comb += [start_req.eq(flag(wdata, TileCtrl.START) & ~mvm_busy & ~cfg.auto),
                         e_start.eq(flag(wdata, TileCtrl.START) & (mvm_busy | cfg.auto)),
                         regs.clear.eq(flag(wdata, TileCtrl.CLEAR_ERRORS))]
        with m.If(start_req):
            m.d.sync += armed.eq(1)
        enc = self._encoder_slot(m, buf.x, start, cfg.encoding)
        m.d.comb += [self.wl.eq(enc.wl & buf.in_use), self.pulse.eq(enc.pulse), self.adc_start.eq(enc.adc_start)]
        with m.If(state == _State.IDLE):
            with m.If((armed | cfg.auto) & buf.full):
                m.d.sync += [state.eq(_State.READ), armed.eq(0), done_flag.eq(0)]
                m.d.comb += [start.eq(1), buf.consume.eq(1)]
        with m.Elif(state == _State.READ):
            with m.If(enc.code_valid):
                m.d.comb += [self.sa_valid.eq(1), self.sa_clear.eq(enc.first)]
                with m.If(enc.last):
                    m.d.sync += [state.eq(_State.READOUT), issue_ch.eq(0)]
        with m.Elif(state == _State.READOUT):
            m.d.comb += issue.eq(queue.credit)
            with m.If(issue):
                m.d.sync += issue_ch.eq(issue_ch + 1)
                with m.If(issue_ch == cfg.last_ch):
                    m.d.sync += state.eq(_State.IDLE)
        self._readout(m, queue, issue, cfg.raw, cfg.last_ch)
        with m.If(self.done):
            m.d.sync += done_flag.eq(1)

        # -- counters, error flags and read values ---------------------------------------------------------------------
        counters = self._counters(m, cfg.raw, mvm_busy | queue.draining)
        with m.If(write.ctrl):
            m.d.comb += counters.clear.eq(flag(wdata, TileCtrl.CLEAR_COUNTERS))
        m.d.comb += [regs.flags.start_while_busy.eq(e_start), regs.flags.adc_start_error.eq(self.adc_start_err)]
        status = view(TILE_STATUS, regs.read.status)
        mode = view(TILE_MODE, regs.read.mode)
        m.d.comb += [status.busy.eq(mvm_busy), status.done.eq(done_flag), status.armed.eq(armed),
                     status.full.eq(buf.full), status.draining.eq(queue.draining), status.state.eq(state),
                     status.buffered.eq(buf.fill),
                     mode.raw.eq(cfg.raw), mode.autostart.eq(cfg.auto), mode.encoding.eq(cfg.encoding)]
        values = {TileReg.ID: TILE_ID, TileReg.GEOMETRY: self._geometry, TileReg.FORMAT: self._format,
                  TileReg.ROWS_USED: cfg.rows_used, TileReg.COLS_USED: cfg.cols_used,
                  TileReg.ADC_RANGE: self.adc_range,
                  **{r: bank.read[r.name.lower()] for r in bank.registers()},
                  **{r: counters.count[r.name.lower()] for r in _COUNTERS}}
        m.d.comb += [regs.read[r.name.lower()].eq(v) for r, v in values.items()]
        return m
