"""The host's tensor work between chip layers, on NHWC arrays: im2col, pooling, and the order the steps run in.

Ref: docs/architecture.md D7, D9. The window operations take any dtype: the float network (model/layers.py) runs
them on float64 activations, the host (digital path, chip model, host compiler) on integer codes, where the
averages round half up in exact integers (:func:`average_codes`). :func:`schedule` is the one definition of the
host's dataflow over a quantised network: every driver (the 8-bit digital path, model/chip.py, model/host.py) runs
the chip layers its own way and this generator does the rest.
"""

import copy

import numpy as np

from neurophase.model.graph import Window

__all__ = ["im2col", "window_max", "window_sum", "window_count", "average_codes", "HostDataflow", "schedule"]


def _padded(x, window, pad_value):
    t, l, b, r = window.pads
    if not any(window.pads):
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=pad_value)


def _taps(x, window, pad_value):
    """Views of the padded ``x`` (N, H, W, C), one per kernel tap (ky, kx) in row-major order, each (N, H', W', C)."""
    (kh, kw), (sh, sw) = window.kernel, window.stride
    ho, wo = window.out_hw(x.shape[1], x.shape[2])
    xp = _padded(x, window, pad_value)
    return [xp[:, dy:dy + sh * (ho - 1) + 1:sh, dx:dx + sw * (wo - 1) + 1:sw, :]
            for dy in range(kh) for dx in range(kw)]


def im2col(x, window, pad_value=0):
    """Patches of ``x`` (N, H, W, C) under ``window``: (N, H', W', kH*kW*C), rows ordered (ky, kx, c) - the order of
    a layer's weight rows and of a tile's wordlines. Padding holds ``pad_value`` (the code of 0.0)."""
    if window.kernel == (1, 1) and window.stride == (1, 1) and not any(window.pads):
        return x
    return np.concatenate(_taps(x, window, pad_value), axis=3)


def window_max(x, window, pad_value):
    """Maximum over each window; ``pad_value`` must lie below every value of ``x``."""
    taps = _taps(x, window, pad_value)
    out = taps[0].copy()
    for t in taps[1:]:
        np.maximum(out, t, out=out)
    return out


def window_sum(x, window, dtype):
    """Sum over each window of ``x`` with zero padding (the caller pads with the code of 0.0 first if it is not 0),
    accumulated in ``dtype``."""
    taps = _taps(x, window, 0)
    out = taps[0].astype(dtype)
    for t in taps[1:]:
        out += t
    return out


def window_count(h, w, window, count_include_pad):
    """Values each window averages over, (1, H', W', 1): the whole kernel, or only the positions inside the input."""
    if count_include_pad:
        ho, wo = window.out_hw(h, w)
        return np.full((1, ho, wo, 1), window.kernel[0] * window.kernel[1], np.int64)
    return window_sum(np.ones((1, h, w, 1), np.int64), window, np.int64)


def average_codes(total, count):
    """Integer average rounding half up: ``floor((total + count // 2) / count)`` (exact, any count)."""
    return (total + count // 2) // count


class HostDataflow:
    """The host's side of :func:`schedule` as a state that can be copied: the live tensors of the quantised network
    ``qnet`` on input codes ``q`` (N, ...) and the next step. :meth:`next_layer` runs the host steps up to the next
    chip layer and returns its ``(QuantLayer, vectors)`` (None after the last step), :meth:`give` takes that layer's
    outputs, :meth:`fork` copies the state so that one dataflow can go on with several outputs of a layer (the
    tensors are shared: no step writes into one)."""

    def __init__(self, qnet, q):
        self.qnet, self.n, self.step = qnet, len(q), 0
        self.env = {qnet.network.input: q}
        self._last_use = qnet.network.last_use()

    def next_layer(self):
        from neurophase.model.layers import MatrixLayer
        net = self.qnet.network
        while self.step < len(net.steps):
            step = net.steps[self.step]
            if isinstance(step, MatrixLayer):
                src = self.env[step.src]
                if step.window is None:
                    return self.qnet.layer(step.name), src.reshape(self.n, -1)
                cols = im2col(src, step.window, self.qnet.specs[step.src].zero_point)
                return self.qnet.layer(step.name), cols.reshape(-1, cols.shape[-1])
            self.env[step.dst] = self.qnet.host_step(step, self.env)
            self._done()
        return None

    def give(self, y):
        """The outputs (N * positions, c_out) of the chip layer :meth:`next_layer` returned."""
        step = self.qnet.network.steps[self.step]
        self.env[step.dst] = y.reshape((self.n,) + self.qnet.network.shape(step.dst))
        self._done()

    def _done(self):
        for t in [t for t, j in self._last_use.items() if j == self.step and t != self.qnet.network.output]:
            del self.env[t]
        self.step += 1

    @property
    def output(self):
        """The output tensor's codes, once every step has run."""
        return self.env[self.qnet.network.output]

    def fork(self):
        other = copy.copy(self)
        other.env = dict(self.env)
        return other


def schedule(qnet, q):
    """Generator: the quantised network ``qnet`` (model/quantise.py) on input codes ``q`` (N, ...). Yields
    ``(QuantLayer, vectors)`` for every chip layer, vectors (N * positions, fan_in) its MVM inputs (im2col on the
    host, padding with the input's zero-point code), and takes back the layer's outputs (N * positions, c_out);
    runs the host steps in between (:class:`HostDataflow`). Returns the output tensor's codes."""
    flow = HostDataflow(qnet, q)
    while (request := flow.next_layer()) is not None:
        flow.give((yield request))
    return flow.output
