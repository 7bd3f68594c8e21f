"""Argument validation shared by the golden model, the RTL generators and the CLI.

Every check raises ``ValueError`` naming the argument, what was given and what is allowed, so bad input is
never silently clipped, wrapped or lost.
"""

import operator

import numpy as np

__all__ = ["signed_range", "check_int", "check_positive", "check_nonnegative", "check_finite_array", "check_shape",
           "check_unsigned_array", "check_signed_array", "check_probability", "count_text"]


def signed_range(bits):
    """(lowest, highest) value of a signed two's-complement ``bits``-bit integer."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def check_int(name, value, lo=None, hi=None):
    """Return ``value`` as an int, checking ``lo <= value <= hi`` (either bound may be None)."""
    try:
        v = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        raise ValueError(f"{name} must be an integer in {rng}, got {v}")
    return v


def _as_float(name, value, allowed):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {allowed}, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return v


def check_positive(name, value):
    """Return ``value`` as a finite float > 0."""
    v = _as_float(name, value, "a finite number > 0")
    if v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_nonnegative(name, value):
    """Return ``value`` as a finite float >= 0."""
    v = _as_float(name, value, "a finite number >= 0")
    if v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_probability(name, value):
    """Return ``value`` as a float in [0, 1]."""
    v = _as_float(name, value, "a probability in [0, 1]")
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


def check_finite_array(name, a, dtype=np.float64):
    """Return ``a`` as an array of ``dtype``; NaN or inf entries raise, naming the first bad index."""
    arr = np.asarray(a, dtype=dtype)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite; entry {idx} is {arr[idx]}")
    return arr


def check_shape(name, a, shape):
    """Check ``a.shape`` against ``shape``, where None in ``shape`` matches any length."""
    if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    return a


def _check_int_array(name, a, lo, hi, what):
    arr = np.asarray(a)
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integers ({what} in [{lo}, {hi}]), got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr.min() if arr.min() < lo else arr.max()
        raise ValueError(f"{name} must be {what} in [{lo}, {hi}], got {int(bad)}")
    return arr


def check_unsigned_array(name, a, bits):
    """Return ``a`` as int64, checking every entry is an unsigned ``bits``-bit integer."""
    return _check_int_array(name, a, 0, (1 << bits) - 1, f"unsigned {bits}-bit integers")


def check_signed_array(name, a, bits):
    """Return ``a`` as int64, checking every entry is a signed two's-complement ``bits``-bit integer."""
    return _check_int_array(name, a, *signed_range(bits),
                            f"signed {bits}-bit integers")


def count_text(n, noun, plural=None):
    """``n`` and ``noun`` for messages and reports, in the plural unless ``n`` is 1: "1 tile", "5 tiles"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
