# Ref: docs/architecture.md §2 (bit-serial inputs, column ADCs), §4 (digital contract), §5 (tile controller).
import enum

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int
from neurophase.model.interface import (ADC_RANGE_STEP_A, BN_CTRL, TILE_ADDR_BITS, TILE_CONFIG, TILE_ID,
                                       TILE_MODE, TILE_READ_ONLY, WORD_BITS, TileErr, TileReg)
from neurophase.rtl.bn_unit import BnUnit
from neurophase.rtl.params import validating

__all__ = ["TileController", "RegisterBus"]


class RegisterBus(wiring.Signature):
    """Simple register bus, from the host's side: ``addr``, ``wdata``, ``we``, ``re`` out; ``rdata`` in.

    A write happens in the cycle ``we`` is high. ``rdata`` holds the register read in the cycle ``re`` was high from
    the next cycle on (until the next read).
    """

    def __init__(self):
        super().__init__({"addr": Out(TILE_ADDR_BITS), "wdata": Out(WORD_BITS), "we": Out(1), "re": Out(1),
                          "rdata": In(WORD_BITS)})


class _State(enum.IntEnum):
    IDLE = 0
    PLANE = 1        # wordlines driven; the ADC converts this plane
    READOUT = 2      # accumulators issued to the BN unit (or raw) one channel per cycle


class TileController(wiring.Component):
    """Tile controller: registers, activation buffer, bit-plane sequencing, ADC/shift-and-add/BN control, streams.

    Behaviour
    ---------
    *Registers* (word addresses, 32-bit data; RO read-only, RW read/write, W1C write 1 to clear):

    ============  ====  ==========================================================================================
    0x00 ID        RO   0x4E505431 ("NPT1")
    0x01 GEOMETRY  RO   rows [15:0], columns [31:16]
    0x02 FORMAT    RO   b_in [7:0], b_adc [15:8], acc_bits [23:16], activations per input beat [31:24]
    0x03 CTRL      W    bit 0 START (arm one MVM), bit 1 CLEAR_ERRORS, bit 2 CLEAR_COUNTERS; reads 0
    0x04 STATUS    RO   bit 0 busy (MVM armed or running), 1 done (sticky until the next MVM starts), 2 armed,
                        3 activation buffer full, 4 outputs draining, [9:8] state, [31:16] activations buffered
    0x05 ERRORS    W1C  sticky error flags, :class:`TileErr`
    0x06 ROWS_USED RW   wordlines used, 1..rows (reset: rows)
    0x07 COLS_USED RW   columns read out, 1..columns (reset: columns)
    0x08 BN_CTRL   RW   shift r [5:0] (0..shift_max), bit 8 ReLU, bit 9 last layer (signed output)
    0x09 MODE      RW   bit 0 RAW (stream accumulators, skip BN), bit 1 AUTOSTART; other bits must be 0
    0x0A ADC_RANGE RW   ADC full-scale current in units of ADC_RANGE_STEP_A (10 nA, model/interface.py), 1..2^range_bits-1; drives
                        the ``adc_range`` pin
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
    WRITE_WHILE_BUSY and is not applied; an out-of-range value sets BAD_VALUE and is not applied; START while an
    MVM is armed or running, or in AUTOSTART mode, sets START_WHILE_BUSY. ``error`` is high while any flag is set.

    *Activations* arrive on ``act``, ``acts_per_beat`` unsigned ``b_in``-bit activations per beat, row 0 first, into
    a ``rows x b_in`` buffer; lanes past ROWS_USED in the last beat are dropped. ``act.ready`` is low while the
    buffer is full or the wordlines are being driven.

    *An MVM* starts when the buffer holds ROWS_USED activations and START armed it (or AUTOSTART is set). For each
    bit-plane, MSB first: ``wl`` carries the plane's bit of every buffered activation (0 for unused rows) for
    ``adc_latency + 1`` cycles; ``pulse`` is high in the first of them, together with ``adc_start``; the plane's
    codes enter the shift-and-add (``sa_valid``, with ``sa_clear`` on the first plane) in the ADC's ``done``
    cycle. After the last plane the buffer is empty (it is read by shifting) and accepts the next vector, while
    the used columns are read out, one per cycle: into the BN unit (``bn.i_*``) whose results go to ``out``, or in
    RAW mode straight to ``out``. The next MVM's planes may start as soon as every channel has been issued.

    *Output*: one beat per channel, channel order, ``last`` on the final used channel; back-pressure is honoured
    by a credit counter on an output FIFO (``bn_latency + 2`` deep) so no BN result is ever lost. ``done`` pulses
    when the last beat of an MVM is accepted.

    Latency and throughput
    ----------------------
    Planes: ``b_in * (adc_latency + 1)`` cycles from the start, where ``adc_latency`` is the ADC array's ``start``
    to ``done`` time (``columns_per_adc * b_adc + 1`` for :class:`SarAdcArray`); the controller follows ``adc_done``.
    Readout: the first channel is issued the cycle after the last plane's ``adc_done``; its beat is on ``out``
    ``bn_latency + 1`` cycles later (1 in RAW mode); then one channel issued and one beat per cycle while
    ``out.ready`` is high. The next MVM's planes can start the cycle after the last channel is issued (through
    IDLE): back to back, one MVM per ``b_in * (adc_latency + 1) + COLS_USED + 1`` cycles when the next vector is
    loaded in time (``ceil(ROWS_USED / acts_per_beat)`` beats, accepted during the readout).

    Parameters
    ----------
    rows : wordlines (1..4096).
    columns : logical columns (1..256).
    fmt : :class:`neurophase.model.arith.PeripheryFormat` (b_in, b_adc, acc_bits, scale_bits, bias_bits <= 32,
        shift_max <= 63, out_bits).
    acts_per_beat : activations per input beat (1..rows).
    bn_latency : cycles from ``bn.i_valid`` to ``bn.o_valid`` (0..16).
    range_bits : width of the ADC_RANGE register and ``adc_range`` pin (1..32).
    adc_range_init : reset value of ADC_RANGE (1..2^range_bits-1).

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
    wl : Out(rows)
        Wordline enables of the current bit-plane (analog side).
    pulse : Out(1)
        One-cycle strobe at the start of each bit-plane (analog side).
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
                 range_bits=16, adc_range_init=1000):
        with validating(self):
            self._rows = check_int("rows", rows, 1, 4096)
            self._columns = check_int("columns", columns, 1, 256)
            if not isinstance(fmt, PeripheryFormat):
                raise ValueError(f"fmt must be a PeripheryFormat, got {fmt!r}")
            check_int("fmt.bias_bits", fmt.bias_bits, 2, WORD_BITS)
            check_int("fmt.scale_bits", fmt.scale_bits, 2, WORD_BITS)
            check_int("fmt.shift_max", fmt.shift_max, 0, 63)
            self._apb = check_int("acts_per_beat", acts_per_beat, 1, rows)
            check_int("acts_per_beat * b_in", acts_per_beat * fmt.b_in, 1, 4096)
            self._bn_latency = check_int("bn_latency", bn_latency, 0, 16)
            self._range_bits = check_int("range_bits", range_bits, 1, WORD_BITS)
            self._range_init = check_int("adc_range_init", adc_range_init, 1, (1 << range_bits) - 1)
        self._fmt = fmt
        self._data_bits = max(fmt.acc_bits, fmt.out_bits)
        self.out_layout = data.StructLayout({"data": signed(self._data_bits),
                                             "channel": unsigned(max(1, ceil_log2(columns))), "last": 1})
        super().__init__({
            "bus": In(RegisterBus()),
            "act": In(stream.Signature(data.ArrayLayout(unsigned(fmt.b_in), acts_per_beat))),
            "out": Out(stream.Signature(self.out_layout)),
            "done": Out(1),
            "error": Out(1),
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

    @property
    def out_depth(self):
        """Depth of the output FIFO, in credits: a beat holds one from its issue to its acceptance on ``out``,
        ``bn_latency`` + 2 cycles (BN pipeline, FIFO write), so this many keep one beat per cycle."""
        return self._bn_latency + 2

    def elaborate(self, platform):
        m = Module()
        fmt, rows, cols, apb = self._fmt, self._rows, self._columns, self._apb

        # -- configuration registers --------------------------------------------------------------------------------
        rows_used = Signal(range(rows + 1), init=rows)
        cols_used = Signal(range(cols + 1), init=cols)
        bn = self.bn
        shift, relu, last = bn.shift, bn.relu, bn.last
        raw, auto = Signal(), Signal()
        adc_range = self.adc_range
        bn_channel = Signal(range(cols))
        bn_scale, bn_bias = bn.param_scale, bn.param_bias
        errors = Signal(len(TileErr))
        counters = {r: Signal(WORD_BITS, name=r.name.lower()) for r in
                    (TileReg.SAT_ADC_LOW, TileReg.SAT_ADC_HIGH, TileReg.SAT_ACC, TileReg.SAT_BN, TileReg.MVM_COUNT, TileReg.BUSY_CYCLES)}
        m.d.comb += self.error.eq(errors.any())

        # -- state ----------------------------------------------------------------------------------------------------
        state = Signal(_State)
        armed = Signal()
        done_flag = Signal()
        plane = Signal(range(fmt.b_in))
        issue_ch = bn.i_channel
        pending = Signal(range(self.out_depth + 1))   # beats issued and not yet accepted on `out`
        fill = Signal(range(rows + apb + 1))          # activations buffered
        full = Signal()
        m.d.comb += full.eq(fill >= rows_used)
        last_ch = Signal(range(cols), init=cols - 1)     # COLS_USED - 1
        mvm_busy = Signal()
        locked = Signal()
        m.d.comb += [mvm_busy.eq((state != _State.IDLE) | armed),
                     locked.eq(mvm_busy | (pending != 0) | (fill != 0))]

        # -- register bus ---------------------------------------------------------------------------------------------
        bus = self.bus
        wdata = bus.wdata
        mapped = Signal()
        m.d.comb += mapped.eq(bus.addr <= max(TileReg))
        is_ro = Cat(bus.addr == r for r in TILE_READ_ONLY).any()
        is_cfg = Cat(bus.addr == r for r in TILE_CONFIG).any()
        # A write is applied only when it is legal: mapped, writable, not locked, in range.
        e_illegal, e_busy, e_bad, e_start = Signal(), Signal(), Signal(), Signal()
        bad = Signal()
        apply = Signal()
        m.d.comb += [e_illegal.eq((bus.we & (~mapped | is_ro)) | (bus.re & ~mapped)),
                     e_busy.eq(bus.we & mapped & is_cfg & locked),
                     e_bad.eq(bus.we & mapped & ~is_ro & ~e_busy & bad),
                     apply.eq(bus.we & mapped & ~is_ro & ~e_busy & ~bad)]

        def signed_fits(bits):
            # The bits from the value's sign bit up are all equal (a sign extension).
            top = wdata[bits - 1:]
            return top.all() | ~top.any()

        # If chains rather than m.Switch: each signal's process then covers every address (no incomplete case).
        at = {r: bus.addr == r for r in TileReg}
        checks = {
            TileReg.CTRL: wdata[3:].any(),
            TileReg.ROWS_USED: (wdata == 0) | (wdata > rows),
            TileReg.COLS_USED: (wdata == 0) | (wdata > cols),
            TileReg.BN_CTRL: (wdata[:6] > fmt.shift_max) | wdata[6:8].any() | wdata[10:].any(),
            TileReg.MODE: wdata[2:].any(),
            TileReg.ADC_RANGE: (wdata == 0) | (wdata >> self._range_bits).any(),
            TileReg.BN_CHANNEL: wdata >= cols,
        }
        # A WORD_BITS-wide field takes every value (its check would be a constant, left as dead logic).
        for reg, bits in ((TileReg.BN_SCALE, fmt.scale_bits), (TileReg.BN_BIAS, fmt.bias_bits)):
            if bits < WORD_BITS:
                checks[reg] = ~signed_fits(bits)
        m.d.comb += bad.eq(Cat(at[r] & c for r, c in checks.items()).any())

        start_req = Signal()
        clear_err = Signal(len(TileErr))
        clear_cnt = Signal()
        param_ch = bn.param_channel
        m.d.sync += bn.param_we.eq(0)
        with m.If(apply & at[TileReg.CTRL]):
            m.d.comb += [start_req.eq(wdata[0] & ~mvm_busy & ~auto), e_start.eq(wdata[0] & (mvm_busy | auto)),
                         clear_cnt.eq(wdata[2])]
            with m.If(wdata[1]):
                m.d.comb += clear_err.eq(~0)
        with m.If(apply & at[TileReg.ERRORS]):
            m.d.comb += clear_err.eq(wdata)
        with m.If(apply & at[TileReg.ROWS_USED]):
            m.d.sync += rows_used.eq(wdata)
        with m.If(apply & at[TileReg.COLS_USED]):
            m.d.sync += [cols_used.eq(wdata), last_ch.eq(wdata[:len(cols_used)] - 1)]
        with m.If(apply & at[TileReg.BN_CTRL]):
            m.d.sync += [shift.eq(wdata[:6]), relu.eq(wdata[8]), last.eq(wdata[9])]
        with m.If(apply & at[TileReg.MODE]):
            m.d.sync += [raw.eq(wdata[0]), auto.eq(wdata[1])]
        with m.If(apply & at[TileReg.ADC_RANGE]):
            m.d.sync += adc_range.eq(wdata)
        with m.If(apply & at[TileReg.BN_CHANNEL]):
            m.d.sync += bn_channel.eq(wdata)
        with m.If(apply & at[TileReg.BN_SCALE]):
            m.d.sync += bn_scale.eq(wdata)
        with m.If(apply & at[TileReg.BN_BIAS]):
            # The BN memory is written in the next cycle, from these registers.
            m.d.sync += [bn_bias.eq(wdata), bn.param_we.eq(1), param_ch.eq(bn_channel),
                         bn_channel.eq(Mux(bn_channel == cols - 1, 0, bn_channel + 1))]
        m.d.sync += errors.eq((errors & ~clear_err) | Cat(e_illegal, e_busy, e_bad, e_start, self.adc_start_err))

        status = Cat(mvm_busy, done_flag, armed, full, pending != 0, Const(0, 3), state,
                     Const(0, 6), fill)
        read_map = {
            TileReg.ID: TILE_ID,
            TileReg.GEOMETRY: Cat(Const(rows, 16), Const(cols, 16)),
            TileReg.FORMAT: Cat(Const(fmt.b_in, 8), Const(fmt.b_adc, 8), Const(fmt.acc_bits, 8), Const(apb, 8)),
            TileReg.STATUS: status,
            TileReg.ERRORS: errors,
            TileReg.ROWS_USED: rows_used,
            TileReg.COLS_USED: cols_used,
            TileReg.BN_CTRL: Cat(shift, Const(0, 6 - len(shift)) if len(shift) < 6 else Const(0, 0), Const(0, 2),
                             relu, last),
            TileReg.MODE: Cat(raw, auto),
            TileReg.ADC_RANGE: adc_range,
            TileReg.BN_CHANNEL: bn_channel,
            TileReg.BN_SCALE: bn_scale.as_signed(),
            TileReg.BN_BIAS: bn_bias.as_signed(),
            **counters,
        }
        with m.If(bus.re):
            m.d.sync += bus.rdata.eq(0)
            for reg, value in read_map.items():
                with m.If(at[reg]):
                    m.d.sync += bus.rdata.eq(value)

        # -- counters (saturating) -----------------------------------------------------------------------------------
        colmask = self.col_mask
        m.d.comb += colmask.eq(Cat(Const(j, range(cols + 1)) < cols_used for j in range(cols)))

        def popcount(expr, name):
            # Balanced adder tree: widths grow with the depth, not with the number of bits.
            bits = Signal(len(expr), name=name)
            m.d.comb += bits.eq(expr)
            terms = [bits[j] for j in range(len(bits))]
            while len(terms) > 1:
                terms = [terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k]
                         for k in range(0, len(terms), 2)]
            return terms[0]

        def count_used(flags, valid, name):
            # Flags of used columns counted in the cycles they are valid; the zero is WORD_BITS wide so the
            # counter's add has operands of equal width.
            return Mux(valid, popcount(flags & colmask, name), Const(0, WORD_BITS))

        sa_step = Signal()      # the shift-and-add's saturation flags describe the step of the previous cycle
        m.d.sync += sa_step.eq(self.sa_valid)
        increments = {
            TileReg.SAT_ADC_LOW: count_used(self.adc_rail_low, self.adc_done, "rail_low_used"),
            TileReg.SAT_ADC_HIGH: count_used(self.adc_rail_high, self.adc_done, "rail_high_used"),
            TileReg.SAT_ACC: count_used(self.sa_saturated, sa_step, "acc_sat_used"),
            TileReg.SAT_BN: bn.o_valid & bn.o_saturated & ~raw,
            TileReg.MVM_COUNT: self.done,
            TileReg.BUSY_CYCLES: mvm_busy | (pending != 0),
        }
        for reg, counter in counters.items():
            total = Signal(WORD_BITS + 1, name=f"{reg.name.lower()}_next")
            m.d.comb += total.eq(counter + increments[reg])     # the carry is the saturation flag
            with m.If(clear_cnt):
                m.d.sync += counter.eq(0)
            with m.Else():
                m.d.sync += counter.eq(Mux(total[WORD_BITS], (1 << WORD_BITS) - 1, total[:WORD_BITS]))

        # -- activation buffer: rows x b_in, read MSB first by shifting left once per plane ---------------------------
        buf = [Signal(fmt.b_in, name=f"act{i}") for i in range(rows)]
        beat = Signal(range(rows // apb + 2))
        accept = Signal()
        m.d.comb += [self.act.ready.eq(~full & (state != _State.PLANE)), accept.eq(self.act.valid & self.act.ready)]
        with m.If(accept):
            m.d.sync += [fill.eq(fill + apb), beat.eq(beat + 1)]
        for i, reg in enumerate(buf):
            with m.If(accept & (beat == i // apb) & (Const(i, range(rows + 1)) < rows_used)):
                m.d.sync += reg.eq(self.act.payload[i % apb])
        shift_planes = Signal()
        with m.If(shift_planes):
            m.d.sync += [reg.eq(Cat(Const(0, 1), reg[:-1])) for reg in buf]
        plane_bits = Cat(reg[-1] for reg in buf)

        # -- sequencing -----------------------------------------------------------------------------------------------
        with m.If(start_req):
            m.d.sync += armed.eq(1)
        m.d.comb += self.wl.eq(Mux(state == _State.PLANE, plane_bits, 0))
        pulse_next = Signal()
        m.d.sync += self.pulse.eq(pulse_next)
        m.d.comb += self.adc_start.eq(self.pulse)
        issue = Signal()
        with m.If(state == _State.IDLE):
            with m.If((armed | auto) & full):
                m.d.sync += [state.eq(_State.PLANE), plane.eq(0), armed.eq(0), done_flag.eq(0),
                             fill.eq(0), beat.eq(0)]
                m.d.comb += pulse_next.eq(1)
        with m.Elif(state == _State.PLANE):
            with m.If(self.adc_done):
                m.d.comb += [self.sa_valid.eq(1), self.sa_clear.eq(plane == 0), shift_planes.eq(1)]
                with m.If(plane == fmt.b_in - 1):
                    m.d.sync += [state.eq(_State.READOUT), issue_ch.eq(0)]
                with m.Else():
                    m.d.sync += plane.eq(plane + 1)
                    m.d.comb += pulse_next.eq(1)
        with m.Elif(state == _State.READOUT):
            m.d.comb += issue.eq(pending < self.out_depth)
            with m.If(issue):
                m.d.sync += issue_ch.eq(issue_ch + 1)
                with m.If(issue_ch == last_ch):
                    m.d.sync += state.eq(_State.IDLE)

        # -- readout: BN unit or raw accumulators into the output FIFO ------------------------------------------------
        m.d.comb += [bn.i_valid.eq(issue & ~raw),
                     bn.i_acc.eq(_mux_tree([self.acc[j] for j in range(cols)], issue_ch))]

        # Output FIFO: out_depth registers written in a circle; the head is read combinationally.
        depth = self.out_depth
        slots = [Signal(self.out_layout, name=f"out_slot{k}") for k in range(depth)]
        wp, rp = Signal(range(depth)), Signal(range(depth))
        count = Signal(range(depth + 1))
        w_en = Signal()
        w_beat = Signal(self.out_layout)
        with m.If(raw):
            m.d.comb += [w_en.eq(issue), w_beat.data.eq(bn.i_acc), w_beat.channel.eq(issue_ch),
                         w_beat.last.eq(issue_ch == last_ch)]
        with m.Else():
            m.d.comb += [w_en.eq(bn.o_valid), w_beat.data.eq(bn.o_y),
                         w_beat.channel.eq(bn.o_channel), w_beat.last.eq(bn.o_channel == last_ch)]
        for k, slot in enumerate(slots):
            with m.If(w_en & (wp == k)):
                m.d.sync += slot.eq(w_beat)
        popped = Signal()
        head = slots[0]
        for k, slot in enumerate(slots[1:], 1):
            head = Mux(rp == k, slot, head)
        m.d.comb += [self.out.valid.eq(count != 0), self.out.payload.eq(head),
                     popped.eq(self.out.valid & self.out.ready)]
        with m.If(w_en):
            m.d.sync += wp.eq(Mux(wp == depth - 1, 0, wp + 1))
        with m.If(popped):
            m.d.sync += rp.eq(Mux(rp == depth - 1, 0, rp + 1))
        m.d.sync += [count.eq(count + w_en - popped), pending.eq(pending + issue - popped)]
        m.d.comb += self.done.eq(popped & self.out.payload.last)
        with m.If(self.done):
            m.d.sync += done_flag.eq(1)
        return m


def _mux_tree(items, sel):
    """``items[sel]`` as a tree of 2:1 multiplexers on the bits of ``sel``.

    Exported as continuous assignments, which every simulator evaluates from time 0. An Array index becomes an
    ``always @*`` case statement instead, which Icarus does not run until one of its inputs changes: with constant
    inputs (an MVM of all-zero activations, say) its output stayed X.
    """
    level = list(items)
    for b in range(len(sel)):
        level = [Mux(sel[b], level[k + 1], level[k]) if k + 1 < len(level) else level[k]
                 for k in range(0, len(level), 2)]
    return level[0]
