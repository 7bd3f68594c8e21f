# Ref: docs/architecture.md §4 step 3 and D4 (shift-and-add: acc <- sat(2 acc + code), saturating after every step).
"""Formal properties of rtl/shift_add.py at reduced widths: every lane's accumulator and saturation flag equal D4's
reference expression after any sequence of codes, ``valid`` and ``clear`` (an equivalence proof by induction)."""

from amaranth.hdl import Elaboratable, Module, Mux, Signal, signed

from neurophase.formal.probe import free, open_block
from neurophase.formal.sby import Mutant, Proof, Properties
from neurophase.model.checks import signed_range
from neurophase.rtl.shift_add import ShiftAdd

__all__ = ["FormalShiftAdd", "PROOFS", "MUTANTS", "sat_step"]

LANES, B_ADC, ACC_BITS = 2, 3, 5


def sat_step(acc, code, bits):
    """D4's shift-and-add step as a reference expression: ``(sat(2 acc + code), clamped)``, sat the clamp to signed
    ``bits`` (model/arith.py ``saturate``)."""
    lo, hi = signed_range(bits)
    total = acc * 2 + code
    return Mux(total > hi, hi, Mux(total < lo, lo, total)), (total > hi) | (total < lo)


class FormalShiftAdd(Elaboratable):
    """ShiftAdd(lanes=2, b_adc=3, acc_bits=5) with free codes, ``valid``, ``clear`` and reset, beside a reference
    accumulator per lane updated by :func:`sat_step`."""

    def __init__(self, mutant=None):
        self.mutant = mutant

    def elaborate(self, platform):
        m = Module()
        self.props = props = Properties(m)
        dut = ShiftAdd(lanes=LANES, b_adc=B_ADC, acc_bits=ACC_BITS)
        blk = open_block(dut, platform)
        if self.mutant:
            MUTANTS[self.mutant].apply(blk, dut)
        m.submodules.dut = blk.module
        free(m, dut.code, dut.valid, dut.clear)
        for lane in range(LANES):
            ref, ref_sat = Signal(signed(ACC_BITS), name=f"ref{lane}"), Signal(name=f"ref_sat{lane}")
            value, clamped = sat_step(Mux(dut.clear, 0, ref), dut.code[lane], ACC_BITS)
            with m.If(dut.valid):
                m.d.sync += ref.eq(value)
            with m.Elif(dut.clear):
                m.d.sync += ref.eq(0)
            m.d.sync += ref_sat.eq(dut.valid & clamped)
            # The accumulator is D4's saturating shift-and-add of the codes since the last clear (or reset).
            props.check("accumulator", dut.acc[lane] == ref)
            # A lane's saturation flag is high exactly in the cycle after a step that clamped it.
            props.check("saturation_flag", dut.saturated[lane] == ref_sat)
        return m


def _wraps(blk, dut):
    """Lane 0 wraps around instead of saturating when the sum passes the top of the range."""
    total = blk["total0"]
    with blk.module.If(dut.valid & (total > signed_range(ACC_BITS)[1])):
        blk.module.d.sync += dut.acc[0].eq(total[:ACC_BITS].as_signed())


def _flags_overflow_only(blk, dut):
    """Lane 0's saturation flag misses a clamp at the bottom of the range."""
    hi = signed_range(ACC_BITS)[1]
    blk.module.d.sync += dut.saturated[0].eq(dut.valid & (blk["total0"] > hi))


PROOFS = [Proof("shift_add", FormalShiftAdd, {
    "accumulator": "every lane's accumulator equals D4's acc <- sat(2 acc + code) over the codes since the last "
                   "clear or reset, for every code sequence",
    "saturation_flag": "a lane's saturation flag is high exactly in the cycle after a step that clamped it"},
    mode="prove", depth=2, why="the properties relate the registers one to one: 1-induction closes")]

MUTANTS = {m.name: m for m in [
    Mutant("wraps", "shift_add", _wraps.__doc__, ("accumulator",), _wraps, depth=6),
    Mutant("flags_overflow_only", "shift_add", _flags_overflow_only.__doc__, ("saturation_flag",), _flags_overflow_only,
           depth=6)]}
