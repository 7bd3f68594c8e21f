"""Images through the chip one layer at a time: every chunk of a layer before the next layer.

Ref: docs/architecture.md D6 (BN recalibration measures one layer at a time), D10 (the studies share work);
model/chip.py (``Chip.run``: chunks, padding and read-noise draws).

:meth:`Chip.run` takes each chunk of images through every layer. A :class:`LayerPass` holds the codes of every
chunk between layers instead, so that

* a BN recalibration measures each layer once, with the earlier layers already recalibrated, rather than running the
  whole network once per layer (``model.drift.recalibrate_bn``);
* register sets that differ only from some layer on (the drift remedies on one chip, at one time) share the layers
  before: :meth:`advance` returns a new pass and leaves this one as it was, so one pass forks into several.

Same numbers as :meth:`Chip.run`, bit for bit, for the same images, time, seed and registers: the images are split
into the same chunks of ``CHUNK`` (the last padded with blank images), and tile n draws the read noise of chunk c
from ``default_rng([seed, n, c])``, one MVM per tile and chunk, whatever the order of layers and chunks.
"""

import copy

import numpy as np

from neurophase.model.chip import CHUNK
from neurophase.model.checks import check_int, check_nonnegative, check_shape
from neurophase.model.network import INPUT_SHAPE, input_codes, layer_vectors, next_codes

__all__ = ["LayerPass", "working_copy"]


class LayerPass:
    """``pixels`` (N >= 1, 8, 8, 1) on ``chip`` at ``t`` seconds after programming, read-noise seed ``seed``, before
    the layer ``layer`` (0: the input codes)."""

    def __init__(self, chip, pixels, t, seed):
        self.chip = chip
        self.t = check_nonnegative("t (s)", t)
        self.seed = check_int("seed", seed, 0, 2 ** 63 - 1)
        q = input_codes(pixels)
        check_shape("pixels", q, (None,) + INPUT_SHAPE)
        if not len(q):
            raise ValueError("pixels must hold at least one image")
        self.keep = [min(CHUNK, len(q) - c0) for c0 in range(0, len(q), CHUNK)]
        pad = lambda c: np.zeros((CHUNK - len(c),) + c.shape[1:], c.dtype)
        self.codes = [np.concatenate([c, pad(c)]) for c in (q[c0:c0 + CHUNK] for c0 in range(0, len(q), CHUNK))]
        self.layer = 0

    def accumulators(self):
        """The next layer's accumulators after partial-sum reduction: one (MVMs, c_out) array per chunk, padding
        included."""
        ql = self._next()
        tiles = [a.tile for a in self.chip.mapping.layer_tiles(ql.layer.name)]
        return [self.chip.layer_accumulators(ql, layer_vectors(q, ql.layer), self.t,
                                             {n: np.random.default_rng([self.seed, n, c]) for n in tiles})
                for c, q in enumerate(self.codes)]

    def kept(self, acc):
        """Per-chunk arrays (``acc`` from :meth:`accumulators`) as one array of the real images' MVMs."""
        per_image = len(acc[0]) // CHUNK
        return np.concatenate([a[:k * per_image] for a, k in zip(acc, self.keep)])

    def advance(self, acc, registers=None):
        """A new pass after the next layer: its outputs from ``acc`` (this pass's :meth:`accumulators`) through
        BN with ``registers`` ({(layer, column block): BnRegisters}; default the chip's), then host-side pooling."""
        ql = self._next()
        nxt = object.__new__(LayerPass)
        nxt.__dict__.update(self.__dict__)
        nxt.codes = [next_codes(self.chip.layer_outputs(ql, a, registers), q, ql.layer)
                     for a, q in zip(acc, self.codes)]
        nxt.layer = self.layer + 1
        return nxt

    def logits(self, registers=None):
        """The signed logits (N, classes) after every remaining layer, run with ``registers`` (default the chip's)."""
        p = self
        while p.layer < len(self.chip.qlayers):
            p = p.advance(p.accumulators(), registers)
        return np.concatenate([q[:k] for q, k in zip(p.codes, p.keep)])

    def _next(self):
        if self.layer >= len(self.chip.qlayers):
            raise ValueError(f"the pass is past the last layer ({len(self.chip.qlayers)} layers)")
        return self.chip.qlayers[self.layer]


def working_copy(chip, devices=False):
    """A copy of ``chip`` to run and change while others use ``chip`` (a study's shared chip, on a worker with
    several threads): its own register dict and tile objects (each tile caches its conductances at the last time it
    read); with ``devices`` its own device arrays too (to reprogram them), else those of ``chip``, only read."""
    view = copy.copy(chip)
    view.registers = dict(chip.registers)
    view.tiles = {n: copy.copy(tile) for n, tile in chip.tiles.items()}
    if devices:
        for tile in view.tiles.values():
            tile.devices = copy.deepcopy(tile.devices)
    return view
