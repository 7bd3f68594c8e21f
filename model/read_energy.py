"""PCM read energy: what the devices dissipate while the wordlines are driven.

Ref: docs/architecture.md §2, §7. The energy of a read is ``sum V_read * I * t`` over every device and pulse, i.e.
``V_read^2 t sum_i w_i sum_j G_ij`` with ``w_i`` the number of pulses row i receives (the popcount of its activation
when bit-serial, the activation itself in LSB durations when PWM) and ``t`` the conduction time per pulse
(model/cycles.py ``CycleModel.read_time_unit``). :func:`tile_read_energy` takes the conductances of a programmed
golden-model tile; :func:`statistical_read_energy` takes a mean device conductance and activation statistics, for
networks too large to program (ResNet-50), with the assumptions stated in :func:`gaussian_weight_conductance` and
model/activity.py ``relu_activation_stats``.
"""

import math

import numpy as np

from neurophase.model.arith import bit_planes
from neurophase.model.checks import check_int, check_nonnegative, check_positive, check_unsigned_array
from neurophase.model.interface import InputEncoding

__all__ = ["read_energy", "tile_read_energy", "gaussian_weight_conductance", "statistical_read_energy"]


def _pulse_weights(x, encoding, b_in):
    """Pulses (in pulse durations) each row receives: popcount of its code (bit-serial) or the code (PWM)."""
    encoding = InputEncoding.parse(encoding)
    x = check_unsigned_array("activations", x, b_in)
    if encoding is InputEncoding.PWM:
        return x.astype(np.float64)
    return bit_planes(x, b_in).sum(axis=0, dtype=np.int64).astype(np.float64)


def read_energy(conductances, x, *, v_read, t_unit, encoding=InputEncoding.BIT_SERIAL, b_in=8):
    """PCM read energy (J) of MVMs of activations ``x`` (batch, rows) on devices ``conductances`` (rows, bitlines):
    ``sum over pulses and devices of V * I * t = V^2 t_unit sum_i w_i sum_j G_ij``."""
    g = np.asarray(conductances, dtype=np.float64)
    x = np.atleast_2d(np.asarray(x))
    if x.shape[-1] != g.shape[0]:
        raise ValueError(f"activations must have {g.shape[0]} entries per vector (one per row), got {x.shape[-1]}")
    v_read = check_positive("v_read (V)", v_read)
    t_unit = check_positive("t_unit (s)", t_unit)
    w = _pulse_weights(x, encoding, b_in)
    return float(v_read ** 2 * t_unit * (w @ g.sum(axis=1)).sum())


def tile_read_energy(tile, x, t, *, t_unit, encoding=InputEncoding.BIT_SERIAL):
    """PCM read energy (J) of a golden-model :class:`~.tile.CrossbarTile` running MVMs on ``x`` (batch, rows_used)
    ``t`` seconds after time 0: drifted conductances of every device in the used rows (read noise averages out)."""
    g = tile.pcm.conductance_at(tile.devices, check_nonnegative("t (s)", t))[:tile.weight_shape[0]]
    return read_energy(g, x, v_read=tile.config.v_read, t_unit=t_unit, encoding=encoding, b_in=tile.fmt.b_in)


def gaussian_weight_conductance(g_max, rows=256, grid=20000):
    """Mean conductance (S) of one device of a differential pair, assumed for a network the twin cannot program:
    weights i.i.d. normal, each column scaled so its largest |w| of ``rows`` maps to ``g_max`` (docs/architecture.md
    D5), one device of the pair at ``g_max |w| / max|w|`` and the other at 0. Uses E|w| / E max|w| (numerical
    integration of the maximum's distribution) for E[|w| / max|w|]; programming noise and drift are left out."""
    g_max = check_positive("g_max (S)", g_max)
    rows = check_int("rows", rows, 1)
    t = np.linspace(0.0, 12.0, grid)
    cdf_abs = np.array([math.erf(v / math.sqrt(2.0)) for v in t])        # P(|w| <= t)
    tail = 1.0 - cdf_abs ** rows
    e_max = float(np.sum((tail[1:] + tail[:-1]) * np.diff(t)) / 2)       # E max = integral of P(max > t)
    e_abs = math.sqrt(2.0 / math.pi)
    return 0.5 * g_max * e_abs / e_max


def statistical_read_energy(work, *, g_mean, stats, v_read, t_unit, encoding=InputEncoding.BIT_SERIAL):
    """Expected PCM read energy (J) of one layer per image: ``V^2 t_unit g_mean (2 K N) M E[pulses per row]`` over
    the layer's used devices (2 per weight)."""
    g_mean = check_positive("g_mean (S)", g_mean)
    return v_read ** 2 * t_unit * g_mean * 2 * work.macs * stats.pulses(encoding)
