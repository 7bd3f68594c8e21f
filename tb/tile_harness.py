"""Simulation top of the tile testbench: Tile + behavioural comparator bank + stream source and capture sink.

Ref: docs/architecture.md §5 (crossbar stand-in), D8 (PWM reads). Not chip RTL: it exists so Python acts once per
read and once per MVM, never once per clock. Python loads a whole activation vector (``act_vector``, ``act_count``,
``act_load``) and the source streams it into the tile beat by beat; Python writes each read's integer current
codes into ``icode`` and the comparator bank (tb/hdl/comparator_bank.v) answers the SAR ADCs every cycle. With
``pwm`` set (the tile reads by pulse-width modulation), a PWM checker (tb/hdl/pwm_check.v) counts every wordline's
driven cycles in the read's window against the widths Python writes into ``wl_width`` (``pwm_reads`` windows
checked, ``pwm_errors`` violations), and the comparators see the positive rail instead of ``icode`` while the window
integrates and in the conversion's sampling cycle (tb/pwm_check.py); the sink
shifts every output beat into ``cap_data`` (the last beat ends in the top lane) and ``cap_done`` rises the cycle
after an MVM's last beat. ``throttle`` bit 0 inserts pseudo-random gaps in the input stream, bit 1 pseudo-random
back-pressure on the output stream. ``cap_order_err`` is sticky: a beat arrived with a channel or ``last`` flag out
of sequence.
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, flipped

from neurophase.model.adc import AdcConfig
from neurophase.rtl.tile import Tile
from neurophase.rtl.regfile import RegisterBus
from neurophase.tb import HDL_DIR
from neurophase.tb.pwm_check import PWM_CHECK_V, PwmWindow

__all__ = ["TileHarness", "COMPARATOR_BANK_V", "HDL_SOURCES"]

COMPARATOR_BANK_V = HDL_DIR / "comparator_bank.v"
HDL_SOURCES = (COMPARATOR_BANK_V, PWM_CHECK_V)


class TileHarness(wiring.Component):
    def __init__(self, *, rows, columns, columns_per_adc, fmt, acts_per_beat, frac_bits=8):
        self.tile = Tile(rows=rows, columns=columns, columns_per_adc=columns_per_adc, fmt=fmt,
                         acts_per_beat=acts_per_beat)
        adc = AdcConfig(bits=fmt.b_adc, frac_bits=frac_bits)
        self.icode_bits = adc.current_code_bits
        self.frac_bits = frac_bits
        self.pwm_window = PwmWindow(fmt.b_in)
        self.charging_code = PwmWindow.charging_code(adc)
        self.data_bits = self.tile.out.payload.shape()["data"].shape.width
        super().__init__({
            "bus": In(RegisterBus()),
            "act_vector": In(rows * fmt.b_in),
            "act_count": In(range(rows + 1)),
            "act_load": In(1),
            "act_busy": Out(1),
            "throttle": In(2),
            "icode": In(columns * self.icode_bits),
            "pwm": In(1),
            "wl_width": In(rows * self.pwm_window.width_bits),
            "pwm_reads": Out(32),
            "pwm_errors": Out(32),
            "cap_data": Out(columns * self.data_bits),
            "cap_done": Out(1),
            "cap_order_err": Out(1),
            "done": Out(1),
            "error": Out(1),
            "wl": Out(rows),
            "pulse": Out(1),
            "adc_range": Out(self.tile.adc_range.shape()),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.tile = tile = self.tile
        wiring.connect(m, host=flipped(self.bus), tile=tile.bus)
        m.d.comb += [self.done.eq(tile.done), self.error.eq(tile.error), self.wl.eq(tile.wl),
                     self.pulse.eq(tile.pulse), self.adc_range.eq(tile.adc_range)]

        # A PWM read's wordlines checked; its code reaches the comparators only after the window.
        charging = Signal()
        m.submodules.pwm_check = Instance(
            "np_pwm_check", **self.pwm_window.checker_parameters(tile.rows),
            i_clk=ClockSignal(), i_clear=0, i_enable=self.pwm, i_pulse=tile.pulse, i_wl=tile.wl, i_width=self.wl_width,
            o_charging=charging, o_reads=self.pwm_reads, o_errors=self.pwm_errors)
        rail = Cat(Const(self.charging_code, self.icode_bits) for _ in range(tile.columns))
        icode = Mux(charging, rail, self.icode)

        # One comparator bank per ADC, for simulation speed (see rtl/tile.py on one process per ADC).
        cpa, b = tile.columns_per_adc, tile.fmt.b_adc
        for k in range(tile.n_adc):
            m.submodules[f"comparators{k}"] = Instance(
                "np_comparator_bank",
                p_COLUMNS=cpa, p_COLUMNS_PER_ADC=cpa, p_B_ADC=b, p_FRAC_BITS=self.frac_bits,
                p_ICODE_BITS=self.icode_bits,
                i_icode=icode[k * cpa * self.icode_bits:][:cpa * self.icode_bits],
                i_dac_code=tile.dac_code[k], i_col_sel=tile.col_sel if cpa > 1 else 0,
                o_comparator=tile.comparator[k])

        # 16-bit Fibonacci LFSR (taps 16, 14, 13, 11): a reproducible stream of gaps and stalls.
        lfsr = Signal(16, init=0xACE1)
        m.d.sync += lfsr.eq(Cat(lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10], lfsr[:15]))

        # Source: shift the loaded vector out, acts_per_beat activations per beat.
        beat_bits = tile.acts_per_beat * tile.fmt.b_in
        vector = Signal(len(self.act_vector))
        left = Signal(range(tile.rows + 1))
        m.d.comb += [self.act_busy.eq(left != 0), tile.act.payload.eq(vector[:beat_bits]),
                     tile.act.valid.eq((left != 0) & ~(self.throttle[0] & lfsr[3]))]
        with m.If(self.act_load & (left == 0)):
            m.d.sync += [vector.eq(self.act_vector), left.eq(self.act_count)]
        with m.Elif(tile.act.valid & tile.act.ready):
            m.d.sync += [vector.eq(vector >> beat_bits),
                         # the last beat may carry fewer activations than lanes
                         left.eq(Mux(left > tile.acts_per_beat, left - tile.acts_per_beat, 0))]

        # Sink: shift captured beats in from the top; check channel order and the last flag.
        beat = tile.out.payload
        expect = Signal(range(tile.columns + 1))
        m.d.comb += tile.out.ready.eq(~(self.throttle[1] & lfsr[7]))
        m.d.sync += self.cap_done.eq(tile.done)
        with m.If(tile.out.valid & tile.out.ready):
            m.d.sync += self.cap_data.eq(Cat(self.cap_data[self.data_bits:], beat.data))
            with m.If((beat.channel != expect) | (beat.last != tile.done)):
                m.d.sync += self.cap_order_err.eq(1)
            m.d.sync += expect.eq(Mux(beat.last, 0, expect + 1))
        return m

