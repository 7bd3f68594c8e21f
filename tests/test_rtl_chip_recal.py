"""Global BN recalibration of the whole chip through its command interface (tb/chip_recal_tb.py, model/host.py
``Host.recalibration_session``): registers computed from the chip RTL's raw accumulators equal model/drift.py's
bit for bit, and the recalibrated RTL classifies test images bit for bit."""

import copy

import pytest

YEAR = 365.25 * 86400.0


# A calibration image costs about one test image of simulation (every layer read out raw once), ~20k cycles. Under
# Verilator the chip's 100 calibration images and 8 test images are 2.0 M cycles, 45 s of simulation on the build
# tests/test_rtl_chip.py's Verilator run already made (a cold build takes minutes, hence the longer timeout): that is
# the default. Under Icarus (a few hundred cycles/s) one calibration image and one test image take 4-7 minutes:
# slow set.
@pytest.mark.sim
@pytest.mark.parametrize("simulator, calibration, images", [
    pytest.param("verilator", 100, 8, marks=pytest.mark.timeout(1800), id="verilator-100-calibration-images"),
    pytest.param("icarus", 1, 1, marks=pytest.mark.slow, id="icarus-1-calibration-image"),
])
def test_chip_bn_recalibration_through_the_rtl_equals_the_golden_registers(simulator, calibration, images, tmp_path):
    from neurophase.model.chip import reference_chip
    from neurophase.model.drift import recalibrate_bn, record_reference
    from neurophase.tb.chip_recal_tb import registers_json
    from neurophase.tb.chip_sim import run_chip

    r = run_chip(sim=simulator, images=images, calibration=calibration, t=YEAR, seed=0,
                 test_module="neurophase.tb.chip_recal_tb", testcase="chip_bn_recalibration_matches_golden",
                 workdir=tmp_path)
    assert "error" not in r, r.get("error")
    assert (r["calibration"], r["images"]) == (calibration, images)
    assert r["register_mismatches"] == 0 and r["readback_mismatches"] == 0
    assert r["word_mismatches"] == 0 and r["logit_mismatches"] == 0, r["output_mismatches"]
    assert r["wordline_errors"] == 0 and r["plane_errors"] == 0
    assert r["chip_errors"] == 0 and not any(r["tile_errors"])
    assert r["accuracy"] == r["golden_accuracy"]
    # Outside the simulation too: the registers the RTL flow wrote are model/drift.py's, recomputed here, and differ
    # from the programming-time ones (so a recalibration that wrote nothing could not pass).
    chip = reference_chip()
    reference = record_reference(chip, calibration)
    assert r["registers"] == registers_json(recalibrate_bn(copy.copy(chip), YEAR, reference))
    assert r["registers_changed"] > 0
    assert r["registers"] != registers_json(reference.registers)
