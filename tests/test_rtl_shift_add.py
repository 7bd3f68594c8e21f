import pytest

from neurophase.rtl.shift_add import ShiftAdd
from neurophase.tb.runner import run_cocotb

PARAM_SETS = {
    "b8_in8": dict(lanes=16, b_adc=8, b_in=8, acc_bits=20),
    "b6_in4_narrow": dict(lanes=8, b_adc=6, b_in=4, acc_bits=8),   # narrow accumulator: saturates
    "b8_in8_narrow": dict(lanes=8, b_adc=8, b_in=8, acc_bits=14),  # saturates on both sides at full B_in
}


@pytest.mark.sim
@pytest.mark.parametrize("case", PARAM_SETS)
def test_shift_add_matches_golden_model(sim, case):
    p = PARAM_SETS[case]
    run_cocotb(component=ShiftAdd(lanes=p["lanes"], b_adc=p["b_adc"], acc_bits=p["acc_bits"]),
               toplevel="np_shift_add", test_module="neurophase.tb.shift_add_tb", sim=sim, parameters=p, case=case)


@pytest.mark.parametrize("kw, msg", [
    (dict(lanes=0), r"lanes must be an integer in \[1, 256\], got 0"),
    (dict(b_adc=1), r"b_adc must be an integer in \[2, 12\], got 1"),
    (dict(b_adc=8, acc_bits=8), r"acc_bits must be an integer in \[9, 40\], got 8"),
])
def test_shift_add_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        ShiftAdd(**kw)
