"""The results store of a Monte Carlo study: one tidy CSV table, one row per finished point, written as points finish.

Ref: docs/architecture.md D10 (the study engine); model/study_engine.py writes it.

A store is a CSV file with a header row naming the study's columns: the key columns (what identifies a point: network,
method, chip seed, time, seeds, ...) and then what a point measures (accuracy, ...). ``pandas.read_csv(path)`` loads
it. Rows are appended, a finished task's rows in one ``write`` followed by ``fsync``, so a study that is interrupted
(Ctrl-C, a killed process, a lost machine) leaves every finished point on disk and at most one torn last line, which
the next :class:`ResultsStore` opening drops (its point is computed again). A point is never written twice: the store
knows the keys it holds, :meth:`append` refuses a key it already has, and opening a store whose file holds the same key
twice is an error. One study at a time writes a store: it holds an exclusive lock (``flock``) while open.

Keys are compared as text, the way the CSV holds them (:func:`cell`): integers in decimal, floats as Python's
shortest round-trip ``repr``, None as an empty field. So a point keyed by the float 31557600.0 is found again after
the round trip through the file.
"""

import csv
import fcntl
import io
import os
from pathlib import Path

__all__ = ["ResultsStore", "cell", "read_rows"]


def cell(value):
    """The CSV text of one value: '' for None, ``repr`` for floats (exact round trip), ``str`` otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))      # numpy's float64 is a float whose repr names its type
    return str(value)


def read_rows(path):
    """The rows of a store file as dicts of text (the header's columns), without opening it for writing."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class ResultsStore:
    """An open results store at ``path`` with ``columns``, identified by ``key_columns`` (a prefix of them or any
    subset). Creates the file (and its folder) if missing. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path, columns, key_columns):
        self.path = Path(path)
        self.columns = tuple(columns)
        self.key_columns = tuple(key_columns)
        if not set(self.key_columns) <= set(self.columns):
            raise ValueError(f"key columns {list(self.key_columns)} must be among the columns {list(self.columns)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise RuntimeError(f"results store {self.path} is in use by another study; wait for it to finish or "
                               f"choose another --store") from None
        try:
            self._rows = self._load()
        except Exception:
            self.close()
            raise

    def _load(self):
        """Read the file: check its header, drop a torn last line, index the rows by key."""
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size, 0).decode() if size else ""
        if data and not data.endswith("\n"):
            # A row cut short by a killed writer: drop it (its point is computed again).
            data = data[:data.rfind("\n") + 1]
            os.ftruncate(self._fd, len(data.encode()))
        if not data:
            os.ftruncate(self._fd, 0)
            self._write([list(self.columns)])
            return {}
        reader = csv.reader(io.StringIO(data))
        header = tuple(next(reader))
        if header != self.columns:
            raise ValueError(f"results store {self.path} has columns {list(header)}, this study writes "
                             f"{list(self.columns)}; choose another --store")
        rows = {}
        for line, values in enumerate(reader, 2):
            if len(values) != len(self.columns):
                raise ValueError(f"results store {self.path}, line {line}: {len(values)} fields, the header has "
                                 f"{len(self.columns)}")
            row = dict(zip(self.columns, values))
            key = self.key_of(row)
            if key in rows:
                raise ValueError(f"results store {self.path}, line {line}: the point {dict(zip(self.key_columns, key))}"
                                 f" is stored twice")
            rows[key] = row
        return rows

    def key_of(self, point):
        """The key of a point or row (a mapping holding the key columns), as the text the file holds."""
        return tuple(cell(point[c]) for c in self.key_columns)

    def __contains__(self, point):
        return self.key_of(point) in self._rows

    def __len__(self):
        return len(self._rows)

    def get(self, point):
        """The stored row (dict of text) of ``point``, or None."""
        return self._rows.get(self.key_of(point))

    def append(self, rows):
        """Write ``rows`` (mappings with every column) at once, in one write followed by fsync."""
        lines, keys = [], []
        for row in rows:
            missing = [c for c in self.columns if c not in row]
            if missing:
                raise ValueError(f"a row for results store {self.path} lacks the columns {missing}")
            key = self.key_of(row)
            if key in self._rows or key in keys:
                raise ValueError(f"results store {self.path} already holds the point "
                                 f"{dict(zip(self.key_columns, key))}")
            keys.append(key)
            lines.append([cell(row[c]) for c in self.columns])
        self._write(lines)
        for key, values in zip(keys, lines):
            self._rows[key] = dict(zip(self.columns, values))

    def _write(self, lines):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(lines)
        data = buf.getvalue().encode()
        written = os.write(self._fd, data)
        if written != len(data):
            raise OSError(f"short write to results store {self.path}: {written} of {len(data)} bytes")
        os.fsync(self._fd)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)          # releases the lock
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
