"""What the wordlines see: activation statistics that set which rows switch and how long they conduct.

Ref: docs/architecture.md §2, §7. :class:`ActivationStats` holds, per row and MVM, the mean number of 1-drives of a
bit-serial read (the popcount of the code), the fraction of rows a pulse-width-modulated read drives at all (codes
above 0) and the mean code (PWM conduction in LSB durations). The event counts (model/events.py) take the 1-drives
from it, the PCM read energy (model/read_energy.py) the pulses. It is measured on real activations
(:func:`measured_activity`, e.g. the inputs a golden-model run recorded per layer, :func:`traced_layer_inputs`) or
assumed for a network the twin cannot run (:func:`relu_activation_stats`).
"""

import math
from dataclasses import dataclass

import numpy as np

from neurophase.model.arith import bit_planes
from neurophase.model.checks import check_int, check_positive, check_probability, check_unsigned_array
from neurophase.model.interface import InputEncoding

__all__ = ["ActivationStats", "measured_activity", "relu_activation_stats", "traced_layer_inputs"]


@dataclass(frozen=True)
class ActivationStats:
    """Per row and MVM: ``mean_popcount`` (bit-serial 1-drives), ``mean_code`` (PWM conduction in LSB durations),
    ``p_nonzero`` (fraction of rows a PWM read drives); ``assumption`` says where they come from."""
    mean_popcount: float
    mean_code: float
    p_nonzero: float
    assumption: str = ""

    def __post_init__(self):
        check_probability("p_nonzero", self.p_nonzero)

    def pulses(self, encoding):
        """Mean conduction per row and MVM in units of the read time (model/cycles.py ``read_time_unit``)."""
        bit_serial = InputEncoding.parse(encoding) is InputEncoding.BIT_SERIAL
        return self.mean_popcount if bit_serial else self.mean_code

    def drives(self, encoding):
        """Mean wordline drives with a 1 per row and MVM: one per set bit (bit-serial), one per nonzero code (PWM)."""
        bit_serial = InputEncoding.parse(encoding) is InputEncoding.BIT_SERIAL
        return self.mean_popcount if bit_serial else self.p_nonzero


def measured_activity(x, b_in):
    """:class:`ActivationStats` of the activation codes ``x`` (vectors, rows), exact over every entry."""
    x = check_unsigned_array("activations", np.atleast_2d(x), check_int("b_in", b_in, 1, 16))
    if x.size == 0:
        raise ValueError("activations must hold at least one vector")
    ones = int(bit_planes(x, b_in).sum(dtype=np.int64))
    return ActivationStats(ones / x.size, float(x.sum(dtype=np.int64)) / x.size,
                           int(np.count_nonzero(x)) / x.size, f"measured on {x.shape[0]} vectors")


def _phi(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def relu_activation_stats(b_in=8, clip_sigmas=4.0):
    """Activation statistics assumed for a network the twin cannot run: pre-activations standard normal, ReLU, then
    uniform quantisation to ``b_in`` bits with the full scale at ``clip_sigmas`` standard deviations (round to
    nearest, clamp). Exact expectations over the code distribution (no sampling)."""
    b_in = check_int("b_in", b_in, 1, 16)
    clip_sigmas = check_positive("clip_sigmas", clip_sigmas)
    top = (1 << b_in) - 1
    step = clip_sigmas / top
    # code q collects z in [(q - 1/2) step, (q + 1/2) step); q = 0 also takes every z < step / 2 (ReLU zeros).
    edges = [-math.inf] + [(q + 0.5) * step for q in range(top)] + [math.inf]
    p = [_phi(edges[q + 1]) - _phi(edges[q]) for q in range(top + 1)]
    mean_code = sum(q * pq for q, pq in enumerate(p))
    mean_pop = sum(bin(q).count("1") * pq for q, pq in enumerate(p))
    return ActivationStats(mean_pop, mean_code, 1.0 - p[0],
                           f"ReLU(N(0,1)) quantised to {b_in} bits, full scale at {clip_sigmas:g} sigma")


def traced_layer_inputs(trace, mapping, layer, mvms=None):
    """The input vectors (mvms, fan_in) of ``layer`` in a recorded golden-model run (model/chip.py ``RunTrace``):
    its first column block's row tiles side by side; ``mvms`` (a slice) picks some of them."""
    tiles = [a for a in mapping.layer_tiles(layer) if a.col_block == 0]
    rows = slice(None) if mvms is None else mvms
    return np.concatenate([trace.tile_inputs[a.tile][rows] for a in sorted(tiles, key=lambda a: a.row_block)],
                          axis=1)
