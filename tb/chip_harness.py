"""Simulation harness of the chip top (rtl/chip.py): command and response memories and per-tile crossbar stand-ins.

Ref: docs/architecture.md §5, D7, D8. Not chip RTL. Python (tb/chip_tb.py) hands the simulator one segment of work
(a command program, and per tile the current codes of every read and the expected wordlines: every bit-plane's, or
every PWM read's pulse widths; ``xbar_pwm`` says which tiles read by PWM) in files, raises ``load``, and wakes again
on ``seg_done``: the command program has been sent and ``resp_expected`` response words
captured (or on ``stalled``, the harness's hang watchdog: Python never counts clock edges). Every input acts one
cycle after the testbench writes it (see ``elaborate``). Behavioural Verilog in tb/hdl/chip_io.v (memories),
tb/hdl/pwm_check.v (PWM pulse widths) and tb/hdl/comparator_bank.v (comparators, one bank per ADC, as in
tb/tile_harness.py).
"""

from amaranth.hdl import ClockDomain, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurophase.model.adc import AdcConfig
from neurophase.rtl.chip import ChipTop
from neurophase.tb.pwm_check import PWM_CHECK_V, PwmWindow
from neurophase.tb.tile_harness import COMPARATOR_BANK_V
from neurophase.tb import HDL_DIR

__all__ = ["ChipHarness", "CHIP_IO_V", "HDL_SOURCES", "VERILATOR_CONFIG", "CMD_FILE", "RESP_FILE", "icode_file",
           "wl_file"]

CHIP_IO_V = HDL_DIR / "chip_io.v"
HDL_SOURCES = (COMPARATOR_BANK_V, PWM_CHECK_V, CHIP_IO_V)
VERILATOR_CONFIG = HDL_DIR / "chip_verilator.vlt"
CMD_FILE = "cmd.bin"            # relative to the simulator's working directory (the build directory)
RESP_FILE = "resp.hex"


def icode_file(k):
    return f"tile{k}_icode.bin"


def wl_file(k):
    return f"tile{k}_wl.bin"


class ChipHarness(wiring.Component):
    """The chip with tile k's crossbar replayed from ``tile<k>_icode.bin`` / checked against ``tile<k>_wl.bin``.

    ``plane_depth`` entries of each replay memory must hold a segment's reads (and, for PWM, ``pwm_window.width_bits``
    width bit-slices per read)."""

    def __init__(self, *, tiles, rows, columns, fmt, acts_per_beat, frac_bits, max_group, plane_depth,
                 cmd_depth=1 << 17, resp_depth=1 << 17, stall_cycles=20_000):
        adc = AdcConfig(bits=fmt.b_adc, frac_bits=frac_bits)
        self.icode_bits, self.charging_code = adc.current_code_bits, PwmWindow.charging_code(adc)
        self.pwm_window = PwmWindow(fmt.b_in)
        self.frac_bits, self.plane_depth = frac_bits, plane_depth
        self.cmd_depth, self.resp_depth = cmd_depth, resp_depth
        self.chip = ChipTop(tiles=tiles, rows=rows, columns=columns, fmt=fmt, acts_per_beat=acts_per_beat,
                            max_group=max_group, frontend=self._frontend)
        self.stall_cycles = stall_cycles
        self._xbar_load = Signal(tiles, name="xbar_load_q", reset_less=True)   # xbar_load, one cycle later
        self._xbar_planes = [Signal(32, name=f"xbar_planes_q{k}", reset_less=True) for k in range(tiles)]
        self._xbar_pwm = Signal(tiles, name="xbar_pwm_q", reset_less=True)
        super().__init__({
            "clk": In(1),
            "rst": In(1),
            "load": In(1),
            "cmd_count": In(32),
            "resp_expected": In(32),
            "dump": In(1),
            "xbar_load": In(tiles),
            "xbar_planes": In(32).array(tiles),
            "xbar_pwm": In(tiles),
            "seg_done": Out(1),
            "stalled": Out(1),
            "cmd_sent": Out(32),
            "resp_count": Out(32),
            "resp_overflow": Out(1),
            "error": Out(1),
            "planes": Out(32).array(tiles),
            "wl_errors": Out(32).array(tiles),
            "wl_ones": Out(32).array(tiles),
            "adc_range": Out(self.chip.analog_signature.members["adc_range"].shape).array(tiles),
        })

    def verilog_dependencies(self):
        return self.chip.verilog_dependencies()

    def _frontend(self, m, k, t, clock):
        chip = self.chip
        icode = Signal(chip.columns * self.icode_bits, name=f"icode{k}")
        m.submodules[f"crossbar{k}"] = Instance(
            "np_crossbar_mem", p_ROWS=chip.rows, p_COLUMNS=chip.columns, p_ICODE_BITS=self.icode_bits,
            p_DEPTH=self.plane_depth, p_ICODE_FILE=icode_file(k), p_WL_FILE=wl_file(k),
            p_WINDOW=self.pwm_window.cycles, p_WIDTH_BITS=self.pwm_window.width_bits,
            p_CHARGING_ICODE=self.charging_code,
            i_clk=ClockSignal(), i_tile_clk=clock, i_load=self._xbar_load[k], i_count=self._xbar_planes[k],
            i_pwm=self._xbar_pwm[k],
            i_pulse=t.pulse,
            i_wl=t.wl, o_icode=icode, o_planes=self.planes[k], o_wl_errors=self.wl_errors[k],
            o_wl_ones=self.wl_ones[k])
        m.d.comb += self.adc_range[k].eq(t.adc_range)
        cpa, b = chip.columns_per_adc, chip.fmt.b_adc
        for j in range(chip.n_adc):
            m.submodules[f"comparators{k}_{j}"] = Instance(
                "np_comparator_bank",
                p_COLUMNS=cpa, p_COLUMNS_PER_ADC=cpa, p_B_ADC=b, p_FRAC_BITS=self.frac_bits,
                p_ICODE_BITS=self.icode_bits,
                i_icode=icode[j * cpa * self.icode_bits:][:cpa * self.icode_bits],
                i_dac_code=t.dac_code[j], i_col_sel=t.col_sel if cpa > 1 else 0,
                o_comparator=t.comparator[j])

    def elaborate(self, platform):
        m = Module()
        # Every testbench input, the reset included, goes through a flop before it reaches any logic. Verilator
        # re-evaluates all logic fed by top-level inputs whenever the testbench writes any of them, the clock
        # included (its "ico" region): with `rst` wired straight in, that was every tile's next-state logic, twice
        # per clock. Each input therefore acts one cycle after it is written.
        m.domains.sync = ClockDomain("sync")
        rst = Signal(init=1, name="rst_q", reset_less=True)
        m.d.comb += [ClockSignal("sync").eq(self.clk), ResetSignal("sync").eq(rst)]
        load, dump = Signal(name="load_q", reset_less=True), Signal(name="dump_q", reset_less=True)
        cmd_count = Signal(32, name="cmd_count_q", reset_less=True)
        resp_expected = Signal(32, name="resp_expected_q", reset_less=True)
        xbar_load = self._xbar_load
        m.d.sync += [rst.eq(self.rst), load.eq(self.load), dump.eq(self.dump), cmd_count.eq(self.cmd_count),
                     resp_expected.eq(self.resp_expected), xbar_load.eq(self.xbar_load),
                     self._xbar_pwm.eq(self.xbar_pwm),
                     *(q.eq(d) for q, d in zip(self._xbar_planes, self.xbar_planes))]

        m.submodules.chip = chip = self.chip
        m.d.comb += self.error.eq(chip.error)
        m.submodules.cmd_source = Instance(
            "np_cmd_source", p_DEPTH=self.cmd_depth, p_FILE=CMD_FILE,
            i_clk=ClockSignal(), i_load=load, i_count=cmd_count, o_data=chip.cmd.payload,
            o_valid=chip.cmd.valid, i_ready=chip.cmd.ready, o_sent=self.cmd_sent)
        m.submodules.resp_sink = Instance(
            "np_resp_sink", p_DEPTH=self.resp_depth, p_FILE=RESP_FILE,
            i_clk=ClockSignal(), i_clear=load, i_dump=dump, i_data=chip.resp.payload,
            i_valid=chip.resp.valid, o_ready=chip.resp.ready, o_count=self.resp_count,
            o_overflow=self.resp_overflow)
        m.d.sync += self.seg_done.eq(~load & (self.cmd_sent == cmd_count) & (self.resp_count >= resp_expected))
        # Hang watchdog in the simulator, so Python never counts clock edges: `stalled` rises when neither a command
        # word nor a response word has moved for stall_cycles cycles of an unfinished segment.
        idle = Signal(range(self.stall_cycles + 1))
        moved = (chip.cmd.valid & chip.cmd.ready) | (chip.resp.valid & chip.resp.ready)
        with m.If(load | moved | self.seg_done):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self.stall_cycles):
            m.d.sync += idle.eq(idle + 1)
        m.d.comb += self.stalled.eq(idle == self.stall_cycles)
        return m
