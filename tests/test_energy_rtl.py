"""Analytic event counts against the tile RTL: MVMs and clock cycles per MVM agree exactly, for either input
encoding."""

import pytest

from neurophase.model.activity import measured_activity
from neurophase.model.arith import PeripheryFormat
from neurophase.model.cycles import CycleModel
from neurophase.model.events import count_events
from neurophase.model.interface import InputEncoding
from neurophase.model.workload import LayerWork

CASES = {
    # BN readout sets the pace: 13 columns issued, one per cycle.
    "readout_bound": dict(rows=32, columns=16, rows_used=27, cols_used=13, acts_per_beat=8),
    # Loading the next vector sets the pace: 200 rows at 8 per beat.
    "load_bound": dict(rows=256, columns=16, rows_used=200, cols_used=16, acts_per_beat=8),
}


@pytest.mark.slow  # two tile RTL runs per case under Icarus, about a minute each
@pytest.mark.sim
@pytest.mark.parametrize("encoding", list(InputEncoding), ids=lambda e: e.label)
@pytest.mark.parametrize("case", CASES)
def test_tile_rtl_cycles_per_mvm_match_the_cycle_model(case, encoding, tmp_path):
    from neurophase.tb.tile_sim import run_workload
    from neurophase.tb.tile_workload import random_workload
    kw, fmt = CASES[case], PeripheryFormat()
    runs = {}
    for mvms in (3, 9):
        wl = random_workload(seed=5, fmt=fmt, mvms=mvms, encoding=encoding, **kw)
        # One case name for both runs and encodings: the harness is the same, so later runs reuse the build.
        runs[mvms] = run_workload(wl, sim="icarus", case=f"energy_{case}", workdir=tmp_path / str(mvms),
                                  testcase="workload_matches_golden")
        assert runs[mvms]["mismatches"] == 0
        assert runs[mvms]["counters"]["mvm_count"] == count_events(
            LayerWork(case, kw["rows_used"], kw["cols_used"], mvms, (kw["rows_used"],), (kw["cols_used"],)),
            activity=measured_activity(wl.x, fmt.b_in), encoding=encoding, fmt=fmt).mvms
    # The first load and the last drain cancel in the difference: what remains is the steady MVM period.
    period = (runs[9]["cycles"] - runs[3]["cycles"]) / 6
    model = CycleModel(acts_per_beat=kw["acts_per_beat"])
    assert period == model.mvm_cycles(encoding, fmt, kw["rows_used"], kw["cols_used"])
