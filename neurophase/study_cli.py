"""What every Monte Carlo study command shares: where it runs (--scheduler, --workers), its results store (--store),
and how it shows progress (a bar on a terminal, plain lines otherwise, JSON lines with --json).

Ref: docs/architecture.md D10; model/study_engine.py (the engine and its progress events).
"""

import json
import sys

from neurophase.options import integer, output_file

__all__ = ["add_engine_arguments", "cluster_of", "Progress"]


def add_engine_arguments(p, store):
    """The engine's options on parser ``p``; ``store`` says where the results store is by default (``--store`` is
    None unless given)."""
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (its workers need this package); "
                        "default: a local cluster with one worker per core")
    p.add_argument("--workers", type=integer(1, 256), default=None, help="local workers (default: one per core)")
    p.add_argument("--store", type=output_file(), default=None,
                   help=f"results store, one CSV row per point; points already in it are not computed again "
                        f"(default {store})")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output: one JSON object per line on stdout (progress events, then the "
                        "result)")


def cluster_of(args):
    from neurophase.model.study_engine import Cluster
    return Cluster(scheduler=args.scheduler, workers=args.workers)


class Progress:
    """A progress callback for the engine's events, as a context manager: a tqdm bar (points done of total, time
    left) when stderr is a terminal, a plain line per point when not, JSON lines on stdout with ``as_json``.
    ``describe(row)`` says what a stored point measured."""

    def __init__(self, as_json, describe, stream=None):
        self.as_json, self.describe = as_json, describe
        self.stream = stream or sys.stderr
        self.bar = None

    def __call__(self, event):
        if self.as_json:
            print(json.dumps(event), flush=True)
        elif event["event"] == "start":
            self._start(event)
        elif event["event"] == "point":
            self._point(event)

    def _start(self, e):
        where = f"{e['workers']} workers at {e['scheduler']}" if e["missing"] else "nothing to compute"
        print(f"{e['study']}: {e['points']} points, {e['stored']} already in {e['store']}, {e['missing']} to compute "
              f"({where})", file=self.stream, flush=True)
        if e["missing"] and self.stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=e["points"], initial=e["stored"], unit="point", desc=e["study"], file=self.stream,
                            smoothing=0, dynamic_ncols=True)

    def _point(self, e):
        what = self.describe(e["row"])
        if self.bar is not None:
            self.bar.set_postfix_str(what, refresh=False)
            self.bar.update(1)
        else:
            print(f"  [{e['done']}/{e['total']}] {what}   ({e['elapsed_s']:.0f} s, ~{e['left_s']:.0f} s left)",
                  file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if self.bar is not None:
            self.bar.close()
        if self.as_json and isinstance(exc, KeyboardInterrupt):
            print(json.dumps({"event": "interrupted", "message": str(exc)}), flush=True)
