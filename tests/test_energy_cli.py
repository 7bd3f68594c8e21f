"""`neurophase energy`: report, plots and claims table; `--area` synthesis with Yosys."""

import json

import pytest

from neurophase.cli import main
from neurophase.model.claims import check_claims, load_published


def test_energy_command_writes_report_plots_and_claims(tmp_path, capsys):
    assert main(["energy", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "energy.json").read_text())
    for name in ("energy_breakdown.png", "efficiency_comparison.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for enc in ("bit-serial", "pwm"):
        band = report["resnet50"][enc]
        energies = [band[c]["energy_per_image_j"] for c in ("low", "nominal", "high")]
        assert energies == sorted(energies)
    bs = report["resnet50"]["bit-serial"]["nominal"]
    assert bs["weights"] == 25_502_912 and bs["ops"] == 2 * bs["macs"]
    assert bs["tops_per_w"] == pytest.approx(bs["ops"] / bs["energy_per_image_j"] / 1e12)
    assert sum(bs["energy_breakdown_j"].values()) == pytest.approx(bs["energy_per_image_j"])
    assert sum(l["events"]["adc_conversions"] for l in bs["layers"]) == bs["events"]["adc_conversions"]
    assert bs["power_at_fps_w"] == pytest.approx(
        (bs["energy_per_image_j"] - bs["energy_breakdown_j"]["leakage"]) * 142 + bs["leakage_w"])
    # The claims in the report are the claims check of the report's own inputs; the twin's carry their band.
    pub = load_published()
    first = check_claims(pub["paper"], pub["battery"], pub["chips"], ops_per_frame=bs["ops"],
                         weights=bs["weights"], rel_tol=report["rel_tol"])
    assert report["claims"][:len(first)] == [c.as_dict() for c in first]
    twin = report["claims"][len(first)]
    assert twin["low"] <= twin["computed"] <= twin["high"]
    md = (tmp_path / "energy_claims.md").read_text()
    assert md.count("\n") == len(report["claims"]) + 2
    assert "NeuroSim V1.4 (22 nm RRAM), published" in (tmp_path / "neurosim_crosscheck.md").read_text()
    out = capsys.readouterr().out
    assert "claims check" in out and "does NOT fit" in out and "TOPS/W" in out


@pytest.mark.slow  # Yosys (YoWASP) compiles itself on its first run on a machine: about a minute
def test_yosys_counts_the_flip_flops_of_a_small_shift_and_add(tmp_path):
    from neurophase.energy import synth_stats
    from neurophase.rtl.export import write_verilog
    from neurophase.rtl.shift_add import ShiftAdd
    lanes, acc_bits = 2, 8
    path = write_verilog(ShiftAdd(lanes=lanes, b_adc=4, acc_bits=acc_bits), "np_sa_area", tmp_path)
    stats = synth_stats(path, "np_sa_area")
    # One register bit per accumulator bit and one saturation flag per lane.
    assert stats["flip_flops"] == lanes * acc_bits + lanes
    assert stats["cells"] > stats["flip_flops"]


def test_energy_of_the_digits_cnn_runs_the_test_set_given_with_data(tmp_path):
    """`--network digits --data TEST.npz` measures the activity of those inputs, not the shipped test set's."""
    import numpy as np
    np.savez(tmp_path / "blank.npz", x=np.zeros((4, 1, 8, 8), np.float32), y=np.zeros(4, np.int64))
    assert main(["energy", "--out", str(tmp_path / "own"), "--images", "4"]) == 0
    assert main(["energy", "--out", str(tmp_path / "blank"), "--images", "4",
                 "--data", str(tmp_path / "blank.npz")]) == 0
    own = json.loads((tmp_path / "own" / "energy.json").read_text())["reference_cnn"]
    blank = json.loads((tmp_path / "blank" / "energy.json").read_text())["network"]
    assert blank["inputs"] == own["inputs"] == 4
    # Ignoring --data would measure the shipped test set's first 4 images again: the same activity to the last digit.
    assert (blank["mean_popcount"], blank["p_nonzero"]) != (own["mean_popcount"], own["p_nonzero"])
