"""`neurophase bench` writes its JSON report and prints the table (a small batch, so it is quick)."""

import json

import pytest

from neurophase.cli import main


def test_bench_writes_report_and_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--out", str(out), "--batch", "8", "--repeats", "3"]) == 0
    report = json.loads(out.read_text())
    assert report["tile"]["batch"] == 8
    assert report["ratio"] == pytest.approx(report["mvm_ms"] / report["floor_ms"])
    stages = report["single_thread_cpu"]["stages_ms"]
    assert set(stages) == {"bit-planes", "matmul", "noise draw", "noise add", "ADC", "shift-and-add",
                           "other (validation, Python)"}
    assert all(v >= 0 for v in stages.values()) and report["one_off_ms"]["program"] > 0
    table = capsys.readouterr().out
    assert table.startswith(" " * 20) and "headline: one thread (BLAS too)" in table.splitlines()[1]
    assert "  ratio MVM / floor (goal <= 3)" in table and f"wrote {out}" in table


def test_bench_rejects_bad_arguments(tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path / "b.json"), "--repeats", "1"]) == 2
    assert capsys.readouterr().err == "neurophase bench: error: --repeats: must be an integer in [3, 10000], got 1\n"


@pytest.mark.slow  # the chip builds (digits and bottleneck under Verilator, digits under Icarus), then ~2 minutes
@pytest.mark.sim
@pytest.mark.timeout(3600)
def test_bench_times_whole_chip_runs_and_says_where_the_time_goes(tmp_path, capsys):
    from neurophase.bench import CHIP_TIME_PARTS
    out = tmp_path / "bench.json"
    assert main(["bench", "--out", str(out), "--batch", "8", "--repeats", "3", "--chip-images", "2"]) == 0
    chip = json.loads(out.read_text())["chip"]
    runs = {"digits (verilator)": 2, "digits (icarus)": 1, "bottleneck (verilator)": 2}
    for run, inputs in runs.items():
        r = chip[run]
        assert r["images"] == inputs and r["mismatches"] == 0 and r["error"] is None
        assert r["images_per_s"] == pytest.approx(inputs / r["wall_s"])
        assert r["cycles_per_s"] == pytest.approx(r["cycles"] / r["wall_s"])
        assert tuple(r["time_s"]) == CHIP_TIME_PARTS
        assert all(v >= 0 for v in r["time_s"].values())      # start-up, the rest, too: the parts fit the total
    table = capsys.readouterr().out
    assert "the digits held-out set (360 images) at this rate: " in table and "(goal: under 60 s)" in table
