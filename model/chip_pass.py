"""Inputs through the chip one layer at a time: every chunk of a layer before the next layer.

Ref: docs/architecture.md D6 (BN recalibration measures one layer at a time), D9 (a network's schedule of chip layers
and host steps), D10 (the studies share work); model/chip.py (``Chip.run``: chunks, padding and read-noise draws).

:meth:`Chip.run` takes each chunk of inputs through the network's whole schedule. A :class:`LayerPass` holds every
chunk's host dataflow (model/host_ops.py ``HostDataflow``: its live tensors) between chip layers instead, so that

* a BN recalibration measures each layer once, with the earlier layers already recalibrated, rather than running the
  whole network once per layer (``model.drift.recalibrate_bn``);
* register sets that differ only from some layer on (the drift remedies on one chip, at one time) share the layers
  before: :meth:`advance` returns a new pass and leaves this one as it was, so one pass forks into several.

Any network the chip runs (the digits CNN, an imported one with residual adds and pooling on the host). Same numbers
as :meth:`Chip.run`, bit for bit, for the same inputs, time, seed and registers: the inputs are split into the same
chunks of ``ChipConfig.chunk`` (the last padded with zero inputs), and chunk c's MVMs of a layer go through
``Chip.layer_accumulators`` with chunk index c (read noise from ``default_rng([seed, n, c])`` and its blocks),
whatever the order of layers and chunks.
"""

import copy

import numpy as np

from neurophase.model.checks import check_int, check_nonnegative
from neurophase.model.host_ops import HostDataflow

__all__ = ["LayerPass", "working_copy"]


class LayerPass:
    """Inputs ``x`` (N >= 1, the network's ONNX layout) on ``chip`` at ``t`` seconds after programming, read-noise
    seed ``seed``, before chip layer ``layer`` (0: the first; counted in the order the network runs them)."""

    def __init__(self, chip, x, t, seed):
        self.chip = chip
        self.t = check_nonnegative("t (s)", t)
        self.seed = check_int("seed", seed, 0, 2 ** 63 - 1)
        q = chip.network.input_codes(x)
        if not len(q):
            raise ValueError("x must hold at least one input")
        chunk = chip.config.chunk
        self.keep = [min(chunk, len(q) - c0) for c0 in range(0, len(q), chunk)]
        pad = lambda c: np.zeros((chunk - len(c),) + c.shape[1:], c.dtype)
        self.flows = [HostDataflow(chip.network, np.concatenate([c, pad(c)]))
                      for c in (q[c0:c0 + chunk] for c0 in range(0, len(q), chunk))]
        self.requests = [f.next_layer() for f in self.flows]
        self.layer = 0

    def accumulators(self):
        """The next chip layer's accumulators after partial-sum reduction: one (MVMs, c_out) array per chunk, padding
        included."""
        self._next()
        return [self.chip.layer_accumulators(ql, x, self.t, self.seed, c) for c, (ql, x) in enumerate(self.requests)]

    def kept(self, acc):
        """Per-chunk arrays (``acc`` from :meth:`accumulators`) as one array of the real inputs' MVMs."""
        per_input = len(acc[0]) // self.chip.config.chunk
        return np.concatenate([a[:k * per_input] for a, k in zip(acc, self.keep)])

    def advance(self, acc, registers=None):
        """A new pass after the next chip layer: its outputs from ``acc`` (this pass's :meth:`accumulators`) through
        BN with ``registers`` ({(layer, column block): BnRegisters}; default the chip's), then the host steps up to
        the chip layer after it."""
        ql = self._next()
        nxt = copy.copy(self)
        nxt.flows = [f.fork() for f in self.flows]
        for f, a in zip(nxt.flows, acc):
            f.give(self.chip.layer_outputs(ql, a, registers))
        nxt.requests = [f.next_layer() for f in nxt.flows]
        nxt.layer = self.layer + 1
        return nxt

    def logits(self, registers=None):
        """The output codes (N, ...; a classifier's signed logits) after every remaining layer, run with
        ``registers`` (default the chip's)."""
        p = self
        while p.pending is not None:
            p = p.advance(p.accumulators(), registers)
        return np.concatenate([f.output[:k] for f, k in zip(p.flows, p.keep)])

    @property
    def pending(self):
        """The next chip layer (a QuantLayer), None past the last."""
        return None if self.requests[0] is None else self.requests[0][0]

    def _next(self):
        if self.pending is None:
            raise ValueError(f"the pass is past the last layer ({len(self.chip.qlayers)} layers)")
        return self.pending


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
