import pytest
from amaranth.hdl import Fragment

from neurophase.rtl.adc_sar import SarAdcArray
from neurophase.tb import adc_sar_tb


@pytest.mark.sim
@pytest.mark.parametrize("case", adc_sar_tb.CASES)
def test_sar_adc_matches_golden_model(sim, case):
    adc_sar_tb.run_case(sim, case)


def test_sar_adc_latency_follows_shared_adcs():
    shared, dedicated = SarAdcArray(columns=16, columns_per_adc=4, b_adc=6), SarAdcArray(columns=16, b_adc=6)
    assert (shared.n_adc, shared.latency) == (4, 25)
    assert (dedicated.n_adc, dedicated.latency) == (16, 7)
    assert "col_sel" in shared.signature.members and "col_sel" not in dedicated.signature.members
    for adc in (shared, dedicated):
        Fragment.get(adc, None)   # both variants elaborate


@pytest.mark.parametrize("kw, msg", [
    (dict(columns=0), r"columns must be an integer in \[1, 256\], got 0"),
    (dict(columns=16, columns_per_adc=17), r"columns_per_adc must be an integer in \[1, 16\], got 17"),
    (dict(columns=16, columns_per_adc=3), r"columns_per_adc must divide columns=16, got 3"),
    (dict(b_adc=13), r"b_adc must be an integer in \[2, 12\], got 13"),
])
def test_sar_adc_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        SarAdcArray(**kw)
