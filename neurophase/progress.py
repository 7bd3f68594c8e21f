"""Progress lines of the commands on stderr: redrawn in place on a terminal, one line when done in a log."""

import sys

__all__ = ["progress_line"]


def progress_line(label, unit, stream=None):
    """A ``progress(done, total)`` callback. On a terminal it redraws ``label: done/total unit`` in place (``\\r``);
    written to a file or pipe it prints only the finished line, so logs hold no carriage returns."""
    stream = stream or sys.stderr
    live = stream.isatty()

    def show(done, total):
        if live:
            print(f"\r  {label}: {done}/{total} {unit}", end="" if done < total else "\n", file=stream, flush=True)
        elif done >= total:
            print(f"  {label}: {done}/{total} {unit}", file=stream, flush=True)
    return show
