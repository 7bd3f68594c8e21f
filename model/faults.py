"""Line faults of a tile (a dead wordline, a dead bitline) and the manufacture seeds of every frozen defect.

Ref: docs/architecture.md §3 (optional non-idealities), D13. Device faults (stuck at SET / RESET) belong to the
devices (model/device.py ``PcmModel.p_stuck_set``, ``p_stuck_reset``): drawn at programming, and a stuck device stays
stuck when it is reprogrammed.

* **Dead wordline**: its driver holds 0 V whatever the input, so the row adds no current; its devices still load
  the bitlines (they matter under IR drop). Applied to the effective conductances: the row's are 0.
* **Dead bitline**: open between the array and its ADC, so no current of its devices reaches the ADC, and they
  load no wordline: their conductances are 0 before the IR-drop solve. One dead bitline of a differential pair leaves
  the column reading only the other device's current.

Which lines die is drawn once per tile at manufacture, among the lines the tile uses (a fault outside them changes
nothing, so a study of line faults draws where they matter): ``FaultConfig.draw``. Every manufacture draw of tile n of
a chip with seed s comes from :func:`manufacture_rng` ``(s, n, stream)``, a generator independent of programming
(tile seeds: model/chip.py ``tile_seed``), so the same chip has the same defects however it is programmed.
"""

from dataclasses import dataclass

import numpy as np

from neurophase.model.checks import check_int

__all__ = ["FaultConfig", "LineFaults", "manufacture_rng", "ADC_STREAM", "LINE_STREAM"]

ADC_STREAM = 1          # manufacture_rng stream of the column ADCs' offsets and gains
LINE_STREAM = 2         # ... of the dead lines


def manufacture_rng(chip_seed, tile, stream):
    """The generator of tile ``tile``'s frozen defects of kind ``stream`` on the chip made with ``chip_seed``."""
    seq = np.random.SeedSequence(check_int("seed", chip_seed, 0, None), spawn_key=(1 << 20, tile, stream))
    return np.random.default_rng(seq)


@dataclass(frozen=True)
class LineFaults:
    """The dead lines of one tile: wordline (row) and physical bitline indices."""
    dead_wordlines: tuple = ()
    dead_bitlines: tuple = ()

    def __post_init__(self):
        for name in ("dead_wordlines", "dead_bitlines"):
            object.__setattr__(self, name, tuple(sorted(check_int(name, v, 0, None) for v in getattr(self, name))))

    @property
    def any(self):
        return bool(self.dead_wordlines or self.dead_bitlines)

    def open_bitlines(self, g):
        """Conductances with the dead bitlines' devices disconnected (0 S): the array the IR-drop solve sees."""
        if not self.dead_bitlines:
            return g
        g = g.copy()
        g[:, list(self.dead_bitlines)] = 0.0
        return g

    def undriven_wordlines(self, g_eff):
        """Effective conductances with the dead wordlines' rows at 0 S: their drivers hold 0 V."""
        if not self.dead_wordlines:
            return g_eff
        g_eff = g_eff.copy()
        g_eff[list(self.dead_wordlines)] = 0.0
        return g_eff


@dataclass(frozen=True)
class FaultConfig:
    """Line faults per tile, drawn at manufacture: ``dead_wordlines`` of the tile's used wordlines and
    ``dead_bitlines`` of its used bitlines (0 and 0, the default: none)."""
    dead_wordlines: int = 0
    dead_bitlines: int = 0

    def __post_init__(self):
        check_int("dead_wordlines", self.dead_wordlines, 0, 4096)
        check_int("dead_bitlines", self.dead_bitlines, 0, 4096)

    @property
    def enabled(self):
        return bool(self.dead_wordlines or self.dead_bitlines)

    def draw(self, rows_used, bitlines_used, rng):
        """One tile's :class:`LineFaults`: distinct lines drawn uniformly among the used ones (all of them if fewer
        are used than asked for)."""
        rows = rng.permutation(rows_used)[:self.dead_wordlines]
        bitlines = rng.permutation(bitlines_used)[:self.dead_bitlines]
        return LineFaults(tuple(int(r) for r in rows), tuple(int(b) for b in bitlines))
