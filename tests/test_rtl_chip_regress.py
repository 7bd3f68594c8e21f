"""Constrained-random networks through the whole-chip RTL (tb/regress.py): every response word, the logits, every
layer's event counts and cycles equal the golden executor's and CycleModel's, bit for bit."""

import pytest

from neurophase.tb.regress import regress_summary, replay_command


def _check(report, seeds):
    assert "error" not in report, report.get("error")
    assert report["failed_seeds"] == [] and report["mismatches"] == 0
    assert [r["seed"] for r in report["runs"]] == list(seeds)
    for r in report["runs"]:
        assert r["words_checked"] > 0 and r["event_mismatches"] == {}
        assert r["cycles"] == r["cycles_model"] > 0, r["seed"]


# One Verilator build of a 32-tile chip of 32 x 16 tiles (shared by every seed list; 15 min at load 28, a few minutes
# idle), then seconds per network (47 s for these six at load 28, all bit-serial). Seeds 0-4 hold reduction groups of
# 1 to 13 tiles, layers of 2 to 4 column blocks and residual adds; seed 39 a group of 18 tiles (a 3 x 3 convolution
# on 63 channels: 567 rows), the largest ResNet-50 needs. Encodings: seeds 0-2 mixed chips, 3 and 39 all PWM (the
# 18-tile group reads by PWM), 4 all bit-serial.
@pytest.mark.sim
@pytest.mark.timeout(2400)
def test_six_random_networks_run_bit_for_bit_through_the_chip_rtl_under_verilator(tmp_path):
    from neurophase.model.interface import CHIP_MAX_GROUP
    from neurophase.tb.regress import run_regress
    seeds = [0, 1, 2, 3, 4, 39]
    report = run_regress(seeds, report_dir=tmp_path)
    _check(report, seeds)
    features = [r["features"] for r in report["runs"]]
    assert {f["max_group"] for f in features} >= {1, 2, 5, CHIP_MAX_GROUP}
    assert max(f["max_col_blocks"] for f in features) >= 2
    assert any(f["residual_adds"] for f in features)
    pwm = [(f["pwm_layers"], f["layers"]) for f in features]
    assert any(n == 0 for n, _ in pwm) and any(n == k for n, k in pwm) and any(0 < n < k for n, k in pwm)


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.timeout(3600)
def test_fifty_more_random_networks_run_bit_for_bit_through_the_chip_rtl_under_verilator(tmp_path):
    from neurophase.tb.regress import run_regress
    seeds = range(5, 55)
    _check(run_regress(seeds, report_dir=tmp_path), seeds)


def test_a_failing_or_unfinished_seed_is_reported_with_the_command_that_replays_it():
    from neurophase.model.random_network import RegressionChip
    run = dict(seed=3, mismatches=2, words_checked=10, cycles=5)
    report = regress_summary([3, 4], [run], RegressionChip(), "verilator", 1.0, None)
    assert report["failed_seeds"] == [3, 4]
    assert report["replay"][4] == replay_command(4) == \
        "make regress SEEDS=1 START=4   (or: neurophase regress --seeds 1 --start 4)"
