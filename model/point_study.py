"""A study of independent points from a plain function, on the study engine: the short path for a sweep whose points
share no work (the fault study: one point = one programmed chip with one non-ideality).

Ref: docs/architecture.md D10 (the study engine); model/study_engine.py (where points run, the store, Ctrl-C).

:func:`map_points` is ``[fn(p) for p in points]`` computed on Dask, one task per point, with every finished point
written at once to a results store and the points already stored not computed again. A point is any mapping or
dataclass whose fields are its key columns (e.g. network, non-ideality, magnitude, chip seed); ``fixed`` adds key
columns every point shares (the study's settings: time, test images, encoding), so a store holds the points of
several settings apart and a rerun with other settings computes its own. ``fn(point)`` (called with the point as
given, so it must pickle: a module-level function or a ``functools.partial`` of one) returns a dict of some of the
study's ``measurements`` (numbers); the store has one column per measurement, empty where a point did not measure it.
:class:`PointStudy` is the same as a :class:`~neurophase.model.study_engine.Study`, for callers that want
:func:`~neurophase.model.study_engine.run`'s stored rows.
"""

from dataclasses import asdict, is_dataclass
from numbers import Integral, Real

from neurophase.model.results_store import cell
from neurophase.model.study_engine import Cluster, Task, run

__all__ = ["PointStudy", "map_points"]


class PointStudy:
    """The study named ``name`` of ``fn`` over ``points`` (mappings or dataclasses of key columns, all the same
    columns), each with the key columns ``fixed``, measuring ``measurements``."""

    def __init__(self, name, fn, points, measurements, fixed=None):
        self.name, self.fn = name, fn
        self.objects = list(points)
        if not self.objects:
            raise ValueError(f"{name}: a study needs at least one point")
        self.keys = [{**(fixed or {}), **_fields(p)} for p in self.objects]
        self.key_columns = tuple(self.keys[0])
        for key in self.keys:
            if tuple(key) != self.key_columns:
                raise ValueError(f"{name}: every point must have the columns {list(self.key_columns)}, got {list(key)}")
        clash = sorted(set(measurements) & set(self.key_columns))
        if clash:
            raise ValueError(f"{name}: measurements {clash} are also key columns; name them apart")
        self.measurements = tuple(measurements)
        self.columns = self.key_columns + self.measurements
        self._object_of = {_text(k): p for k, p in zip(self.keys, self.objects)}

    def points(self):
        return list(self.keys)

    def tasks(self, missing):
        return [Task((k,), _measure, (self.fn, self._object_of[_text(k)], k, self.measurements)) for k in missing]


def map_points(name, fn, points, measurements, store, fixed=None, cluster=Cluster(), progress=None):
    """``[fn(p) for p in points]`` on ``cluster``, through the results store at ``store`` (see the module): each
    result is the dict of the measurements ``fn`` returned for that point (read back from the store)."""
    study = PointStudy(name, fn, points, measurements, fixed)
    rows = run(study, store, cluster, progress)
    return [{m: _number(row[m]) for m in study.measurements if row[m] != ""} for row in rows]


def _fields(point):
    if is_dataclass(point) and not isinstance(point, type):
        return asdict(point)
    return dict(point)


def _text(key):
    """A key as the store's text: points equal in the store are one point here too."""
    return tuple(cell(v) for v in key.values())


def _number(text):
    """A stored measurement back as the int or float it was."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _measure(fn, point, key, measurements):
    """One point's row: its key columns, then what ``fn`` measured (a number per measurement, None where absent)."""
    result = fn(point)
    unknown = sorted(set(result) - set(measurements))
    if unknown:
        raise ValueError(f"the point {key} measured {unknown}; the study's measurements are {list(measurements)}")
    row = dict.fromkeys(measurements)
    for m, v in result.items():
        if isinstance(v, bool) or not isinstance(v, Real):
            raise ValueError(f"the point {key} measured {m} = {v!r}; a measurement is a number")
        row[m] = int(v) if isinstance(v, Integral) else float(v)     # numpy scalars as Python numbers
    return [{**key, **row}]
