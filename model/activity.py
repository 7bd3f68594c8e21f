"""What a network's real run on the golden chip shows the energy model: per tile the PCM read energy of the
activations it saw, the pulses per row, the ADC saturation per layer, and the devices' mean conductance.

Ref: docs/architecture.md §7, D9. model/read_energy.py prices a read as ``V_read^2 t sum_i w_i sum_j G_ij``; for a
network too large to record (ResNet-50), :func:`measure_activity` runs inputs through :meth:`Chip.run` and adds up,
tile by tile and chunk by chunk, ``tile_read_energy`` of each chunk's MVM inputs per unit pulse time (it is linear
in the pulse time and in the MVMs), so the energy needs no trace. Beside it, the quantities the statistical
assumption for a network the twin cannot program takes (``gaussian_weight_conductance``, ``relu_activation_stats``):
the mean conductance of a used device at t, the mean popcount of an activation (bit-serial pulses per row per MVM)
and the mean activation code (PWM pulse length).
"""

from dataclasses import dataclass, field

import numpy as np

from neurophase.model.interface import InputEncoding
from neurophase.model.read_energy import tile_read_energy

__all__ = ["RunActivity", "measure_activity"]

_POPCOUNT = np.array([bin(v).count("1") for v in range(256)], np.int64)


@dataclass
class RunActivity:
    """Sums over a run: ``inputs`` run; per tile its MVMs, read energy per second of unit pulse time per encoding
    (J/s), activations and their popcounts; per layer its ADC counts (model/chip.py ``AdcCounts``); the mean used
    device conductance at the run's time (S)."""
    inputs: int
    t: float
    mvms: dict = field(default_factory=dict)
    energy_per_unit: dict = field(default_factory=dict)       # (tile, encoding) -> J per second of unit time
    activations: dict = field(default_factory=dict)           # tile -> number of row activations seen
    popcount: dict = field(default_factory=dict)              # tile -> sum of their popcounts
    code: dict = field(default_factory=dict)                  # tile -> sum of their codes
    adc: dict = field(default_factory=dict)
    mean_conductance: float = 0.0

    def read_energy(self, tiles, encoding, t_unit):
        """PCM read energy (J) per input of ``tiles`` with ``encoding`` and ``t_unit`` seconds per unit pulse."""
        return sum(self.energy_per_unit[(n, InputEncoding.parse(encoding))] for n in tiles) * t_unit / self.inputs

    @property
    def mean_popcount(self):
        """Bit-serial pulses per row per MVM (the popcount of an activation code), over every tile."""
        return sum(self.popcount.values()) / max(1, sum(self.activations.values()))

    @property
    def mean_code(self):
        """PWM pulse length per row per MVM, in unit times (the activation code), over every tile."""
        return sum(self.code.values()) / max(1, sum(self.activations.values()))


def measure_activity(chip, x, t, seed):
    """Run inputs ``x`` on ``chip`` (model/chip.py) at ``t`` with read-noise seed ``seed`` and return their
    :class:`RunActivity`."""
    act = RunActivity(len(x), float(t))

    def hook(n, vectors):
        tile = chip.tiles[n]
        act.mvms[n] = act.mvms.get(n, 0) + len(vectors)
        for enc in InputEncoding:
            key = (n, enc)
            act.energy_per_unit[key] = act.energy_per_unit.get(key, 0.0) + tile_read_energy(
                tile, vectors, t, t_unit=1.0, encoding=enc)
        v = np.asarray(vectors, np.int64)
        act.activations[n] = act.activations.get(n, 0) + v.size
        act.popcount[n] = act.popcount.get(n, 0) + int(_POPCOUNT[v].sum())
        act.code[n] = act.code.get(n, 0) + int(v.sum())

    chip.run(x, t, seed, adc_counts=act.adc, mvm_hook=hook)
    used = [chip.tiles[a.tile].pcm.conductance_at(chip.tiles[a.tile].devices, t)[:a.rows, :2 * a.columns]
            for a in chip.mapping.tiles]
    act.mean_conductance = float(sum(g.sum() for g in used) / sum(g.size for g in used))
    return act
