"""Where the studies of issue 15 run their points: a process pool, the thin adapter until the Dask engine of the
studies issue (branch studies-dask) lands.

Ref: model/fault_study.py, model/noise_training_study.py. A study is a list of points and a plain function of one
point; :func:`map_points` calls it on every point on ``jobs`` processes and hands each result back as it arrives.
Every point depends only on its own seeds, so the results do not depend on the number of processes or their order.
"""

import os
import time

__all__ = ["map_points"]


def _call(args):
    fn, point = args
    return point, fn(point)


def map_points(fn, points, jobs=None, log=None, describe=str):
    """``[fn(p) for p in points]`` on ``jobs`` spawned processes (default every core), each running numpy on one
    thread; ``log(message)``, if given, hears of every finished point (``describe(point)``, result, elapsed time)."""
    import multiprocessing as mp
    jobs = jobs or os.cpu_count() or 1
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"       # inherited by the spawned workers before they import numpy
    results, t0 = {}, time.time()
    with mp.get_context("spawn").Pool(jobs) as pool:
        for k, (p, r) in enumerate(pool.imap_unordered(_call, [(fn, p) for p in points]), 1):
            results[p] = r
            if log:
                log(f"  [{k}/{len(points)}] {describe(p)}: {r}  ({time.time() - t0:.0f} s)")
    return [results[p] for p in points]
