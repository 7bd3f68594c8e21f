"""The network as the chip runs it: chip layers (MVMs on tiles) and host steps, on NHWC tensors, in float.

Ref: docs/architecture.md §4, D7, D9. model/lowering.py builds a :class:`FloatNetwork` from a graph; the quantiser
(model/quantise.py) turns it into integers. Steps, each reading and writing named tensors:

* :class:`MatrixLayer` - a convolution (a :class:`~neurophase.model.graph.Window`) or a fully connected layer
  (``window`` None): ``weight`` (fan_in, c_out), rows in im2col order (ky, kx, c) - one wordline each; then the
  per-channel affine map ``gain * z + offset`` (batch norm and bias folded) and an optional ReLU: what the tiles'
  MVMs and the BN unit compute.
* host steps (docs/architecture.md D7): :class:`Pool` (max or average over a window), :class:`GlobalPool` (average),
  :class:`ResidualAdd` (two tensors, optional ReLU), :class:`HostRelu`, :class:`Flatten` (NHWC order).

Per-sample shapes are (H, W, C) for maps and (F,) for vectors. :meth:`FloatNetwork.forward` is the FP32 reference.
"""

import enum
from dataclasses import dataclass

import numpy as np

from neurophase.model.host_ops import im2col, window_count, window_max, window_sum

__all__ = ["MatrixLayer", "PoolKind", "Pool", "GlobalPool", "ResidualAdd", "HostRelu", "Flatten", "FloatNetwork",
           "nchw_to_nhwc"]


@dataclass(frozen=True, eq=False)
class MatrixLayer:
    name: str
    src: str
    dst: str
    weight: np.ndarray        # (fan_in, c_out)
    gain: np.ndarray          # (c_out,)
    offset: np.ndarray        # (c_out,)
    relu: bool
    window: object = None     # Window of a convolution; None for a fully connected layer

    @property
    def fan_in(self):
        return self.weight.shape[0]

    @property
    def c_out(self):
        return self.weight.shape[1]

    @property
    def kind(self):
        return "fc" if self.window is None else "conv"


class PoolKind(enum.Enum):
    MAX = "max"
    AVERAGE = "average"


@dataclass(frozen=True)
class Pool:
    name: str
    src: str
    dst: str
    kind: PoolKind
    window: object
    count_include_pad: bool = False


@dataclass(frozen=True)
class GlobalPool:
    name: str
    src: str
    dst: str


@dataclass(frozen=True)
class ResidualAdd:
    name: str
    srcs: tuple
    dst: str
    relu: bool


@dataclass(frozen=True)
class HostRelu:
    name: str
    src: str
    dst: str


@dataclass(frozen=True)
class Flatten:
    name: str
    src: str
    dst: str


def _sources(step):
    return step.srcs if isinstance(step, ResidualAdd) else (step.src,)


def nchw_to_nhwc(x):
    """Inputs in ONNX layout (N, C, H, W) or (N, F) in the host's layout (N, H, W, C) or (N, F)."""
    x = np.asarray(x)
    return np.moveaxis(x, 1, -1) if x.ndim == 4 else x


@dataclass(frozen=True, eq=False)
class FloatNetwork:
    """Steps in execution order from tensor ``input`` (per-sample shape ``input_shape``) to ``output``.
    ``output_order``: indices that put a flattened output back into ONNX (C, H, W) order (None: already in it)."""
    name: str
    input: str
    input_shape: tuple
    steps: tuple
    output: str
    output_order: np.ndarray = None

    def __post_init__(self):
        shapes = {self.input: tuple(self.input_shape)}
        for step in self.steps:
            shapes[step.dst] = _step_shape(step, shapes)
        object.__setattr__(self, "_shapes", shapes)

    def shape(self, tensor):
        """Per-sample shape of ``tensor``."""
        return self._shapes[tensor]

    @property
    def layers(self):
        """The chip layers, in order."""
        return [s for s in self.steps if isinstance(s, MatrixLayer)]

    def consumers(self, tensor):
        return [s for s in self.steps if tensor in _sources(s)]

    def last_use(self):
        """{tensor: index of the last step reading it} (the output: past the end)."""
        out = {}
        for i, step in enumerate(self.steps):
            for t in _sources(step):
                out[t] = i
        out[self.output] = len(self.steps)
        return out

    def forward(self, x, tensors=None):
        """FP32 reference on inputs ``x`` in ONNX layout: the output (N, ...) in ONNX layout. ``tensors``, a set of
        tensor names, also returns {name: float values} of those tensors (NHWC)."""
        env = {self.input: nchw_to_nhwc(x).astype(np.float64)}
        kept = {}
        last = self.last_use()
        for i, step in enumerate(self.steps):
            env[step.dst] = _float_step(step, env)
            if tensors and step.dst in tensors:
                kept[step.dst] = env[step.dst]
            for t in [t for t, j in last.items() if j == i and t != self.output]:
                del env[t]
        if tensors and self.input in tensors:
            kept[self.input] = nchw_to_nhwc(x).astype(np.float64)
        out = self.to_onnx_layout(env[self.output])
        return (out, kept) if tensors is not None else out

    def to_onnx_layout(self, y):
        """The output tensor (N, ...) in the host's layout put into ONNX layout."""
        if y.ndim == 4:
            return np.moveaxis(y, -1, 1)
        return y if self.output_order is None else y[:, self.output_order]


def _step_shape(step, shapes):
    src = shapes[_sources(step)[0]]
    if isinstance(step, MatrixLayer):
        if step.window is None:
            return (step.c_out,)
        ho, wo = step.window.out_hw(src[0], src[1])
        return (ho, wo, step.c_out)
    if isinstance(step, Pool):
        return step.window.out_hw(src[0], src[1]) + (src[2],)
    if isinstance(step, GlobalPool):
        return (1, 1, src[2])
    if isinstance(step, Flatten):
        return (int(np.prod(src)),)
    return src


def _float_step(step, env):
    x = env[_sources(step)[0]]
    n = len(x)
    if isinstance(step, MatrixLayer):
        if step.window is None:
            z = x.reshape(n, -1) @ step.weight
        else:
            cols = im2col(x, step.window, 0.0)
            z = (cols.reshape(-1, cols.shape[-1]) @ step.weight).reshape(cols.shape[:3] + (step.c_out,))
        y = z * step.gain + step.offset
        return np.maximum(y, 0.0) if step.relu else y
    if isinstance(step, Pool):
        if step.kind is PoolKind.MAX:
            return window_max(x, step.window, -np.inf)
        count = window_count(x.shape[1], x.shape[2], step.window, step.count_include_pad)
        return window_sum(x, step.window, np.float64) / count
    if isinstance(step, GlobalPool):
        return x.mean(axis=(1, 2), keepdims=True)
    if isinstance(step, ResidualAdd):
        y = x + env[step.srcs[1]]
        return np.maximum(y, 0.0) if step.relu else y
    if isinstance(step, HostRelu):
        return np.maximum(x, 0.0)
    return x.reshape(n, -1)                                 # Flatten
