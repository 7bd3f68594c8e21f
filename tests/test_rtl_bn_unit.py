import pytest
from amaranth.hdl import Fragment

from neurophase.model.arith import PeripheryFormat
from neurophase.rtl.bn_unit import BnUnit
from neurophase.tb import bn_unit_tb


@pytest.mark.sim
@pytest.mark.parametrize("case", bn_unit_tb.CASES)
def test_bn_unit_matches_golden_model(sim, case):
    bn_unit_tb.run_case(sim, case)


def test_bn_unit_latency_matches_testbench():
    bn = BnUnit(channels=8)
    Fragment.get(bn, None)
    assert bn.latency == bn_unit_tb.BnTB.LATENCY == 3


@pytest.mark.parametrize("kw, msg", [
    (dict(channels=0), r"channels must be an integer in \[1, 256\], got 0"),
    (dict(channels=12), r"channels must be a power of two in \[1, 256\], got 12"),
    (dict(fmt=(8, 8)), r"fmt must be a PeripheryFormat, got \(8, 8\)"),
    (dict(fmt=PeripheryFormat(b_in=8, out_bits=8)), r"fmt.out_bits must be > fmt.b_in=8 .* got 8"),
])
def test_bn_unit_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        BnUnit(**kw)
