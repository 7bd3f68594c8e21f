"""cocotb testbench of the BN unit (rtl/bn_unit.py) against the golden model's bn_requantise."""

import logging
from collections import deque

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from neurophase.model.arith import PeripheryFormat, bn_requantise
from neurophase.model.checks import signed_range
from neurophase.tb.common import CLOCK_NS, reset, start_clock, timeout_ns
from neurophase.tb.runner import params, run_cocotb

# Parameter sets of the pytest launcher and of `neurophase coverage`: the default widths (B_in 8) and a narrow one.
CASES = {
    "in8_default": dict(channels=16),
    "in4_narrow": dict(channels=8, b_in=4, b_adc=6, acc_bits=14, scale_bits=8, bias_bits=16, shift_max=15,
                       out_bits=10),
}
TOPLEVEL = "np_bn_unit"
FMT_FIELDS = ("b_in", "b_adc", "acc_bits", "scale_bits", "bias_bits", "shift_max", "out_bits")


def fmt_of(p):
    return PeripheryFormat(**{k: v for k, v in p.items() if k in FMT_FIELDS})


def run_case(sim, case, *, coverage=False):
    """Build and run every test of this module for parameter set ``case`` on ``sim``."""
    from neurophase.rtl.bn_unit import BnUnit
    p = CASES[case]
    return run_cocotb(component=BnUnit(channels=p["channels"], fmt=fmt_of(p)), toplevel=TOPLEVEL,
                      test_module=__name__, sim=sim, parameters=p, case=case, coverage=coverage)


class BnTB:
    """Driver (parameter writes and inputs, one cycle each), monitor (outputs), scoreboard (bn_requantise)."""

    LATENCY = 3

    def __init__(self, dut):
        self.dut = dut
        self.p = params()
        self.fmt = fmt_of(self.p)
        self.channels = self.p["channels"]
        self.log = logging.getLogger("tb.bn_unit")
        self.rng = np.random.default_rng(self.p.get("seed", 11))
        # Scoreboard's view of the parameter memory (the RTL's memory is not reset, neither is this).
        self.scale = np.zeros(self.channels, dtype=np.int64)
        self.bias = np.zeros(self.channels, dtype=np.int64)
        self.expected = deque()
        self.got = deque()
        self.checked = 0

    async def start(self):
        await start_clock(self.dut)
        self.idle()
        for name in ("shift", "relu", "last"):
            getattr(self.dut, name).value = 0
        await reset(self.dut)
        cocotb.start_soon(self._monitor())

    def idle(self):
        self.dut.param_we.value = 0
        self.dut.i_valid.value = 0

    # -- monitor -----------------------------------------------------------------------------------------------------
    async def _monitor(self):
        d = self.dut
        while True:
            await RisingEdge(d.clk)
            await ReadOnly()
            if int(d.o_valid.value):
                self.got.append((get_sim_time(unit="ns"), int(d.o_channel.value.to_unsigned()),
                                 int(d.o_y.value.to_signed()), int(d.o_saturated.value)))

    # -- driver ------------------------------------------------------------------------------------------------------
    async def drive(self, cycles):
        """Drive one cycle per entry: ``{"write": (ch, scale, bias), "input": (ch, acc, shift, relu, last)}``,
        either key optional; then let the pipeline drain and check every output."""
        d = self.dut
        for cycle in cycles:
            await FallingEdge(d.clk)
            edge = get_sim_time(unit="ns") + CLOCK_NS / 2
            self.idle()
            if "input" in cycle:
                ch, acc, shift, relu, last = cycle["input"]
                self.present_input(ch, acc, shift, relu, last)
                # Latency counts cycles from the input cycle to the output cycle: LATENCY - 1 edges after sampling.
                self.expect(edge + (self.LATENCY - 1) * CLOCK_NS, ch, acc, shift, relu, last)
            if "write" in cycle:
                ch, scale, bias = cycle["write"]
                d.param_we.value, d.param_channel.value = 1, ch
                d.param_scale.value, d.param_bias.value = scale, bias
                self.scale[ch], self.bias[ch] = scale, bias   # after the input: same-cycle inputs see old values
        await FallingEdge(d.clk)
        self.idle()
        await ClockCycles(d.clk, self.LATENCY + 1)
        self.check()

    def present_input(self, ch, acc, shift, relu, last):
        d = self.dut
        d.i_valid.value, d.i_channel.value, d.i_acc.value = 1, ch, acc
        d.shift.value, d.relu.value, d.last.value = shift, relu, last

    async def write_params(self, scale, bias):
        await self.drive([{"write": (ch, int(s), int(b))} for ch, (s, b) in enumerate(zip(scale, bias))])

    async def write_random_params(self, extreme=False):
        await self.write_params(self.random_signed(self.fmt.scale_bits, self.channels, extreme),
                                self.random_signed(self.fmt.bias_bits, self.channels, extreme))

    # -- scoreboard --------------------------------------------------------------------------------------------------
    def expect(self, t, ch, acc, shift, relu, last):
        y, sats = bn_requantise(np.array([acc]), self.scale[[ch]], self.bias[[ch]], shift, self.fmt,
                                relu=bool(relu), last=bool(last))
        self.expected.append((t, ch, int(y[0]), int(sats), (acc, shift, relu, last)))

    def check(self):
        assert len(self.got) == len(self.expected), \
            f"{len(self.got)} outputs for {len(self.expected)} inputs"
        while self.expected:
            t, ch, y, sat, stim = self.expected.popleft()
            got = self.got.popleft()
            assert got == (t, ch, y, sat), \
                f"input (acc, shift, relu, last)={stim} ch {ch}: got (t, ch, y, sat)={got}, want {(t, ch, y, sat)}"
            self.checked += 1

    # -- stimulus ----------------------------------------------------------------------------------------------------
    def signed_range(self, bits):
        return signed_range(bits)

    def random_signed(self, bits, n, extreme=False):
        lo, hi = self.signed_range(bits)
        if extreme:
            return self.rng.choice([lo, lo + 1, -1, 0, 1, hi - 1, hi], n)
        # Mix of full-range and small values, so both saturating and in-range outputs occur.
        full = self.rng.integers(lo, hi + 1, n)
        small = self.rng.integers(-(1 << min(bits - 1, 6)), 1 << min(bits - 1, 6), n)
        return np.where(self.rng.random(n) < 0.5, full, small)

    def random_inputs(self, n, extreme=False, p_gap=0.2):
        acc = self.random_signed(self.fmt.acc_bits, n, extreme)
        cycles = []
        for a in acc:
            if self.rng.random() < p_gap:
                cycles.append({})
            cycles.append({"input": (int(self.rng.integers(self.channels)), int(a),
                                     int(self.rng.integers(self.fmt.shift_max + 1)),
                                     int(self.rng.integers(2)), int(self.rng.integers(2)))})
        return cycles


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def random_inputs_match_golden(dut):
    tb = BnTB(dut)
    await tb.start()
    for _ in range(3):
        await tb.write_random_params()
        await tb.drive(tb.random_inputs(80))
    tb.log.info("checked %d outputs", tb.checked)


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def extreme_values_saturate_like_golden(dut):
    tb = BnTB(dut)
    await tb.start()
    for _ in range(3):
        await tb.write_random_params(extreme=True)
        await tb.drive(tb.random_inputs(60, extreme=True, p_gap=0))


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def every_shift_rounds_ties_half_up(dut):
    tb = BnTB(dut)
    await tb.start()
    f = tb.fmt
    bias_lo, bias_hi = tb.signed_range(f.bias_bits)
    for r in range(f.shift_max + 1):
        # acc * 1 + bias lands exactly on, just below and just above the rounding ties k * 2^r - 2^(r-1).
        ties = [k * (1 << r) - ((1 << r) >> 1) for k in (-1, 0, 1, 2)]
        bias = np.clip(ties, bias_lo, bias_hi)
        await tb.write_params(np.ones(4, dtype=np.int64), bias)
        await tb.drive([{"input": (ch, acc, r, relu, last)}
                        for ch in range(4) for acc in (-1, 0, 1) for relu, last in ((0, 1), (1, 0))])


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def parameter_write_applies_from_next_input(dut):
    tb = BnTB(dut)
    await tb.start()
    await tb.write_params(np.full(tb.channels, 3), np.zeros(tb.channels, dtype=np.int64))
    cycles = []
    for _ in range(40):
        ch = int(tb.rng.integers(tb.channels))
        s, b = int(tb.random_signed(tb.fmt.scale_bits, 1)[0]), int(tb.random_signed(tb.fmt.bias_bits, 1)[0])
        acc = int(tb.random_signed(tb.fmt.acc_bits, 1)[0])
        # Input and write to the same channel in one cycle (old parameters), then inputs right after it (new ones).
        cycles += [{"write": (ch, s, b), "input": (ch, acc, 2, 0, 1)}, {"input": (ch, acc, 2, 0, 1)},
                   {"input": (ch, -acc, 0, 1, 0)}]
    await tb.drive(cycles)


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def reset_mid_stream_flushes_pipeline_keeps_parameters(dut):
    tb = BnTB(dut)
    await tb.start()
    await tb.write_random_params()
    for entry in tb.random_inputs(tb.LATENCY, p_gap=0):
        await FallingEdge(dut.clk)
        tb.present_input(*entry["input"])
    # Reset arrives with the last input: every input is still inside the pipeline.
    await reset(dut)
    tb.idle()
    await ClockCycles(dut.clk, tb.LATENCY + 1)
    assert not tb.got, f"outputs of inputs flushed by reset appeared: {list(tb.got)}"
    await tb.drive(tb.random_inputs(40))
