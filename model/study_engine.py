"""The engine of every Monte Carlo study: points -> results store, on a Dask cluster.

Ref: docs/architecture.md D10; model/results_store.py (the store); model/drift_study.py and neurophase/infer.py (the
studies on it).

A study (:class:`Study`) names its points (one row each of its table: a dict of its key columns, e.g. network,
method, chip seed, time and read-noise seed) and groups the points still missing into :class:`Task` s: a task
computes several points that share work (one programmed chip, one drifted conductance matrix, one calibration pass)
and returns one row per point. Inputs that several tasks need (a programmed chip, a reprogramming selection) are
:class:`Shared`: computed once per run on the cluster, as a Dask future the tasks depend on, so Dask runs a task
where its inputs are, moves them when it must, and computes a lost one again.

:func:`run` opens the study's :class:`~neurophase.model.results_store.ResultsStore`, skips the points it already holds
(so an interrupted study, run again, computes only the missing ones), submits the tasks and writes each task's rows to
the store as soon as it finishes. Every seed belongs to a point, every task runs BLAS on one thread (and a study fixes
its tiles' thread count), so the rows do not depend on the number of workers, their threads or the order in which
tasks finish. A worker that dies mid-task has its tasks computed again by the others (Dask reschedules them and
recomputes any shared input lost with it); the client writes a point once, when its task's result first arrives, and
the store refuses a second copy, so nothing is lost or written twice. Each row also holds the digest of the model
sources that computed it (``model_digest``): a store from another version of the model, or a worker running one, is
refused rather than mixed in.

Where: ``Cluster(scheduler=None)`` starts an embedded ``distributed.LocalCluster`` with one single-threaded worker
process per core (``workers`` to choose); ``Cluster(scheduler="tcp://host:8786")`` connects to an existing cluster,
whose workers must have this package installed. Progress goes to a callback as events (dicts): ``start`` (points in
the study, already stored, to compute, workers, scheduler), ``point`` (one per stored point: its row, points done,
seconds elapsed and the estimated seconds left) and ``end``.

Ctrl-C: the client stops waiting, cancels its tasks, closes the cluster it started (whose workers ignore the
terminal's SIGINT, so they neither die mid-write nor print) and raises :class:`Interrupted` (a KeyboardInterrupt)
saying how many points are stored; the store holds every point finished so far, each complete.
"""

import hashlib
import logging
import os
import signal
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol

from neurophase.model.checks import check_int
from neurophase.model.results_store import ResultsStore

__all__ = ["Shared", "Task", "Study", "Cluster", "Interrupted", "run", "default_workers", "dask_setup", "model_digest",
           "DIGEST_COLUMN"]

DIGEST_COLUMN = "model_digest"      # the engine's own column: which model sources computed a point


@dataclass(frozen=True)
class Shared:
    """An input several tasks need: ``fn(*args)``, computed once per run (a Dask future). Equal ``key`` s are one
    computation; ``args`` may hold other :class:`Shared` inputs."""
    key: str
    fn: Callable
    args: tuple = ()


@dataclass(frozen=True)
class Task:
    """Computes ``points`` (dicts of the study's key columns) together: ``fn(*args)`` returns one row (a dict of every
    column of the study) per point, in any order. ``args`` may hold :class:`Shared` inputs, which ``fn`` receives
    computed."""
    points: tuple
    fn: Callable
    args: tuple = ()


class Study(Protocol):
    """What the engine needs of a study."""
    name: str                   # e.g. "drift-study": names the tasks on the cluster and the progress
    columns: tuple              # every column of a row, in the store's order
    key_columns: tuple          # the columns that identify a point

    def points(self) -> list:
        """Every point of the study: dicts of the key columns."""

    def tasks(self, missing) -> list:
        """:class:`Task` s that compute exactly the points ``missing`` (a list of points from :meth:`points`)."""


@dataclass(frozen=True)
class Cluster:
    """Where a study runs: an existing Dask scheduler's address, or (None) an embedded LocalCluster of ``workers``
    single-threaded worker processes (None: one per core)."""
    scheduler: str = None
    workers: int = None

    def __post_init__(self):
        if self.scheduler is not None and self.workers is not None:
            raise ValueError("workers are set by the existing cluster's own workers; give either a scheduler address "
                             "or a number of local workers, not both")
        if self.workers is not None:
            check_int("workers", self.workers, 1, 1024)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a study; the message says what the store holds."""


def default_workers():
    """One local worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run(study, store_path, cluster=Cluster(), progress=None):
    """Compute the points of ``study`` missing from the store at ``store_path`` on ``cluster``, writing each as it
    finishes; return the rows (dicts of text, as stored) of every point of the study, in :meth:`Study.points` order."""
    progress = progress or (lambda event: None)
    points = study.points()
    with ResultsStore(store_path, study.columns + (DIGEST_COLUMN,), study.key_columns) as store:
        keys = [store.key_of(p) for p in points]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{study.name}: a point is named twice ({len(keys) - len(set(keys))} duplicates)")
        other = _other_models([store.get(p) for p in points if p in store])
        if other:
            raise RuntimeError(f"results store {store_path} holds points of this study computed by another version of "
                               f"the model (model/*.py digest {other}, now {model_digest()}): delete it or choose "
                               f"another --store")
        missing = [p for p in points if p not in store]
        event = {"event": "start", "study": study.name, "store": str(store_path), "points": len(points),
                 "stored": len(points) - len(missing), "missing": len(missing)}
        if missing:
            try:
                with _client(cluster) as client:
                    progress({**event, "workers": len(client.scheduler_info()["workers"]),
                              "scheduler": client.scheduler.address})
                    _compute(client, study, missing, store, len(points), progress)
            except KeyboardInterrupt:
                done = sum(p in store for p in points)
                raise Interrupted(f"{done} of {len(points)} points stored in {store_path}; run the same command "
                                  f"again to compute the other {len(points) - done}") from None
        else:
            progress({**event, "workers": 0, "scheduler": None})
        rows = [store.get(p) for p in points]
    progress({"event": "end", "study": study.name, "store": str(store_path), "points": len(points)})
    return rows


def _compute(client, study, missing, store, total, progress):
    """Submit the tasks for ``missing`` and store their rows as they finish."""
    from distributed import as_completed
    run_id = uuid.uuid4().hex[:8]       # keys of this run only: a long-lived cluster may hold an earlier run's keys
    tasks = study.tasks(missing)
    planned = sum(len(t.points) for t in tasks)
    if planned != len(missing):
        raise ValueError(f"{study.name}: its tasks cover {planned} points, {len(missing)} are missing")
    shared, futures = {}, {}
    for i, task in enumerate(tasks):
        args = tuple(_submit_shared(client, a, shared, f"{study.name}-{run_id}") for a in task.args)
        future = client.submit(_run_points, task.fn, *args, key=f"{study.name}-{run_id}-task-{i}", pure=False)
        futures[future] = task
    t0 = time.monotonic()
    done, computed = total - len(missing), 0
    try:
        for future, rows in as_completed(list(futures), with_results=True):
            task = futures.pop(future)
            _check_rows(study, store, task, rows)
            store.append(rows)
            for row in rows:
                done, computed = done + 1, computed + 1
                elapsed = time.monotonic() - t0
                progress({"event": "point", "study": study.name, "row": row, "done": done, "total": total,
                          "elapsed_s": elapsed, "left_s": elapsed / computed * (total - done)})
    finally:
        if futures:
            with _ignoring_sigint():
                client.cancel(list(futures))


def _submit_shared(client, arg, shared, prefix):
    """``arg`` itself, or the future of a :class:`Shared` input (submitted once per key, its own inputs first)."""
    if not isinstance(arg, Shared):
        return arg
    if arg.key not in shared:
        args = tuple(_submit_shared(client, a, shared, prefix) for a in arg.args)
        shared[arg.key] = client.submit(_run_task, arg.fn, *args, key=f"{prefix}-{arg.key}", pure=False)
    return shared[arg.key]


def _run_task(fn, *args):
    """Run a shared input on a worker with BLAS on one thread (results independent of the worker's cores)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return fn(*args)


def _run_points(fn, *args):
    """Run a task on a worker (as :func:`_run_task`); its rows name the model sources that computed them."""
    return [{**row, DIGEST_COLUMN: model_digest()} for row in _run_task(fn, *args)]


@lru_cache(maxsize=1)
def model_digest():
    """12 hex digits of the SHA-256 of the model's sources (model/*.py, by name): which model computed a point."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def _other_models(rows):
    """Digests of the model sources that computed ``rows`` other than this one's: a store written by another version
    of the model, or a worker running one, would mix the numbers of two models."""
    return ", ".join(sorted({r[DIGEST_COLUMN] for r in rows} - {model_digest()}))


def _check_rows(study, store, task, rows):
    """A task returns exactly one row per point of its own, computed by this model."""
    want = sorted(store.key_of(p) for p in task.points)
    got = sorted(store.key_of(r) for r in rows)
    if got != want:
        raise RuntimeError(f"{study.name}: a task returned the points {got}, it was given {want}")
    other = _other_models(rows)
    if other:
        raise RuntimeError(f"{study.name}: a worker runs another version of the model (model/*.py digest {other}, "
                           f"here {model_digest()}): install the same neurophase on every worker")


# The workers' own bookkeeping, given to them with the configuration: a task holds the GIL for seconds of numpy work,
# and Dask's statistical profiler (a stack sample every 10 ms) and its 20 ms event-loop tick take it from the task
# thread again and again (measured: 1-chip study on one worker, 60 s of user time against 51 s without them).
_QUIET_WORKERS = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
                  "distributed.worker.memory.monitor-interval": "1s"}


@contextmanager
def _client(cluster):
    """A distributed Client on ``cluster``: connected to its scheduler, or on a LocalCluster started here."""
    import dask
    from distributed import Client, LocalCluster
    quiet = logging.ERROR
    if cluster.scheduler is not None:
        try:
            client = Client(cluster.scheduler, timeout="20s")
        except OSError as e:
            raise RuntimeError(f"cannot reach the Dask scheduler at {cluster.scheduler}: {e}") from None
        local = None
    else:
        n = cluster.workers or default_workers()
        # Workers started with SIGINT ignored (and ignoring it again once up, dask_setup): the terminal's Ctrl-C
        # reaches them too, and only the client must act on it.
        with _ignoring_sigint(), dask.config.set(_QUIET_WORKERS):
            # No dashboard; the scheduler's HTTP routes on a free port (its default 8787 is taken by any other
            # study running at the same time, which warns).
            local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                 scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
                                 silence_logs=quiet, preload=["neurophase.model.study_engine"])
            client = Client(local)
    try:
        yield client
    finally:
        with _ignoring_sigint(), _quiet_logs():
            client.close()
            if local is not None:
                local.close()


def dask_setup(worker):
    """Dask worker preload (LocalCluster workers): ignore SIGINT, which the client handles."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _ignoring_sigint():
    """SIGINT ignored inside (in the main thread): while workers are spawned, and while the client shuts down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextmanager
def _quiet_logs():
    """distributed's shutdown chatter (closing comms, cancelled tasks) silenced."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
