"""The fault study (docs/architecture.md D13): points as plain functions of (network, non-ideality, magnitude, chip
seed), the reports, and bad input; slow: a small study of each network on the study engine (a local Dask cluster,
a results store), the same result in process as on the engine, and a rerun that computes nothing."""

import json

import pytest

from neurophase.model.fault_study import (BASELINE, DIGITS_CNN, NONIDEALITIES, RESNET_STYLE, FaultPoint, NetworkSpec,
                                          StudySettings, chip_config, describe_row, run_point, run_study, study_points,
                                          summarise, write_reports)
from neurophase.model.study_engine import Cluster

SETTINGS = StudySettings(test_images=40)


def made_up_result():
    """A result as run_study writes it, with accuracies chosen by hand: one chip, dead bitlines at 1 and 2 per tile."""
    acc = {BASELINE: [{"none": 0.9, "bn": 0.95, "offset_cal": 0.9, "sr": 0.92}],
           1.0: [{"none": 0.5, "bn": 0.8, "sr": 0.55}], 2.0: [{"none": 0.3, "bn": 0.7, "sr": 0.35}]}
    points = [{"network": "digits_cnn", "nonideality": BASELINE if m == BASELINE else "dead_bitlines",
               "magnitude": 0.0 if m == BASELINE else m, "chip_seed": 2000, "accuracy": a[0]} for m, a in acc.items()]
    settings = {"time": 0.0, "test_images": 40, "encoding": "bit-serial", "budget": 0.05, "chips": 1, "quick": False,
                "chip_seeds": [2000]}
    result = {"network": {"spec": "digits", "calib": None, "data": None, "name": "digits_cnn"}, "settings": settings,
              "digital8": 0.99, "points": points, "runtime_s": 1.0}
    result["summary"] = summarise(result)
    return result


def test_reports_hold_every_point_and_remedy(tmp_path):
    result = made_up_result()
    paths = write_reports(result, tmp_path)
    assert set(paths) == {"json", "csv", "md", "png"} and all(p.stat().st_size > 0 for p in paths.values())
    assert json.loads(paths["json"].read_text())["summary"] == result["summary"]
    rows = paths["csv"].read_text().splitlines()
    assert len(rows) == 1 + 4 + 3 + 3        # baseline: 4 remedies; each magnitude: none, bn, sr
    assert rows[1].startswith("digits_cnn,baseline,0.0,2000,none,0.9,")
    entry = result["summary"]["dead_bitlines"]
    assert entry["magnitudes"] == [0.0, 1.0, 2.0] and set(entry) == {"magnitudes", "none", "bn", "sr"}
    assert entry["bn"]["mean"] == [0.95, 0.8, 0.7]
    md = paths["md"].read_text()
    assert "| dead bitlines (dead bitlines per tile) | 0 | 90.0 | 95.0 | 92.0 |" in md     # one chip: no spread
    assert "ADC offset calibration" not in md         # no row has it: no column


def test_a_network_without_training_code_has_no_selective_reprogramming():
    assert "sr" in FaultPoint(DIGITS_CNN, "stuck_set", 0.01, 0).remedies
    assert FaultPoint(RESNET_STYLE, "stuck_set", 0.01, 0).remedies == ("none", "bn")
    assert FaultPoint(RESNET_STYLE, BASELINE, 0.0, 0).remedies == ("none", "bn", "offset_cal")
    assert not NetworkSpec("digits", data="other_test.npz").is_digits     # another test set: not the shipped study


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("fault_study")
    result = run_study(chips=1, settings=SETTINGS, quick=True, nonidealities=["adc_offset", "dead_bitlines"],
                       store=out / "store.csv", cluster=Cluster(workers=2))
    return result, write_reports(result, out), out / "store.csv"


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


@pytest.mark.slow
def test_a_dead_bitline_hurts_and_bn_recalibration_recovers_most_of_it(small_study):
    result, paths, _ = small_study
    assert len(json.loads(paths["json"].read_text())["points"]) == 3
    entry = result["summary"]["dead_bitlines"]
    assert entry["none"]["mean"][1] < entry["none"]["mean"][0] - 0.1
    assert entry["bn"]["mean"][1] > entry["none"]["mean"][1] + 0.1
    assert "| ADC offset (offset sigma, LSB) | 0 |" in paths["md"].read_text()


@pytest.mark.slow
def test_a_point_gives_the_same_accuracies_in_process_as_on_the_engine(small_study):
    result, _, _ = small_study
    pooled = next(p for p in result["points"] if p["nonideality"] == "adc_offset" and p["chip_seed"] == 2000)
    point = FaultPoint(DIGITS_CNN, "adc_offset", pooled["magnitude"], 2000)
    assert run_point(point, SETTINGS) == pooled["accuracy"]


@pytest.mark.slow
def test_the_resnet_style_network_loses_to_a_dead_bitline_and_bn_recalibration_recovers():
    acc = run_point(FaultPoint(RESNET_STYLE, "dead_bitlines", 1.0, 2000), StudySettings(test_images=40))
    assert set(acc) == {"none", "bn"}
    assert acc["bn"] > acc["none"] + 0.1


@pytest.mark.parametrize("kw, msg", [
    (dict(network="resnet"), r"network must be a NetworkSpec, got 'resnet'"),
    (dict(nonideality="heat"), r"non-ideality must be one of baseline, ir_drop, .*, got 'heat'"),
    (dict(magnitude=-1.0), r"magnitude must be a finite number >= 0, got -1.0"),
])
def test_bad_points_raise(kw, msg):
    with pytest.raises(ValueError, match=msg):
        FaultPoint(**{"network": DIGITS_CNN, "nonideality": "ir_drop", "magnitude": 1.0, "chip_seed": 0, **kw})


def test_fault_study_command_rejects_an_unknown_non_ideality(capsys):
    from neurophase.cli import main
    assert main(["fault-study", "--only", "heat"]) == 2
    assert capsys.readouterr().err == ("neurophase fault-study: error: --only: invalid choice: 'heat' (choose from "
                                       "'ir_drop', 'adc_offset', 'adc_gain', 'comparator_noise', 'stuck_set', "
                                       "'stuck_reset', 'dead_wordlines', 'dead_bitlines')\n")


@pytest.mark.slow
def test_the_store_holds_every_point_and_a_rerun_computes_none(small_study):
    """One row per point with the settings as key columns and each remedy's accuracy (empty where a point has no such
    remedy); the same study again reads every point back from the store."""
    import csv
    result, _, store = small_study
    with open(store) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result["points"]) and {r["test_images"] for r in rows} == {"40"}
    assert all(r["sr"] == "" and r["offset_cal"] != "" for r in rows if r["nonideality"] == "adc_offset")
    events = []
    again = run_study(chips=1, settings=SETTINGS, quick=True, nonidealities=["adc_offset", "dead_bitlines"],
                      store=store, cluster=Cluster(workers=1), progress=events.append)
    assert events[0]["missing"] == 0 and again["points"] == result["points"]


def test_a_progress_line_names_the_point_and_the_remedies_it_measured():
    """A point's row as computed (None where a remedy does not apply) or as stored (text, empty)."""
    row = {"nonideality": "adc_offset", "magnitude": 1.0, "chip_seed": 2000, "none": 0.5, "bn": None,
           "offset_cal": "0.75", "sr": ""}
    assert describe_row(row) == "adc_offset 1, chip 2000: none 50.0%, offset_cal 75.0%"


def test_the_command_keeps_its_store_and_fisher_selection_under_the_build_folder(tmp_path, monkeypatch, capsys):
    """$NEUROPHASE_BUILD holds the results store, the cache of the Fisher selection (not a build/ of the current
    folder) and the reports; the study and the report writer are stood in for, as only where they are told to write is
    checked."""
    from neurophase import model
    from neurophase.cli import main
    calls = []
    monkeypatch.setattr(model.fault_study, "run_study", lambda *a, **kw: calls.append(kw) or made_up_result())
    monkeypatch.setattr(model.fault_study, "write_reports", lambda result, out, stem: calls.append((out, stem)) or {})
    monkeypatch.setenv("NEUROPHASE_BUILD", str(tmp_path))
    assert main(["fault-study", "--encoding", "pwm", "--chips", "2", "--images", "120"]) == 0
    assert calls[0]["cache"] == tmp_path / "cache" and calls[0]["store"] == tmp_path / "studies" / "fault_study_pwm.csv"
    assert calls[1] == (tmp_path / "reports", "fault_study_pwm")
    assert "| dead bitlines (dead bitlines per tile) | 0 |" in capsys.readouterr().out
