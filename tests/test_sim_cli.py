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
    (["--tile", "144"], "--tile must be an integer in [0, 143], got 144"),
    (["--tile", "-1"], "--tile: must be an integer >= 0, got -1"),
    (["--tile", "9"], "tile 9 has no work: the reference network is mapped onto tiles 0..4 of the chip's 0..143"),
    (["--images", "0"], "--images: must be a number of images >= 1 or 'all', got '0'"),
    (["--images", "361"], "--images must be a number of images in [1, 360] or 'all', got 361"),
    (["--time", "-1"], "--time: must be a finite number >= 0, got '-1'"),
    (["--seed", "-3"], "--seed: must be an integer in [0, 4294967295], got -3"),
    (["--sim", "modelsim"], "--sim: invalid choice: 'modelsim' (choose from 'icarus', 'verilator')"),
    (["--tile", "4", "--encoding", "pdm"], "--encoding: invalid choice: 'pdm' (choose from 'bit-serial', 'pwm')"),
    (["--encoding", "pdm"], "--encoding: invalid choice: 'pdm' (choose from 'bit-serial', 'pwm')"),
])
def test_sim_rejects_bad_arguments_naming_the_valid_range(argv, msg, capsys):
    assert main(["sim", *argv]) == 2
    assert capsys.readouterr().err == f"neurophase sim: error: {msg}\n"


@pytest.mark.sim
def test_sim_runs_a_tile_of_an_imported_network(tmp_path, capsys):
    """A tile of tests/onnx_builders.py's residual network (its 160-output, 360-row layer: row group 1 of 2, column
    block 2 of 2, raw partial sums) through the tile RTL under Icarus, from its network file."""
    import numpy as np
    import onnx
    from onnx_builders import residual_net
    rng = np.random.default_rng(2)
    onnx.save_model(residual_net(), str(tmp_path / "net.onnx"))
    np.savez(tmp_path / "calib.npz", x=rng.normal(size=(16, 4, 8, 8)))
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(4, 4, 8, 8)), y=rng.integers(0, 10, 4))
    assert main(["import", str(tmp_path / "net.onnx"), "--calib", str(tmp_path / "calib.npz"), "--data",
                 str(tmp_path / "test.npz"), "--out", str(tmp_path / "net.npz"), "--images", "1",
                 "--report", str(tmp_path / "import.json")]) == 0
    rc = main(["sim", "--network", str(tmp_path / "net.npz"), "--tile", "3", "--images", "1",
               "--report-dir", str(tmp_path)])
    report = json.loads((tmp_path / "sim_tile3.json").read_text())
    assert rc == 0, capsys.readouterr().out
    assert (report["layer"], report["output"], report["mismatches"]) == ("block.conv", "raw", 0)
    assert report["outputs_checked"] == 16 * 32


@pytest.mark.slow  # a Verilator build of 14 full-size tiles: several minutes
@pytest.mark.sim
def test_sim_runs_an_imported_network_through_the_whole_chip_rtl(tmp_path, capsys):
    """tests/onnx_builders.py's residual network (row groups of 2 and 6 tiles, a layer of 2 column blocks, a residual
    add) from its ONNX file through the whole-chip RTL: every word, the logits, the event counts and cycles."""
    import numpy as np
    import onnx
    from onnx_builders import residual_net
    rng = np.random.default_rng(2)
    onnx.save_model(residual_net(), str(tmp_path / "net.onnx"))
    np.savez(tmp_path / "calib.npz", x=rng.normal(size=(16, 4, 8, 8)))
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(4, 4, 8, 8)), y=rng.integers(0, 10, 4))
    rc = main(["sim", "--network", str(tmp_path / "net.onnx"), "--calib", str(tmp_path / "calib.npz"), "--data",
               str(tmp_path / "test.npz"), "--images", "2", "--sim", "verilator", "--report-dir", str(tmp_path)])
    report = json.loads((tmp_path / "chip.json").read_text())
    assert rc == 0, capsys.readouterr().out
    assert report["mismatches"] == 0 and report["event_mismatches"] == {}
    assert report["cycles"] == report["cycles_model"] and report["words_checked"] > 0
