"""A study of independent points from a plain function (model/point_study.py) on a real local Dask cluster: the results
are the function's, every point is stored once, a rerun computes only the missing points, and the settings shared by
the points key the store."""

import sys
from dataclasses import dataclass

import cloudpickle
import pytest

from neurophase.model.point_study import PointStudy, map_points
from neurophase.model.results_store import read_rows
from neurophase.model.study_engine import Cluster

# The workers are other processes that cannot import this test module: send its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass(frozen=True)
class Point:
    """As the fault study's points: a non-ideality at a magnitude on a chip seed."""
    nonideality: str
    magnitude: float
    chip_seed: int


POINTS = [Point("baseline", 0.0, 7), Point("stuck_set", 0.01, 7), Point("stuck_set", 0.03, 7), Point("baseline", 0.0, 8)]
SETTINGS = {"time": 0.0, "test_images": 32}
REMEDIES = ("none", "bn", "sr")


def _accuracies(point):
    """A stand-in measurement with the fault study's shape: one number per remedy the point measures."""
    measured = REMEDIES if point.nonideality == "baseline" else ("none", "sr")
    return {r: (point.chip_seed + 10 * i) / (1 + point.magnitude) for i, r in enumerate(measured)}


def test_map_points_returns_the_functions_results_and_a_rerun_computes_only_the_missing_points(tmp_path):
    store, events = tmp_path / "fault.csv", []
    first = map_points("fault-study", _accuracies, POINTS[:2], REMEDIES, store, SETTINGS, Cluster(workers=2))
    assert first == [_accuracies(p) for p in POINTS[:2]]
    results = map_points("fault-study", _accuracies, POINTS, REMEDIES, store, SETTINGS, Cluster(workers=2),
                         events.append)
    assert results == [_accuracies(p) for p in POINTS]
    assert (events[0]["stored"], events[0]["missing"]) == (2, 2)
    assert sum(e["event"] == "point" for e in events) == 2
    rows = read_rows(store)
    assert list(rows[0])[:7] == ["time", "test_images", "nonideality", "magnitude", "chip_seed", "none", "bn"]
    assert sorted((r["nonideality"], r["magnitude"], r["chip_seed"]) for r in rows) == sorted(
        (p.nonideality, repr(p.magnitude), str(p.chip_seed)) for p in POINTS)
    assert [r["bn"] for r in rows if r["nonideality"] == "stuck_set"] == ["", ""]


def test_the_shared_settings_are_key_columns_so_other_settings_are_other_points():
    a = PointStudy("fault-study", _accuracies, POINTS, REMEDIES, {"time": 0.0})
    b = PointStudy("fault-study", _accuracies, POINTS, REMEDIES, {"time": 3600.0})
    assert a.key_columns == b.key_columns == ("time", "nonideality", "magnitude", "chip_seed")
    assert [k["time"] for k in a.points()] == [0.0] * 4 and [k["time"] for k in b.points()] == [3600.0] * 4


def test_a_point_study_refuses_measurements_named_as_key_columns_and_points_of_other_columns():
    with pytest.raises(ValueError, match=r"fault-study: measurements \['chip_seed'\] are also key columns; "
                                         r"name them apart"):
        PointStudy("fault-study", _accuracies, POINTS, ("none", "chip_seed"))
    with pytest.raises(ValueError, match=r"fault-study: every point must have the columns \['nonideality', "
                                         r"'magnitude', 'chip_seed'\], got \['nonideality'\]"):
        PointStudy("fault-study", _accuracies, POINTS + [{"nonideality": "x"}], REMEDIES)
    with pytest.raises(ValueError, match="fault-study: a study needs at least one point"):
        PointStudy("fault-study", _accuracies, [], REMEDIES)


@pytest.mark.parametrize("result, message", [
    ({"none": 0.5, "heat": 0.1}, r"measured \['heat'\]; the study's measurements are \['none', 'bn', 'sr'\]"),
    ({"none": "high"}, r"measured none = 'high'; a measurement is a number"),
])
def test_a_point_that_measures_something_else_than_numbers_of_the_study_is_an_error(result, message):
    study = PointStudy("fault-study", lambda p: result, POINTS[:1], REMEDIES)
    task, = study.tasks(study.points())
    with pytest.raises(ValueError, match=message):
        task.fn(*task.args)
