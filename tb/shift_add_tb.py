"""cocotb testbench of the shift-and-add block (rtl/shift_add.py) against the golden model's shift_and_add."""

import logging

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from neurophase.model.arith import PeripheryFormat, shift_and_add
from neurophase.model.checks import signed_range
from neurophase.model.interface import pack_lanes, unpack_lanes
from neurophase.tb.common import reset, start_clock, timeout_ns
from neurophase.tb.runner import params


class ShiftAddTB:
    """Driver (applies bit-planes), monitor (samples acc and saturation flags), scoreboard (golden model)."""

    def __init__(self, dut):
        self.dut = dut
        self.p = params()
        self.lanes = self.p["lanes"]
        self.fmt = PeripheryFormat(b_in=self.p["b_in"], b_adc=self.p["b_adc"], acc_bits=self.p["acc_bits"])
        self.log = logging.getLogger("tb.shift_add")
        self.rng = np.random.default_rng(self.p.get("seed", 1))
        self.checked = 0

    async def start(self):
        await start_clock(self.dut)
        self.dut.valid.value = 0
        self.dut.clear.value = 0
        self.dut.code.value = 0
        await reset(self.dut)

    # -- driver ------------------------------------------------------------------------------------------------------
    async def drive_mvm(self, codes, back_to_back=False):
        """Apply the planes of one MVM (clear with the first plane); returns the saturation flags seen per plane."""
        flags = []
        for b in range(self.fmt.b_in):
            await FallingEdge(self.dut.clk)
            self.dut.code.value = pack_lanes(codes[b], self.fmt.b_adc)
            self.dut.valid.value = 1
            self.dut.clear.value = int(b == 0)
            await RisingEdge(self.dut.clk)
            await ReadOnly()
            flags.append(int(self.dut.saturated.value.to_unsigned()))
        if not back_to_back:
            await FallingEdge(self.dut.clk)
            self.dut.valid.value = 0
            self.dut.clear.value = 0
        return flags

    # -- monitor -----------------------------------------------------------------------------------------------------
    def sample_acc(self):
        return unpack_lanes(self.dut.acc.value.to_unsigned(), self.fmt.acc_bits, self.lanes)

    # -- scoreboard --------------------------------------------------------------------------------------------------
    def check(self, codes, acc, flags):
        want, want_sats = shift_and_add(codes, self.fmt)
        got_sats = sum(bin(f).count("1") for f in flags)
        assert np.array_equal(acc, want), f"acc mismatch:\n got  {acc}\n want {want}"
        assert got_sats == want_sats, f"saturation count {got_sats} != golden {want_sats}"
        self.checked += 1

    async def mvm_and_check(self, codes, back_to_back=False):
        flags = await self.drive_mvm(codes, back_to_back)
        if back_to_back:
            acc = self.sample_acc()  # still in ReadOnly after the last plane
        else:
            await ReadOnly()
            acc = self.sample_acc()
        self.check(codes, acc, flags)

    def random_codes(self, extreme=False):
        lo, hi = signed_range(self.fmt.b_adc)
        if extreme:
            return self.rng.choice([lo, hi, 0, -1, 1], size=(self.fmt.b_in, self.lanes))
        return self.rng.integers(lo, hi + 1, size=(self.fmt.b_in, self.lanes))


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def random_planes_match_golden(dut):
    tb = ShiftAddTB(dut)
    await tb.start()
    for _ in range(40):
        await tb.mvm_and_check(tb.random_codes())
    tb.log.info("checked %d MVMs", tb.checked)


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def extreme_codes_saturate_like_golden(dut):
    tb = ShiftAddTB(dut)
    await tb.start()
    lo, hi = signed_range(tb.fmt.b_adc)
    for fill in (hi, lo):
        await tb.mvm_and_check(np.full((tb.fmt.b_in, tb.lanes), fill))
    for _ in range(20):
        await tb.mvm_and_check(tb.random_codes(extreme=True))


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def back_to_back_mvms_need_no_idle_cycle(dut):
    tb = ShiftAddTB(dut)
    await tb.start()
    for _ in range(20):
        await tb.mvm_and_check(tb.random_codes(extreme=bool(tb.rng.integers(2))), back_to_back=True)


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def reset_mid_accumulation_clears_and_recovers(dut):
    tb = ShiftAddTB(dut)
    await tb.start()
    codes = tb.random_codes()
    for b in range(tb.fmt.b_in // 2 + 1):
        await FallingEdge(dut.clk)
        dut.code.value = pack_lanes(codes[b], tb.fmt.b_adc)
        dut.valid.value = 1
        dut.clear.value = int(b == 0)
    await FallingEdge(dut.clk)
    dut.valid.value = 0
    await reset(dut)
    await ReadOnly()
    assert not tb.sample_acc().any(), "accumulators not zero after reset"
    assert int(dut.saturated.value.to_unsigned()) == 0
    await tb.mvm_and_check(tb.random_codes())


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def clear_without_valid_zeroes_accumulators(dut):
    tb = ShiftAddTB(dut)
    await tb.start()
    await tb.mvm_and_check(tb.random_codes())
    await FallingEdge(dut.clk)
    dut.clear.value = 1
    await FallingEdge(dut.clk)
    dut.clear.value = 0
    await ReadOnly()
    assert not tb.sample_acc().any(), "accumulators not zero after clear"
    assert int(dut.saturated.value.to_unsigned()) == 0, "clear alone must not flag saturation"
