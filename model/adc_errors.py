"""Column ADC errors: per-column offset and gain error (frozen at manufacture) and comparator noise (per comparison).

Ref: docs/architecture.md §3 (optional non-idealities), D12; model/adc.py (the conversion they perturb).

Laws, all input-referred (in the current the comparator sees), off by default:

* **offset**: column j adds ``o_j I_lsb``, ``o_j ~ N(0, offset_lsb^2)``;
* **gain error**: column j scales the current by ``g_j = 1 + e_j``, ``e_j ~ N(0, gain_sigma^2)``;
* **comparator noise**: comparison k of every conversion adds ``sigma_c I_lsb n_k``, ``n_k ~ N(0, 1)`` fresh for each
  comparison (``comparator_lsb = sigma_c``).

Offsets and gains are the mismatch of nominally equal circuits, Gaussian and fixed once a chip is made (Pelgrom et
al., IEEE JSSC 1989); the comparator's thermal noise is Gaussian and independent from one decision to the next
(Nuzzo et al., IEEE TCAS-I 2008). So the ADC converts ``I' = g_j I + o_j I_lsb`` with each decision's own noise.
``o_j`` and ``g_j`` are drawn once per tile from its manufacture seed (:func:`neurophase.model.faults.manufacture_rng`);
the comparator draws come from the MVM's generator, after its read noise, as a (bits, ...) array of standard normals
that the closed form and the SAR reference of model/adc.py consume alike (:func:`comparator_noise`).
"""

from dataclasses import dataclass

import numpy as np

from neurophase.model import adc as _adc
from neurophase.model.checks import check_nonnegative
from neurophase.model.device import box_muller

__all__ = ["AdcErrors", "ColumnAdc", "comparator_noise"]


@dataclass(frozen=True)
class AdcErrors:
    """Statistics of the column ADCs' errors; all 0 (the default) is the ideal ADC of model/adc.py.

    offset_lsb : standard deviation of a column's input-referred offset, in LSB.
    gain_sigma : standard deviation of a column's relative gain error.
    comparator_lsb : standard deviation of the comparator noise of each comparison, in LSB.
    """
    offset_lsb: float = 0.0
    gain_sigma: float = 0.0
    comparator_lsb: float = 0.0

    def __post_init__(self):
        check_nonnegative("offset_lsb", self.offset_lsb)
        check_nonnegative("gain_sigma", self.gain_sigma)
        check_nonnegative("comparator_lsb", self.comparator_lsb)

    @property
    def enabled(self):
        return bool(self.offset_lsb or self.gain_sigma or self.comparator_lsb)

    def manufacture(self, columns, rng):
        """One tile's column ADCs: offsets and gains drawn from ``rng`` (offsets first, then gains, always both, so
        a sweep of one magnitude keeps the other's draws)."""
        offset = rng.standard_normal(columns) * self.offset_lsb
        gain = 1.0 + rng.standard_normal(columns) * self.gain_sigma
        return ColumnAdc(offset, gain, float(self.comparator_lsb))


@dataclass(frozen=True)
class ColumnAdc:
    """The column ADCs of one tile as made: offset (LSB) and gain per logical column, comparator noise (LSB)."""
    offset_lsb: np.ndarray
    gain: np.ndarray
    comparator_lsb: float

    def adc_input(self, current, cfg):
        """The current the comparators see: ``g_j I + o_j I_lsb`` over the last axis (columns)."""
        n = np.shape(current)[-1]
        return np.asarray(current) * self.gain[:n] + self.offset_lsb[:n] * cfg.i_lsb

    def convert(self, current, cfg, gen, out=None):
        """Codes and ADC saturation counts of ``current`` (..., columns), float64 A, through these ADCs; the
        comparator noise, if any, drawn from ``gen``."""
        x = self.adc_input(current, cfg)
        if not self.comparator_lsb:
            return _adc.convert_finite(x, cfg, out=out)
        return _adc.convert_finite(x, cfg, out=out, comparator_noise=comparator_noise(gen, x.shape, cfg,
                                                                                      self.comparator_lsb))

    @property
    def draws(self):
        """Whether a conversion draws random numbers (comparator noise)."""
        return bool(self.comparator_lsb)


def comparator_noise(gen, shape, cfg, sigma_lsb):
    """The noise currents (A) of every comparison of conversions of ``shape``: (bits,) + shape, MSB comparison first,
    ``sigma_lsb I_lsb N(0, 1)`` from ``gen`` (exact normals, ``device.box_muller``)."""
    n = int(np.prod(shape)) * cfg.bits
    return box_muller(gen, n).astype(np.float64).reshape((cfg.bits,) + tuple(shape)) * (sigma_lsb * cfg.i_lsb)
