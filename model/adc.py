"""SAR ADC of one logical column: closed form and a bit-by-bit successive-approximation reference.

Ref: docs/architecture.md §2 and §4 step 2.

The analog front end hands the ADC a differential bitline current I (amperes). The comparator resolves currents to
``frac_bits`` fractional bits of an LSB: the current is first coded as the integer
``i_code = floor(I / I_lsb * 2^frac_bits)`` (the *current code*, the number the RTL testbench's behavioural
comparator sees). Codes beyond the ADC range are clamped to one LSB past it, which cannot change any conversion.

SAR conversion, signed B-bit output, offset-binary DAC: for k = B-1 .. 0 the trial DAC code is ``u | 2^k``;
the comparator bit is ``i_code >= threshold(trial)`` with
``threshold(u) = (u - 2^(B-1)) * 2^F - 2^(F-1)`` (a half-LSB offset, so the conversion rounds half up);
the bit is kept when the comparator says 1. The output code is ``u - 2^(B-1)``. In closed form that is
``clip((i_code + 2^(F-1)) >> F, -2^(B-1), 2^(B-1) - 1)``.

Comparator noise (optional, docs/architecture.md D12): comparison k of a conversion (k = 0 the MSB decision) sees the
current plus its own noise current ``noise[k]`` (amperes; an array of shape (bits,) + the currents' shape, drawn
by the caller, e.g. model/adc_errors.py). The SAR reference compares the current code of ``I + noise[k]`` with the
trial threshold; :func:`convert` applies the closed form to each comparison's own current, ``c_k`` (offset binary,
unclipped), and keeps trial bit k when ``c_k >= trial``. The two agree for the same draws because
``current_code(I) >= threshold(u)`` exactly when the closed form of I is ``>= u``. With noise, a conversion's
decisions are no longer those of one current, so the path (one vector step per bit) replaces the single formula.
"""

from dataclasses import dataclass

import numpy as np

from neurophase.model.checks import check_finite_array, check_int, check_positive, signed_range

__all__ = ["AdcConfig", "current_code", "convert", "convert_sar", "sar_threshold", "rail_hits"]


@dataclass(frozen=True)
class AdcConfig:
    """Parameters of the column ADC.

    bits : output code width B (signed two's complement), 2..12.
    i_fs : full-scale current in amperes; I_lsb = i_fs / 2^(bits-1).
    frac_bits : comparator resolution in fractional LSB bits F (the width of the current code beyond the code).
    """
    bits: int = 8
    i_fs: float = 10e-6
    frac_bits: int = 8

    def __post_init__(self):
        check_int("adc bits", self.bits, 2, 12)
        check_positive("i_fs (ADC full-scale current, A)", self.i_fs)
        check_int("frac_bits", self.frac_bits, 1, 16)

    @property
    def i_lsb(self):
        return self.i_fs / (1 << (self.bits - 1))

    @property
    def code_min(self):
        return -(1 << (self.bits - 1))

    @property
    def code_max(self):
        return signed_range(self.bits)[1]

    @property
    def current_code_bits(self):
        """Signed width that holds every clamped current code."""
        return self.bits + self.frac_bits + 2


def _floor_code(current, cfg, out=None):
    """floor(I / I_lsb * 2^F) of float64 currents, as float64 (exact integers wherever a code is not saturated)."""
    y = np.multiply(current, (1 << cfg.frac_bits) / cfg.i_lsb, out=out)
    return np.floor(y, out=y)


def current_code(current, cfg):
    """Integer current code (int64) of differential currents in amperes, clamped just past the ADC range."""
    lim = (1 << (cfg.bits - 1)) + 1 << cfg.frac_bits
    return np.clip(_floor_code(check_finite_array("current", current), cfg), -lim, lim).astype(np.int64)


def sar_threshold(u, cfg):
    """Comparator threshold, as a current code, for offset-binary DAC code ``u``."""
    return ((np.asarray(u, dtype=np.int64) - (1 << (cfg.bits - 1))) << cfg.frac_bits) - (1 << (cfg.frac_bits - 1))


def convert_finite(current, cfg, out=None, work=None, comparator_noise=None):
    """:func:`convert` without input validation, for the tile's hot path: ``current`` must be finite float64.

    Returns (codes, (n_low, n_high)); with ``comparator_noise`` (module docstring) the counts are of codes at the
    rails, as a conversion whose comparisons see different currents has no one current that was clipped. The
    arithmetic stays in float64, where every current code that can give an unsaturated code is an exact integer, so
    ``floor((i_code + 2^(F-1)) * 2^-F)`` is exactly the arithmetic shift of the closed form. ``out`` (int64) receives
    the codes and ``work`` (float64), both of the shape of ``current``, holds the intermediate values;
    either is allocated when not given.
    """
    if comparator_noise is not None:
        return _convert_noisy(current, cfg, comparator_noise, out)
    y = _floor_code(current, cfg, work)    # not clamped: clamping one LSB past the range cannot change a code
    y += 1 << (cfg.frac_bits - 1)
    y *= 2.0 ** -cfg.frac_bits
    np.floor(y, out=y)
    lo = int(np.count_nonzero(y < cfg.code_min))
    hi = int(np.count_nonzero(y > cfg.code_max))
    np.clip(y, cfg.code_min, cfg.code_max, out=y)
    if out is None:
        return y.astype(np.int64), (lo, hi)
    np.copyto(out, y, casting="unsafe")     # exact: y holds small integers
    return out, (lo, hi)


def _convert_noisy(current, cfg, noise, out=None):
    """The closed form per comparison (module docstring): (codes, rail counts (low, high))."""
    half = 1 << (cfg.bits - 1)
    y = np.add(current, noise)                                  # (bits, ...): each comparison's current
    _floor_code(y, cfg, out=y)
    y += 1 << (cfg.frac_bits - 1)
    y *= 2.0 ** -cfg.frac_bits
    np.floor(y, out=y)                                          # each comparison's closed-form code
    y += half                                                   # ... in offset binary
    u = np.zeros(np.shape(current))
    for step, k in enumerate(range(cfg.bits - 1, -1, -1)):
        trial = u + (1 << k)
        np.copyto(u, trial, where=y[step] >= trial)
    u -= half
    if out is None:
        out = np.empty(u.shape, np.int64)
    np.copyto(out, u, casting="unsafe")
    return out, (int(np.count_nonzero(u == cfg.code_min)), int(np.count_nonzero(u == cfg.code_max)))


def _check_noise(noise, current, cfg):
    noise = check_finite_array("comparator_noise (A)", noise)
    if noise.shape != (cfg.bits,) + np.shape(current):
        raise ValueError(f"comparator_noise must have shape (bits,) + the currents' shape = "
                         f"{(cfg.bits,) + np.shape(current)}, got {noise.shape}")
    return noise


def convert(current, cfg, return_saturations=False, comparator_noise=None):
    """Closed-form conversion of currents (A) to signed codes (int64), same shape; ``comparator_noise`` (A, shape
    (bits,) + currents' shape, MSB comparison first) adds each comparison's noise (module docstring).

    With ``return_saturations`` also returns (n_low, n_high): conversions clamped at the bottom and the top (with
    comparator noise: codes at the rails).
    """
    current = check_finite_array("current", current)
    if comparator_noise is not None:
        comparator_noise = _check_noise(comparator_noise, current, cfg)
    codes, sats = convert_finite(current, cfg, comparator_noise=comparator_noise)
    return (codes, sats) if return_saturations else codes


def convert_sar(current, cfg, comparator_noise=None):
    """Bit-by-bit SAR reference: the comparator decisions the RTL's SAR controller makes, step by step; with
    ``comparator_noise`` (as :func:`convert`) comparison k compares the current code of ``current +
    comparator_noise[k]``.

    Returns (codes, comparator_bits) where comparator_bits has shape (bits, ...) MSB decision first.
    """
    current = check_finite_array("current", current)
    if comparator_noise is None:
        icodes = [current_code(current, cfg)] * cfg.bits
    else:
        icodes = current_code(current + _check_noise(comparator_noise, current, cfg), cfg)
    u = np.zeros(current.shape, dtype=np.int64)
    decisions = np.zeros((cfg.bits,) + current.shape, dtype=np.uint8)
    for step, k in enumerate(range(cfg.bits - 1, -1, -1)):
        trial = u | (1 << k)
        bit = icodes[step] >= sar_threshold(trial, cfg)
        decisions[step] = bit
        u = np.where(bit, trial, u)
    return u - (1 << (cfg.bits - 1)), decisions


def rail_hits(codes, cfg):
    """ADC saturation as the hardware sees it: boolean masks (low, high) of codes at the lowest / highest code.

    A SAR cannot tell a current just inside its range from one beyond it, so a code at a rail is the saturation
    the RTL reports (every conversion ``convert`` clips is at a rail; a rail code need not have been clipped).
    """
    codes = np.asarray(codes)
    return codes == cfg.code_min, codes == cfg.code_max
