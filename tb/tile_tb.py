"""cocotb testbench of the tile (rtl/tile.py in tb/tile_harness.py) with a crossbar stand-in fed by the golden model.

Ref: docs/architecture.md §4, §5. Components, each with its own logger:

* :class:`RegisterDriver` - the host: register writes and reads (the only per-clock Python, used for set-up).
* :class:`ActivationDriver` - loads each MVM's activation vector into the harness source (one wake per MVM).
* :class:`CrossbarStandIn` - wakes once per read on ``pulse`` and writes the read's integer current codes into the
  comparator bank. Bit-serial: it checks the wordline enables equal the plane of the activations that were streamed.
  PWM (D8): it writes the activations' pulse widths for the harness's PWM checker (tb/hdl/pwm_check.v), which counts
  every wordline's driven cycles in the window, and whose counts of windows and violations it checks after the
  MVMs; the harness presents the code to the comparators only after the window.
* :class:`OutputMonitor` - wakes once per MVM on ``cap_done`` and reads the captured output beats.
* :class:`Scoreboard` - compares every output with the golden model (:meth:`Workload.expected`, i.e. model/adc.py
  and model/arith.py), bit for bit, and the saturation counters with the golden counts.

The workload (golden currents, activations, BN registers) comes from a ``.npz`` written outside the simulator
(PARAM_WORKLOAD); ``workload_matches_golden`` is the test `make sim` runs.
"""

import json
import logging
import time

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer

from neurophase.model.checks import signed_range
from neurophase.model.interface import (BN_CTRL, TILE_FORMAT, TILE_GEOMETRY, TILE_ID, TILE_MODE, InputEncoding,
                                        TileCtrl, TileErr, TileReg, pack_lanes, unpack_lanes)
from neurophase.tb.common import CLOCK_NS, reset, start_clock, timeout_ns
from neurophase.tb.pwm_check import PwmWindow
from neurophase.tb.runner import params
from neurophase.tb.tile_workload import Workload


class RegisterDriver:
    """Host side of the register bus: one access per clock, driven on the falling edge."""

    def __init__(self, dut):
        self.dut = dut
        self.log = logging.getLogger("tb.tile.regs")

    def idle(self):
        self.dut.bus__we.value = 0
        self.dut.bus__re.value = 0
        self.dut.bus__addr.value = 0
        self.dut.bus__wdata.value = 0

    async def write(self, addr, value):
        await FallingEdge(self.dut.clk)
        self.dut.bus__addr.value = int(addr)
        self.dut.bus__wdata.value = int(value) & 0xFFFF_FFFF
        self.dut.bus__we.value = 1
        await FallingEdge(self.dut.clk)
        self.dut.bus__we.value = 0

    async def read(self, addr, signed=False):
        await FallingEdge(self.dut.clk)
        self.dut.bus__addr.value = int(addr)
        self.dut.bus__re.value = 1
        await FallingEdge(self.dut.clk)
        self.dut.bus__re.value = 0
        v = self.dut.bus__rdata.value
        return v.to_signed() if signed else v.to_unsigned()

    async def configure(self, wl, autostart=True):
        """Write a workload's configuration and BN registers, then check there was no error."""
        await self.write(TileReg.ROWS_USED, wl.rows_used)
        await self.write(TileReg.COLS_USED, wl.cols_used)
        await self.write(TileReg.BN_CTRL, BN_CTRL.encode(shift=wl.shift, relu=wl.relu, last=wl.last))
        await self.write(TileReg.ADC_RANGE, wl.adc_range)
        await self.write(TileReg.BN_CHANNEL, 0)
        for s, b in zip(wl.scale.tolist(), wl.bias.tolist()):
            await self.write(TileReg.BN_SCALE, s)
            await self.write(TileReg.BN_BIAS, b)
        await self.write(TileReg.MODE, TILE_MODE.encode(raw=wl.raw, autostart=autostart, encoding=wl.encoding))
        await self.write(TileReg.CTRL, TileCtrl.CLEAR_COUNTERS)
        errors = await self.read(TileReg.ERRORS)
        assert errors == 0, f"configuration raised errors {TileErr(errors)!r}"


class ActivationDriver:
    """Loads activation vectors into the harness source, one per MVM, as soon as the previous one has streamed."""

    def __init__(self, dut, wl):
        self.dut, self.wl = dut, wl
        self.log = logging.getLogger("tb.tile.act")

    async def run(self, mvms):
        for k in mvms:
            if self.dut.act_busy.value:
                await FallingEdge(self.dut.act_busy)
            await FallingEdge(self.dut.clk)
            self.dut.act_vector.value = pack_lanes(self.wl.x[k], self.wl.fmt.b_in)
            self.dut.act_count.value = self.wl.rows_used
            self.dut.act_load.value = 1
            await FallingEdge(self.dut.clk)
            self.dut.act_load.value = 0


class CrossbarStandIn:
    """The analog crossbar: on each ``pulse`` drives the read's current codes and checks the wordlines (bit-serial:
    here against the plane; PWM: in the harness's checker, against the pulse widths written here)."""

    def __init__(self, dut, wl):
        self.dut, self.wl = dut, wl
        self.log = logging.getLogger("tb.tile.crossbar")
        self.wl_errors = []
        self.icode_bits = wl.adc.current_code_bits
        self.pwm = wl.encoding is InputEncoding.PWM
        self.window = PwmWindow(wl.fmt.b_in)

    def start(self):
        """Tell the harness the tile's encoding (its PWM checker works only for PWM reads)."""
        self.dut.pwm.value = int(self.pwm)

    async def run(self, mvms):
        self._windows0 = self.windows()
        for k in mvms:
            icodes = self.wl.current_codes(k)
            expected = self.window.width_planes(self.wl.x[k])[0] if self.pwm else self.wl.planes(k)
            for r in range(self.wl.reads):
                await RisingEdge(self.dut.pulse)
                await FallingEdge(self.dut.clk)
                self.dut.icode.value = pack_lanes(icodes[r], self.icode_bits)
                if self.pwm:
                    widths = np.zeros((len(expected), self.wl.rows), np.uint8)
                    widths[:, :self.wl.rows_used] = expected
                    self.dut.wl_width.value = pack_lanes(widths, 1)
                else:
                    got, want = self.dut.wl.value.to_unsigned(), pack_lanes(expected[r], 1)
                    if got != want:
                        self.wl_errors.append((k, r))
                        self.log.error("MVM %d plane %d: wordlines %x, expected %x", k, r, got, want)
                if self.dut.adc_range.value.to_unsigned() != self.wl.adc_range:
                    self.wl_errors.append((k, r, "adc_range"))

    def windows(self):
        """(windows checked, violations) of the harness's PWM checker so far."""
        return self.dut.pwm_reads.value.to_unsigned(), self.dut.pwm_errors.value.to_unsigned()

    def check_windows(self, mvms):
        """After the outputs of the last :meth:`run`'s ``mvms`` MVMs came out (so every window has ended): a PWM
        tile's checker saw one window per MVM and no violation."""
        if not self.pwm:
            return
        reads, errors = (now - before for now, before in zip(self.windows(), self._windows0))
        if reads != mvms or errors:
            self.wl_errors.append(("pwm", reads, errors))
            self.log.error("PWM checker: %d windows checked of %d MVMs, %d violations", reads, mvms, errors)


class OutputMonitor:
    """Wakes on ``cap_done`` (an MVM's last beat captured) and reads the used channels' outputs."""

    def __init__(self, dut, wl, data_bits):
        self.dut, self.wl, self.data_bits = dut, wl, data_bits
        self.log = logging.getLogger("tb.tile.out")

    async def collect(self, n):
        outs, cycles = [], []
        for _ in range(n):
            await RisingEdge(self.dut.cap_done)
            await ReadOnly()
            lanes = unpack_lanes(self.dut.cap_data.value.to_unsigned(), self.data_bits, self.wl.columns)
            outs.append(lanes[self.wl.columns - self.wl.cols_used:])
            cycles.append(cocotb.utils.get_sim_time(unit="ns") // CLOCK_NS)
        return np.array(outs), cycles


class Scoreboard:
    """In-order comparison of RTL outputs with the golden model; counts mismatching outputs."""

    def __init__(self, wl):
        self.wl = wl
        self.log = logging.getLogger("tb.tile.scoreboard")
        self.mismatches = 0
        self.checked = 0

    def check(self, mvms, got):
        want = self.wl.expected(mvms)
        bad = got != want.out
        self.mismatches += int(bad.sum())
        self.checked += got.size
        for k, j in np.argwhere(bad)[:10]:
            self.log.error("MVM %d channel %d: RTL %d, golden %d", mvms[k], j, got[k, j], want.out[k, j])
        return want

    async def check_counters(self, regs, want):
        got = {r: await regs.read(r)
               for r in (TileReg.SAT_ADC_LOW, TileReg.SAT_ADC_HIGH, TileReg.SAT_ACC, TileReg.SAT_BN)}
        exp = {TileReg.SAT_ADC_LOW: want.sat_adc_low, TileReg.SAT_ADC_HIGH: want.sat_adc_high,
               TileReg.SAT_ACC: want.sat_acc, TileReg.SAT_BN: want.sat_bn}
        assert got == exp, f"saturation counters {got} != golden {exp}"


class TileTB:
    def __init__(self, dut):
        self.dut = dut
        self.p = params()
        self.wl = Workload.load(self.p["workload"])
        self.log = logging.getLogger("tb.tile")
        self.regs = RegisterDriver(dut)
        self.acts = ActivationDriver(dut, self.wl)
        self.crossbar = CrossbarStandIn(dut, self.wl)
        self.monitor = OutputMonitor(dut, self.wl, self.p["data_bits"])
        self.scoreboard = Scoreboard(self.wl)

    async def start(self):
        await start_clock(self.dut)
        self.idle_inputs()
        await reset(self.dut)

    def idle_inputs(self):
        self.regs.idle()
        self.dut.act_load.value = 0
        self.dut.act_vector.value = 0
        self.dut.act_count.value = 0
        self.dut.throttle.value = 0
        self.dut.icode.value = 0
        self.dut.wl_width.value = 0
        self.crossbar.start()

    async def stream(self, mvms, throttle=0):
        """Stream MVMs ``mvms`` through the tile (already configured, AUTOSTART) with the output throttled by
        ``throttle``; the wordlines are checked (:attr:`CrossbarStandIn.wl_errors`); returns the captured outputs
        (mvms, cols) and completion cycles."""
        self.dut.throttle.value = throttle
        crossbar = cocotb.start_soon(self.crossbar.run(mvms))
        acts = cocotb.start_soon(self.acts.run(mvms))
        got, cycles = await self.monitor.collect(len(mvms))
        await acts
        await crossbar
        self.crossbar.check_windows(len(mvms))
        return got, cycles

    async def run_mvms(self, mvms, throttle=0):
        """:meth:`stream` MVMs ``mvms`` and score them; returns the golden result and the completion cycles (the
        checks so far: :meth:`assert_clean`)."""
        mvms = list(mvms)
        got, cycles = await self.stream(mvms, throttle)
        want = self.scoreboard.check(mvms, got)
        return want, cycles

    def assert_clean(self):
        """Every output so far matched the golden model, in channel order, and the wordlines were right."""
        assert not self.dut.cap_order_err.value, "output beats out of channel order or with a wrong last flag"
        assert not self.crossbar.wl_errors, f"wordline/range mismatches at {self.crossbar.wl_errors[:5]}"
        assert self.scoreboard.mismatches == 0, f"{self.scoreboard.mismatches} outputs differ from the golden model"

    async def check_mvms(self, mvms, throttle=0):
        """:meth:`run_mvms`, then require every output, the wordlines and the saturation counters to match the golden
        model; returns the completion cycles."""
        want, cycles = await self.run_mvms(mvms, throttle)
        self.assert_clean()
        await self.scoreboard.check_counters(self.regs, want)
        return cycles


# -- tests ----------------------------------------------------------------------------------------------------------

@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def registers_reset_values_and_read_back(dut):
    tb = TileTB(dut)
    await tb.start()
    r = tb.regs
    wl = tb.wl
    assert await r.read(TileReg.ID) == TILE_ID
    assert await r.read(TileReg.GEOMETRY) == TILE_GEOMETRY.encode(rows=wl.rows, columns=wl.columns)
    assert await r.read(TileReg.FORMAT) == TILE_FORMAT.encode(b_in=wl.fmt.b_in, b_adc=wl.fmt.b_adc,
                                                              acc_bits=wl.fmt.acc_bits, acts_per_beat=wl.acts_per_beat)
    assert await r.read(TileReg.ROWS_USED) == wl.rows
    assert await r.read(TileReg.COLS_USED) == wl.columns
    assert await r.read(TileReg.ERRORS) == 0
    assert await r.read(TileReg.STATUS) == 0
    smax = signed_range(wl.fmt.scale_bits)[1]
    values = {TileReg.ROWS_USED: wl.rows_used, TileReg.COLS_USED: wl.cols_used,
              TileReg.BN_CTRL: BN_CTRL.encode(shift=wl.fmt.shift_max, relu=1, last=1),
              TileReg.MODE: TILE_MODE.encode(raw=1), TileReg.ADC_RANGE: wl.adc_range,
              TileReg.BN_CHANNEL: wl.columns - 1, TileReg.BN_SCALE: -smax - 1}
    for reg, v in values.items():
        await r.write(reg, v)
        got = await r.read(reg, signed=reg == TileReg.BN_SCALE)
        assert got == v, f"{reg.name}: wrote {v}, read {got}"
    await r.write(TileReg.BN_BIAS, -(1 << (wl.fmt.bias_bits - 1)))
    assert await r.read(TileReg.BN_BIAS, signed=True) == -(1 << (wl.fmt.bias_bits - 1))
    assert await r.read(TileReg.BN_CHANNEL) == 0, "BN_CHANNEL must wrap after the last channel"
    assert dut.adc_range.value.to_unsigned() == wl.adc_range
    assert await r.read(TileReg.ERRORS) == 0


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def illegal_register_accesses_are_flagged_and_not_applied(dut):
    tb = TileTB(dut)
    await tb.start()
    r, wl = tb.regs, tb.wl

    async def expect_flag(flag, reg=None, unchanged=None):
        errors = await r.read(TileReg.ERRORS)
        assert errors == flag, f"ERRORS {TileErr(errors)!r}, expected {flag!r}"
        assert dut.error.value == 1
        if reg is not None:
            assert await r.read(reg) == unchanged, f"{reg.name} changed by a rejected write"
        await r.write(TileReg.ERRORS, flag)           # write 1 to clear
        assert await r.read(TileReg.ERRORS) == 0

    await r.write(TileReg.ID, 0)
    await expect_flag(TileErr.ILLEGAL_ADDRESS, TileReg.ID, TILE_ID)
    await r.write(TileReg.SAT_ACC, 5)
    await expect_flag(TileErr.ILLEGAL_ADDRESS, TileReg.SAT_ACC, 0)
    await r.write(0x1F, 1)
    await expect_flag(TileErr.ILLEGAL_ADDRESS)
    assert await r.read(0x1E) == 0
    await expect_flag(TileErr.ILLEGAL_ADDRESS)
    smax = signed_range(wl.fmt.scale_bits)[1]
    bad = [(TileReg.ROWS_USED, 0, wl.rows), (TileReg.ROWS_USED, wl.rows + 1, wl.rows),
           (TileReg.COLS_USED, 0, wl.columns), (TileReg.COLS_USED, wl.columns + 1, wl.columns),
           (TileReg.BN_CTRL, wl.fmt.shift_max + 1, 0),
           (TileReg.BN_CTRL, 1 << 12, 0), (TileReg.MODE, TILE_MODE.encode(encoding=2), 0),
           (TileReg.MODE, 1 << 4, 0), (TileReg.ADC_RANGE, 0, 1000), (TileReg.ADC_RANGE, 1 << 16, 1000),
           (TileReg.BN_CHANNEL, wl.columns, 0), (TileReg.BN_SCALE, smax + 1, 0), (TileReg.CTRL, 8, 0)]
    for reg, value, keep in bad:
        await r.write(reg, value)
        await expect_flag(TileErr.BAD_VALUE, reg, keep)
    # Sticky: several flags accumulate until cleared, CTRL.CLEAR_ERRORS clears them all.
    await r.write(TileReg.ID, 0)
    await r.write(TileReg.ROWS_USED, 0)
    assert await r.read(TileReg.ERRORS) == TileErr.ILLEGAL_ADDRESS | TileErr.BAD_VALUE
    await r.write(TileReg.CTRL, TileCtrl.CLEAR_ERRORS)
    assert await r.read(TileReg.ERRORS) == 0
    assert dut.error.value == 0

    # While an MVM is armed and running: configuration writes and START are rejected and flagged.
    await r.configure(wl, autostart=False)
    await r.write(TileReg.CTRL, TileCtrl.START)
    await r.write(TileReg.CTRL, TileCtrl.START)
    await expect_flag(TileErr.START_WHILE_BUSY)
    crossbar = cocotb.start_soon(tb.crossbar.run([0]))
    monitor = cocotb.start_soon(tb.monitor.collect(1))
    await tb.acts.run([0])
    await RisingEdge(dut.pulse)
    status = await r.read(TileReg.STATUS)
    assert status & 1, f"STATUS {status:#x} not busy during the MVM"
    await r.write(TileReg.COLS_USED, 1)
    await expect_flag(TileErr.WRITE_WHILE_BUSY, TileReg.COLS_USED, wl.cols_used)
    await r.write(TileReg.BN_BIAS, 0)
    await expect_flag(TileErr.WRITE_WHILE_BUSY, TileReg.BN_CHANNEL, wl.cols_used % wl.columns)
    got, _ = await monitor
    await crossbar
    tb.scoreboard.check([0], got)
    tb.crossbar.check_windows(1)
    tb.assert_clean()
    assert await r.read(TileReg.STATUS) & 2, "STATUS.done not set after the MVM"
    # In AUTOSTART mode START is always an error: the tile starts by itself.
    await r.write(TileReg.MODE, TILE_MODE.encode(autostart=1))
    await r.write(TileReg.CTRL, TileCtrl.START)
    await expect_flag(TileErr.START_WHILE_BUSY)


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def back_to_back_mvms_match_golden(dut):
    tb = TileTB(dut)
    await tb.start()
    await tb.regs.configure(tb.wl)
    cycles = await tb.check_mvms(range(tb.wl.mvms))
    assert await tb.regs.read(TileReg.MVM_COUNT) == tb.wl.mvms
    assert await tb.regs.read(TileReg.ERRORS) == 0
    periods = np.diff(cycles)
    tb.log.info("MVM completion periods (cycles): %s", periods.tolist())


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def backpressure_and_input_gaps_lose_nothing(dut):
    tb = TileTB(dut)
    await tb.start()
    await tb.regs.configure(tb.wl)
    await tb.check_mvms(range(tb.wl.mvms), throttle=3)


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def raw_mode_streams_accumulators(dut):
    tb = TileTB(dut)
    await tb.start()
    tb.wl.raw = not tb.wl.raw       # the other output mode than the workload's own
    await tb.regs.configure(tb.wl)
    await tb.check_mvms(range(min(2, tb.wl.mvms)))


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def reset_in_the_middle_of_an_mvm_recovers(dut):
    tb = TileTB(dut)
    await tb.start()
    await tb.regs.configure(tb.wl)
    crossbar = cocotb.start_soon(tb.crossbar.run([0]))
    await tb.acts.run([0])
    # Half way through the reads (bit-serial), or through the PWM read's window.
    for _ in range(max(1, tb.wl.reads // 2)):
        await RisingEdge(dut.pulse)
    if tb.crossbar.pwm:
        await Timer(tb.crossbar.window.cycles // 2 * CLOCK_NS, unit="ns")
    crossbar.cancel()
    await reset(dut)
    await ReadOnly()
    assert dut.wl.value.to_unsigned() == 0 and dut.pulse.value == 0 and dut.error.value == 0
    await FallingEdge(dut.clk)
    tb.idle_inputs()
    assert await tb.regs.read(TileReg.STATUS) == 0, "tile not idle after reset"
    assert await tb.regs.read(TileReg.ROWS_USED) == tb.wl.rows, "registers not back at their reset values"
    await tb.regs.configure(tb.wl)
    await tb.run_mvms(range(min(2, tb.wl.mvms)))
    tb.assert_clean()


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def workload_matches_golden(dut):
    """The `make sim` test: every MVM of the workload, scored; writes the result file before asserting."""
    tb = TileTB(dut)
    await tb.start()
    await tb.regs.configure(tb.wl)
    if "fault_offset" in tb.p:
        # Deliberate fault, to prove the comparison can fail: channel 0's BN bias moved by fault_offset output LSBs
        # (a RAW-mode workload, which bypasses BN, gets BN outputs instead of its accumulators).
        await tb.regs.write(TileReg.MODE, 0)
        if not tb.wl.raw:
            bmax = signed_range(tb.wl.fmt.bias_bits)[1]
            bias = int(tb.wl.bias[0]) + (int(tb.p["fault_offset"]) << tb.wl.shift)
            await tb.regs.write(TileReg.BN_CHANNEL, 0)
            await tb.regs.write(TileReg.BN_SCALE, int(tb.wl.scale[0]))
            await tb.regs.write(TileReg.BN_BIAS, max(-bmax - 1, min(bmax, bias)))
        await tb.regs.write(TileReg.MODE, TILE_MODE.encode(autostart=1))
    t0_cycle = cocotb.utils.get_sim_time(unit="ns") // CLOCK_NS
    wall0 = time.perf_counter()
    want, cycles = await tb.run_mvms(range(tb.wl.mvms))
    wall = time.perf_counter() - wall0
    counters = {r.name.lower(): await tb.regs.read(r) for r in
                (TileReg.SAT_ADC_LOW, TileReg.SAT_ADC_HIGH, TileReg.SAT_ACC, TileReg.SAT_BN, TileReg.MVM_COUNT,
                 TileReg.BUSY_CYCLES)}
    result = dict(mvms=tb.wl.mvms, outputs_checked=tb.scoreboard.checked, mismatches=tb.scoreboard.mismatches,
                  wordline_errors=len(tb.crossbar.wl_errors), order_error=bool(tb.dut.cap_order_err.value),
                  cycles=int(cycles[-1] - t0_cycle), mvm_wall_s=wall,
                  cycles_per_mvm=float((cycles[-1] - t0_cycle) / tb.wl.mvms),
                  counters=counters,
                  golden_counters=dict(sat_adc_low=want.sat_adc_low, sat_adc_high=want.sat_adc_high,
                                       sat_acc=want.sat_acc, sat_bn=want.sat_bn))
    if "result" in tb.p:
        with open(tb.p["result"], "w") as f:
            json.dump(result, f, indent=1)
    tb.log.info("%s", result)
    tb.assert_clean()
    await tb.scoreboard.check_counters(tb.regs, want)

