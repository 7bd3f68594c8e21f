"""cocotb testbench of the SAR ADC array (rtl/adc_sar.py) against model/adc.py (convert_sar, convert, rail_hits).

The device under test is :class:`SarAdcHarness`: the SAR controllers wired to the behavioural comparator bank
(tb/hdl/comparator_bank.v), so Python writes the integer current codes once per conversion and never per clock.
"""

import logging

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from neurophase.model.adc import AdcConfig, convert, convert_sar, current_code, rail_hits, sar_threshold
from neurophase.model.interface import pack_lanes, unpack_lanes
from neurophase.tb.common import CLOCK_NS, reset, start_clock, timeout_ns
from neurophase.tb.runner import params, run_cocotb
from neurophase.tb import HDL_DIR

COMPARATOR_BANK = HDL_DIR / "comparator_bank.v"

# Parameter sets of the pytest launcher and of `neurophase coverage`: dedicated and shared ADCs, two code widths.
CASES = {
    "b8_cpa1": dict(columns=16, columns_per_adc=1, b_adc=8, frac_bits=8),
    "b6_cpa4": dict(columns=16, columns_per_adc=4, b_adc=6, frac_bits=4),
}
TOPLEVEL = "np_sar_adc_tb"


def harness(p):
    """The device under test for parameter set ``p`` (elaborated only when a test runs, never at import)."""
    from amaranth.hdl import Const, Instance, Module
    from amaranth.lib import data, wiring
    from amaranth.lib.wiring import In, Out

    from neurophase.rtl.adc_sar import SarAdcArray

    cfg = AdcConfig(bits=p["b_adc"], frac_bits=p["frac_bits"])

    class SarAdcHarness(wiring.Component):
        """SarAdcArray plus np_comparator_bank: the column currents come in as integer current codes."""

        def __init__(self):
            self.adc = SarAdcArray(columns=p["columns"], columns_per_adc=p["columns_per_adc"], b_adc=p["b_adc"])
            super().__init__({
                "icode": In(p["columns"] * cfg.current_code_bits),
                "start": In(1), "busy": Out(1), "done": Out(1), "start_err": Out(1),
                "dac_code": Out(data.ArrayLayout(cfg.bits, self.adc.n_adc)),
                "code": Out(data.ArrayLayout(cfg.bits, p["columns"])),
                "rail_low": Out(p["columns"]), "rail_high": Out(p["columns"]),
            })

        def elaborate(self, platform):
            m = Module()
            m.submodules.adc = adc = self.adc
            col_sel = adc.col_sel if p["columns_per_adc"] > 1 else Const(0, 1)
            m.submodules.comparators = Instance(
                "np_comparator_bank",
                p_COLUMNS=p["columns"], p_COLUMNS_PER_ADC=p["columns_per_adc"], p_B_ADC=cfg.bits,
                p_FRAC_BITS=cfg.frac_bits, p_ICODE_BITS=cfg.current_code_bits,
                i_icode=self.icode, i_dac_code=adc.dac_code, i_col_sel=col_sel, o_comparator=adc.comparator)
            m.d.comb += [adc.start.eq(self.start), self.busy.eq(adc.busy), self.done.eq(adc.done),
                         self.start_err.eq(adc.start_err), self.dac_code.eq(adc.dac_code),
                         self.code.eq(adc.code), self.rail_low.eq(adc.rail_low), self.rail_high.eq(adc.rail_high)]
            return m

    return SarAdcHarness()


def run_case(sim, case, *, coverage=False):
    """Build and run every test of this module for parameter set ``case`` on ``sim``."""
    p = CASES[case]
    return run_cocotb(component=harness(p), toplevel=TOPLEVEL, test_module=__name__, sim=sim, parameters=p,
                      case=case, extra_sources=[COMPARATOR_BANK], coverage=coverage)


def _bits(value, n):
    return np.array([(int(value) >> i) & 1 for i in range(n)], dtype=bool)


class SarAdcTB:
    """Driver (current codes and start pulses), monitors (done timing, start_err pulses), scoreboard (model/adc.py)."""

    def __init__(self, dut):
        self.dut = dut
        self.p = params()
        self.columns, self.cpa = self.p["columns"], self.p["columns_per_adc"]
        self.cfg = AdcConfig(bits=self.p["b_adc"], frac_bits=self.p["frac_bits"])
        self.latency = self.cpa * self.cfg.bits + 1    # cycles from the start cycle to the done cycle
        self.log = logging.getLogger("tb.adc_sar")
        self.rng = np.random.default_rng(self.p.get("seed", 7))
        self.errors_seen = 0
        self.checked = 0

    async def start(self):
        await start_clock(self.dut)
        self.dut.start.value = 0
        self.dut.icode.value = 0
        await reset(self.dut)
        cocotb.start_soon(self._count_start_errors())

    # -- monitors ----------------------------------------------------------------------------------------------------
    async def _count_start_errors(self):
        while True:
            await RisingEdge(self.dut.start_err)
            self.errors_seen += 1

    def sample(self):
        """Codes and rail flags as the DUT shows them (call in ReadOnly)."""
        d = self.dut
        return (unpack_lanes(d.code.value.to_unsigned(), self.cfg.bits, self.columns),
                _bits(d.rail_low.value.to_unsigned(), self.columns),
                _bits(d.rail_high.value.to_unsigned(), self.columns))

    # -- driver ------------------------------------------------------------------------------------------------------
    async def pulse_start(self, currents=None):
        """On the next falling edge: present ``currents`` (A) as current codes and pulse start for one cycle.

        Returns the simulated time (ns) of the rising edge that samples start."""
        await FallingEdge(self.dut.clk)
        if currents is not None:
            self.dut.icode.value = pack_lanes(current_code(currents, self.cfg), self.cfg.current_code_bits)
        self.dut.start.value = 1
        await RisingEdge(self.dut.clk)
        t = get_sim_time(unit="ns")
        self.dut.start.value = 0
        return t

    async def convert(self, currents):
        """One conversion: start on the next falling edge, wait for done, check it; returns the done edge time."""
        t0 = await self.pulse_start(currents)
        return await self.finish(currents, t0)

    async def finish(self, currents, t0):
        await RisingEdge(self.dut.done)
        t1 = get_sim_time(unit="ns")
        await ReadOnly()
        self.check(currents, *self.sample())
        cycles = round((t1 - t0) / CLOCK_NS) + 1
        assert cycles == self.latency, f"done {cycles} cycles after start, documented latency {self.latency}"
        assert int(self.dut.busy.value) == 0, "busy still high with done"
        return t1

    # -- scoreboard --------------------------------------------------------------------------------------------------
    def check(self, currents, codes, low, high):
        want, _ = convert_sar(currents, self.cfg)
        assert np.array_equal(want, convert(currents, self.cfg)), "model: SAR reference disagrees with closed form"
        assert np.array_equal(codes, want), f"codes mismatch:\n got  {codes}\n want {want}"
        want_low, want_high = rail_hits(want, self.cfg)
        assert np.array_equal(low, want_low) and np.array_equal(high, want_high), \
            f"rail flags mismatch: low {low.astype(int)} want {want_low.astype(int)}, " \
            f"high {high.astype(int)} want {want_high.astype(int)}"
        self.checked += 1

    # -- stimulus ----------------------------------------------------------------------------------------------------
    def random_currents(self, span=1.2):
        return self.rng.uniform(-span, span, self.columns) * self.cfg.i_fs

    def currents_for_codes(self, icode):
        """Currents (A) whose current codes are exactly ``icode`` (half a code step above, so floor lands on it)."""
        currents = (np.asarray(icode, dtype=np.float64) + 0.5) * self.cfg.i_lsb / (1 << self.cfg.frac_bits)
        assert np.array_equal(current_code(currents, self.cfg), icode), "stimulus: current codes not exact"
        return currents


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def random_currents_convert_like_model(dut):
    tb = SarAdcTB(dut)
    await tb.start()
    for _ in range(25):
        await tb.convert(tb.random_currents())
    assert tb.errors_seen == 0, "start_err raised without a start while busy"
    tb.log.info("checked %d conversions", tb.checked)


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def currents_beyond_both_rails_give_rail_codes(dut):
    tb = SarAdcTB(dut)
    await tb.start()
    fs = tb.cfg.i_fs
    await tb.convert(np.full(tb.columns, 50 * fs))
    await tb.convert(np.full(tb.columns, -50 * fs))
    # Mixed: far beyond, just beyond and exactly at the rails, and zero current.
    pool = np.array([-50, -1.01, -1.0, -1 + 0.5 / (1 << (tb.cfg.bits - 1)), 0.0, 1 - 1.5 / (1 << (tb.cfg.bits - 1)),
                     1.0, 1.01, 50]) * fs
    for _ in range(6):
        await tb.convert(tb.rng.choice(pool, tb.columns))


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def exact_threshold_ties_round_half_up(dut):
    tb = SarAdcTB(dut)
    await tb.start()
    b = tb.cfg.bits
    for _ in range(6):
        # Every column sits exactly on (or one below) the threshold of a random DAC code, including the extremes.
        u = tb.rng.integers(0, 1 << b, tb.columns)
        u[:2] = (0, (1 << b) - 1)
        icode = sar_threshold(u, tb.cfg) - tb.rng.integers(0, 2, tb.columns)
        await tb.convert(tb.currents_for_codes(icode))


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def back_to_back_conversions_start_in_done_cycle(dut):
    tb = SarAdcTB(dut)
    await tb.start()
    currents = tb.random_currents()
    t0 = await tb.pulse_start(currents)
    for _ in range(8):
        t_done = await tb.finish(currents, t0)
        # Next conversion's currents and start in the done cycle: accepted at the next edge.
        currents = tb.random_currents(span=1.5)
        t0 = await tb.pulse_start(currents)
        assert round((t0 - t_done) / CLOCK_NS) == 1, "start in the done cycle was not sampled at the next edge"
    await tb.finish(currents, t0)
    assert tb.errors_seen == 0, "a start in the done cycle was flagged as start while busy"


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def start_while_busy_is_flagged_and_ignored(dut):
    tb = SarAdcTB(dut)
    await tb.start()
    currents = tb.random_currents()
    t0 = await tb.pulse_start(currents)
    await ClockCycles(dut.clk, tb.latency // 2)
    # A second start with different currents on the icode bus would corrupt the conversion, so only start moves.
    await tb.pulse_start()
    await tb.finish(currents, t0)
    assert tb.errors_seen == 1, f"start while busy raised start_err {tb.errors_seen} times, want once"
    await tb.convert(tb.random_currents())
    assert tb.errors_seen == 1


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def reset_mid_conversion_clears_and_recovers(dut):
    tb = SarAdcTB(dut)
    await tb.start()
    await tb.convert(np.full(tb.columns, tb.cfg.i_fs / 3))
    await tb.pulse_start(tb.random_currents())
    await ClockCycles(dut.clk, tb.latency // 2 + 1)
    await reset(dut)
    await ReadOnly()
    codes, low, high = tb.sample()
    assert int(dut.busy.value) == 0 and int(dut.done.value) == 0, "busy/done not cleared by reset"
    assert not codes.any() and not low.any() and not high.any(), "codes or rail flags not cleared by reset"
    assert dut.dac_code.value.to_unsigned() == 0, "DAC not idle after reset"
    await tb.convert(tb.random_currents())
