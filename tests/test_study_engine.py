"""The Monte Carlo engine with real parts (model/study_engine.py, docs/architecture.md D10): a small drift study run by
the `neurophase` command on a local Dask cluster, on a real scheduler and two workers started as separate processes
with the `dask scheduler` / `dask worker` tools on 127.0.0.1, with one of them killed mid-study, and interrupted by
Ctrl-C and resumed. Every run must give the same table; no point may be lost or stored twice."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest

from neurophase.model.study_engine import Cluster
from sigint import default_sigint

# 2 fixed points + 2 methods x 3 chips x 2 times = 14 points in 7 tasks (one per chip and time, one for the fixed).
SMALL = ["drift-study", "--chips", "3", "--times", "1", "31557600", "--images", "32", "--methods", "pcm", "bn"]
POINTS = 14
BIN = Path(sys.executable).parent
TIMEOUT = 600               # s, per study run (the suite may share the machine with other jobs)


def _table(store):
    """The stored rows as a set of tuples (the order rows finish in is free), checking no point is there twice."""
    with open(store, newline="") as f:
        rows = list(csv.reader(f))
    keys = [tuple(r[:8]) for r in rows[1:]]
    assert len(set(keys)) == len(keys), "a point is stored twice"
    return rows[0], set(map(tuple, rows[1:]))


@contextmanager
def _processes():
    """Start processes with ``start(args, **popen)``; every one is ended on the way out, test passed or not."""
    started = []

    def start(args, **kw):
        p = subprocess.Popen(args, start_new_session=True, preexec_fn=default_sigint, **kw)
        started.append(p)
        return p
    try:
        yield start
    finally:
        for p in started:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=60)
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()


def _study(start, store, out, *extra):
    """The small study as a `neurophase` process, JSON events on its stdout."""
    return start([str(BIN / "neurophase"), *SMALL, "--store", str(store), "--out", str(out), "--json", *extra],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _events_until(proc, predicate):
    """Read the study's JSON events until one satisfies ``predicate``; return the events read."""
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if predicate(events[-1]):
            return events
    raise AssertionError(f"the study ended before the awaited event: {proc.wait()}, {proc.stderr.read()}")


def _finish(proc):
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()]


def _chip_point(event):
    return event["event"] == "point" and event["row"]["chip_seed"] is not None


@pytest.fixture(scope="module")
def local_table(tmp_path_factory):
    """The small study on the default local cluster (one worker per core): the reference table."""
    tmp = tmp_path_factory.mktemp("local")
    with _processes() as start:
        events = _finish(_study(start, tmp / "store.csv", tmp))
    assert events[0]["event"] == "start" and events[0]["missing"] == POINTS and events[-1]["event"] == "result"
    assert sum(e["event"] == "point" for e in events) == POINTS
    header, rows = _table(tmp / "store.csv")
    assert len(rows) == POINTS
    return header, rows


@pytest.fixture
def cluster(tmp_path):
    """A Dask scheduler and two single-threaded workers, each its own process (`dask scheduler`, `dask worker`) on
    127.0.0.1: (scheduler address, a distributed Client on it, the `start` of the processes)."""
    from distributed import Client
    with _processes() as start:
        scheduler_file = tmp_path / "scheduler.json"
        common = ["--no-dashboard", "--host", "127.0.0.1"]
        start([str(BIN / "dask"), "scheduler", "--port", "0", "--scheduler-file", str(scheduler_file), *common],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name in ("w0", "w1"):
            start([str(BIN / "dask"), "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                   "--no-nanny", "--name", name, "--local-directory", str(tmp_path / name), *common],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # the test's own client: its chatter is not under test
            with Client(address, timeout="60s") as client:
                client.wait_for_workers(2, timeout=120)
                yield address, client, start


def test_a_study_on_an_existing_cluster_gives_the_table_of_a_local_run(cluster, local_table, tmp_path):
    address, client, start = cluster
    events = _finish(_study(start, tmp_path / "store.csv", tmp_path, "--scheduler", address))
    assert events[0]["scheduler"] == address and events[0]["workers"] == 2
    assert _table(tmp_path / "store.csv") == local_table


def test_a_worker_killed_mid_study_has_its_points_computed_again_none_lost_none_twice(cluster, local_table, tmp_path):
    address, client, start = cluster
    proc = _study(start, tmp_path / "store.csv", tmp_path, "--scheduler", address)
    _events_until(proc, _chip_point)
    deadline = time.monotonic() + TIMEOUT
    while True:             # the worker to kill holds a task of the study right now
        busy = [w for w, keys in client.processing().items() if any(str(k).startswith("drift-study") for k in keys)]
        if busy:
            break
        assert proc.poll() is None and time.monotonic() < deadline, "no task left to interrupt"
        time.sleep(0.05)
    victim = busy[0]
    os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
    _finish(proc)
    assert victim not in client.scheduler_info()["workers"]
    assert _table(tmp_path / "store.csv") == local_table


def test_ctrl_c_leaves_a_consistent_store_and_the_study_resumes_with_the_missing_points(local_table, tmp_path):
    store = tmp_path / "store.csv"
    with _processes() as start:
        proc = _study(start, store, tmp_path)
        _events_until(proc, _chip_point)
        os.killpg(proc.pid, signal.SIGINT)          # as a terminal's Ctrl-C: the client and its workers
        out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130
    assert err.count("\n") == 1 and err.startswith("neurophase drift-study: interrupted; "), err
    assert "again to compute the other" in err and "Traceback" not in err
    assert json.loads(out.splitlines()[-1])["event"] == "interrupted"
    header, rows = _table(store)
    assert header == local_table[0] and rows < local_table[1] and rows
    with _processes() as start:
        events = _finish(_study(start, store, tmp_path))
    assert (events[0]["stored"], events[0]["missing"]) == (len(rows), POINTS - len(rows))
    assert sum(e["event"] == "point" for e in events) == POINTS - len(rows)
    assert _table(store) == local_table


def test_cluster_takes_a_scheduler_or_a_number_of_local_workers():
    with pytest.raises(ValueError, match="give either a scheduler address or a number of local workers, not both"):
        Cluster(scheduler="tcp://127.0.0.1:8786", workers=2)
    with pytest.raises(ValueError, match=r"workers must be an integer in \[1, 1024\], got 0"):
        Cluster(workers=0)
