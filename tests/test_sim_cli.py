"""`neurophase sim` / `make sim TILE=n`: real tiles of the reference network through the full-size tile RTL."""

import json

import pytest

from neurophase.cli import main

# conv1 (a whole layer on one tile), conv3's first row block (row split: raw partial sums), fc (signed last layer).
TILES = {0: "conv1", 2: "conv3", 4: "fc"}


@pytest.mark.sim
@pytest.mark.parametrize("tile", TILES)
def test_sim_tile_matches_golden_model(sim, tile, tmp_path, capsys):
    rc = main(["sim", "--tile", str(tile), "--sim", sim, "--images", "1", "--time", "86400", "--seed", "7",
               "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / f"sim_tile{tile}.json").read_text())
    assert rc == 0, out
    assert report["mismatches"] == 0 and report["outputs_checked"] == report["mvms"] * report["cols_used"] > 0
    assert (report["tile"], report["layer"], report["sim"], report["images"], report["seed"]) == \
        (tile, TILES[tile], sim, 1, 7)
    assert report["output"] == ("raw" if tile == 2 else "bn")
    assert report["cycles"] > 0 and report["counters"]["mvm_count"] == report["mvms"]
    assert f"tile {tile}  layer {TILES[tile]}  MVMs {report['mvms']}" in out and "mismatches 0 of" in out


@pytest.mark.sim
@pytest.mark.parametrize("tile, fault", [(0, 100), (3, 1)])
def test_sim_reports_mismatches_and_fails_when_the_rtl_is_misconfigured(tile, fault, tmp_path, capsys):
    rc = main(["sim", "--tile", str(tile), "--images", "1", "--inject-fault", str(fault),
               "--report-dir", str(tmp_path)])
    report = json.loads((tmp_path / f"sim_tile{tile}.json").read_text())
    assert rc == 1
    assert report["mismatches"] > 0 and "error" in report
    assert f"mismatches {report['mismatches']} of" in capsys.readouterr().out


def test_sim_writes_a_waveform_when_asked(tmp_path, capsys):
    rc = main(["sim", "--tile", "4", "--images", "1", "--waves", "--report-dir", str(tmp_path)])
    report = json.loads((tmp_path / "sim_tile4.json").read_text())
    assert rc == 0
    assert report["waves"] and report["waves"].endswith(".vcd")
    with open(report["waves"], "rb") as f:
        assert len(f.read(64)) == 64
    assert f"waveform: {report['waves']}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, msg", [
    (["--tile", "144"], "--tile: must be an integer in [0, 143], got 144"),
    (["--tile", "-1"], "--tile: must be an integer in [0, 143], got -1"),
    (["--tile", "9"], "tile 9 has no work: the reference network is mapped onto tiles 0..4 of the chip's 0..143"),
    (["--images", "0"], "--images: must be a number of images in [1, 360] or 'all', got '0'"),
    (["--images", "361"], "--images: must be a number of images in [1, 360] or 'all', got '361'"),
    (["--time", "-1"], "--time: must be a finite number >= 0, got '-1'"),
    (["--seed", "-3"], "--seed: must be an integer in [0, 4294967295], got -3"),
    (["--sim", "modelsim"], "--sim: invalid choice: 'modelsim' (choose from 'icarus', 'verilator')"),
])
def test_sim_rejects_bad_arguments_naming_the_valid_range(argv, msg, capsys):
    assert main(["sim", *argv]) == 2
    assert capsys.readouterr().err == f"neurophase sim: error: {msg}\n"
