"""The host's tensor work between chip layers, on NHWC arrays: im2col, pooling, and the order the steps run in.

Ref: docs/architecture.md D7, D9. The window operations take any dtype: the float network (model/layers.py) runs
them on float64 activations, the host (digital path, chip model, host compiler) on integer codes, where the
averages round half up in exact integers (:func:`average_codes`). :func:`schedule` is the one definition of the
host's dataflow over a quantised network: every driver (the 8-bit digital path, model/chip.py, model/host.py) runs
the chip layers its own way and this generator does the rest.
"""

import numpy as np

from neurophase.model.graph import Window

__all__ = ["im2col", "window_max", "window_sum", "window_count", "average_codes", "schedule"]


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


def schedule(qnet, q):
    """Generator: the quantised network ``qnet`` (model/quantise.py) on input codes ``q`` (N, ...). Yields
    ``(QuantLayer, vectors)`` for every chip layer, vectors (N * positions, fan_in) its MVM inputs (im2col on the
    host, padding with the input's zero-point code), and takes back the layer's outputs (N * positions, c_out);
    runs the host steps in between. Returns the output tensor's codes."""
    from neurophase.model.layers import MatrixLayer
    net = qnet.network
    env = {net.input: q}
    last_use = net.last_use()
    n = len(q)
    for i, step in enumerate(net.steps):
        if isinstance(step, MatrixLayer):
            ql = qnet.layer(step.name)
            src = env[step.src]
            if step.window is None:
                x = src.reshape(n, -1)
            else:
                cols = im2col(src, step.window, qnet.specs[step.src].zero_point)
                x = cols.reshape(-1, cols.shape[-1])
            y = yield ql, x
            env[step.dst] = y.reshape((n,) + net.shape(step.dst))
        else:
            env[step.dst] = qnet.host_step(step, env)
        for t in [t for t, j in last_use.items() if j == i and t != net.output]:
            del env[t]
    return env[net.output]
