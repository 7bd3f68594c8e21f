"""The fault study (docs/architecture.md D13): points as plain functions of (network, non-ideality, magnitude, chip
seed), the same result in process and in the pool, the reports, and bad input."""

import json

import pytest

from neurophase.model.fault_study import (BASELINE, NONIDEALITIES, FaultPoint, StudySettings, chip_config, run_point,
                                          run_study, study_points, write_reports)

SETTINGS = StudySettings(test_images=40)


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    result = run_study(chips=1, settings=SETTINGS, quick=True, nonidealities=["adc_offset", "dead_bitlines"], jobs=2)
    out = tmp_path_factory.mktemp("fault_study")
    return result, write_reports(result, out)


def test_every_non_ideality_maps_to_its_own_chip_switch():
    assert chip_config(BASELINE, 0.0) == chip_config("ir_drop", 0.0) == chip_config("adc_offset", 0.0)
    assert chip_config("ir_drop", 1.0).tile.r_wordline == chip_config("ir_drop", 1.0).tile.r_bitline == 1.0
    assert chip_config("adc_gain", 0.1).adc_errors.gain_sigma == 0.1
    assert chip_config("comparator_noise", 0.5).adc_errors.comparator_lsb == 0.5
    assert chip_config("stuck_set", 0.01).pcm.p_stuck_set == 0.01
    assert chip_config("stuck_reset", 0.1).pcm.p_stuck_reset == 0.1
    assert chip_config("dead_wordlines", 2).faults.dead_wordlines == 2
    assert chip_config("dead_bitlines", 2, "pwm").faults.dead_bitlines == 2


def test_study_points_share_one_baseline_per_chip():
    points = study_points(2, quick=True)
    assert sum(p.nonideality == BASELINE for p in points) == 2
    assert len(points) == 2 + 2 * len(NONIDEALITIES)
    assert len(set(points)) == len(points)


def test_reports_hold_every_point_and_remedy(small_study):
    result, paths = small_study
    assert set(paths) == {"json", "csv", "md", "png"} and all(p.stat().st_size > 0 for p in paths.values())
    saved = json.loads(paths["json"].read_text())
    assert len(saved["points"]) == 3
    rows = paths["csv"].read_text().splitlines()
    assert len(rows) == 1 + 4 + 3 + 3        # baseline: 4 remedies; adc_offset: 3; dead_bitlines: 3
    entry = result["summary"]["dead_bitlines"]
    assert entry["magnitudes"] == [0.0, 1.0] and set(entry) == {"magnitudes", "none", "bn", "sr"}
    # A dead bitline per tile hurts, and BN recalibration to the ideal statistics recovers most of it.
    assert entry["none"]["mean"][1] < entry["none"]["mean"][0] - 0.1
    assert entry["bn"]["mean"][1] > entry["none"]["mean"][1] + 0.1
    assert "| ADC offset (offset sigma, LSB) | 0 |" in paths["md"].read_text()


def test_a_point_gives_the_same_accuracies_in_process_as_in_the_pool(small_study):
    result, _ = small_study
    pooled = next(p for p in result["points"] if p["nonideality"] == "adc_offset" and p["chip_seed"] == 2000)
    point = FaultPoint("digits-cnn", "adc_offset", pooled["magnitude"], 2000)
    assert run_point(point, SETTINGS) == pooled["accuracy"]


@pytest.mark.parametrize("kw, msg", [
    (dict(network="resnet"), r"network must be one of digits-cnn, got 'resnet'"),
    (dict(nonideality="heat"), r"non-ideality must be one of baseline, ir_drop, .*, got 'heat'"),
    (dict(magnitude=-1.0), r"magnitude must be a finite number >= 0, got -1.0"),
])
def test_bad_points_raise(kw, msg):
    with pytest.raises(ValueError, match=msg):
        FaultPoint(**{"network": "digits-cnn", "nonideality": "ir_drop", "magnitude": 1.0, "chip_seed": 0, **kw})


def test_fault_study_command_rejects_an_unknown_non_ideality(capsys):
    from neurophase.cli import main
    assert main(["fault-study", "--only", "heat"]) == 2
    assert "non-ideality must be one of ir_drop" in capsys.readouterr().err
