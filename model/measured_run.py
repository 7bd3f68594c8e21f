"""A network's real run on the golden chip, measured for the energy model without a trace: per tile the PCM read
energy of the activations it saw, per layer the activation statistics and the ADC conversions at a rail, and the
devices' mean conductance.

Ref: docs/architecture.md §7, D9. model/read_energy.py prices a read as ``V_read^2 t sum_i w_i sum_j G_ij``; for a
network too large to record (ResNet-50), :func:`measure_run` runs inputs through :meth:`Chip.run` and adds up, tile
by tile and chunk by chunk, ``tile_read_energy`` of each chunk's MVM inputs per unit pulse time (it is linear in the
pulse time and in the MVMs), and per layer the set bits, codes and nonzero codes of its inputs (the first column
block's row tiles, as model/activity.py ``traced_layer_inputs`` takes them), so that
:meth:`RunMeasurement.activity` is model/activity.py's ``measured_activity`` of the layer's inputs without keeping
them. Beside them, what the statistical assumptions for a network the twin cannot program take: the mean conductance
of a used device at t.
"""

from dataclasses import dataclass, field

import numpy as np

from neurophase.model.activity import ActivationStats
from neurophase.model.interface import InputEncoding
from neurophase.model.read_energy import tile_read_energy

__all__ = ["RunMeasurement", "measure_run"]

_POPCOUNT = np.array([bin(v).count("1") for v in range(256)], np.int64)


@dataclass
class RunMeasurement:
    """Sums over a run of ``inputs`` inputs at ``t``: per (tile, encoding) the read energy per second of unit pulse
    time (J/s); per layer the activations its inputs hold, their set bits, codes and nonzero codes, and its ADC counts
    (model/chip.py ``AdcCounts``); the mean used-device conductance at t (S)."""
    inputs: int
    t: float
    energy_per_unit: dict = field(default_factory=dict)
    entries: dict = field(default_factory=dict)
    ones: dict = field(default_factory=dict)
    codes: dict = field(default_factory=dict)
    nonzero: dict = field(default_factory=dict)
    adc: dict = field(default_factory=dict)
    mean_conductance: float = 0.0

    def read_energy(self, tiles, encoding, t_unit):
        """PCM read energy (J) per input of ``tiles`` with ``encoding`` and ``t_unit`` seconds per unit pulse."""
        encoding = InputEncoding.parse(encoding)
        return sum(self.energy_per_unit[(n, encoding)] for n in tiles) * t_unit / self.inputs

    def activity(self, layer=None):
        """:class:`~neurophase.model.activity.ActivationStats` of ``layer``'s inputs (default: every layer's)."""
        keys = list(self.entries) if layer is None else [layer]
        n = sum(self.entries[k] for k in keys)
        return ActivationStats(sum(self.ones[k] for k in keys) / n, sum(self.codes[k] for k in keys) / n,
                               sum(self.nonzero[k] for k in keys) / n,
                               f"measured on the golden chip's run of {self.inputs} inputs")


def measure_run(chip, x, t, seed):
    """Run inputs ``x`` on ``chip`` (model/chip.py) at ``t`` with read-noise seed ``seed``; returns a
    :class:`RunMeasurement`."""
    m = RunMeasurement(len(x), float(t))

    def hook(n, vectors):
        tile = chip.tiles[n]
        for enc in InputEncoding:
            key = (n, enc)
            m.energy_per_unit[key] = m.energy_per_unit.get(key, 0.0) + tile_read_energy(tile, vectors, t, t_unit=1.0,
                                                                                        encoding=enc)
        a = chip.mapping.tile(n)
        if a.col_block == 0:
            v = np.asarray(vectors, np.int64)
            for d, value in ((m.entries, v.size), (m.ones, int(_POPCOUNT[v].sum())), (m.codes, int(v.sum())),
                             (m.nonzero, int(np.count_nonzero(v)))):
                d[a.layer] = d.get(a.layer, 0) + value

    chip.run(x, t, seed, adc_counts=m.adc, mvm_hook=hook)
    used = [chip.tiles[a.tile].pcm.conductance_at(chip.tiles[a.tile].devices, t)[:a.rows, :2 * a.columns]
            for a in chip.mapping.tiles]
    m.mean_conductance = float(sum(g.sum() for g in used) / sum(g.size for g in used))
    return m
