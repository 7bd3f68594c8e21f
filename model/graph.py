"""The network graph: the twin's own numpy form of a network a user brings (model/onnx_import.py builds it).

Ref: docs/architecture.md D9. A :class:`Graph` is a list of :class:`Node` in execution order, each one operation on
named tensors, with ONNX semantics on float tensors in NCHW layout (batch first): what the importer reads, before
any fusion or quantisation (model/lowering.py turns it into chip layers and host operations). Weights are float64
numpy arrays, held by the operation that uses them.

Operations (the ones the chip and its host can run):

* :class:`Conv` - 2-D convolution, one group, any kernel, stride and padding; weight (O, I, kH, kW), optional bias.
* :class:`Dense` - a matrix product ``y = x @ weight + bias`` on (N, K) vectors; weight (K, N) (ONNX Gemm, MatMul).
* :class:`BatchNorm` - inference batch norm per channel (axis 1): ``scale (x - mean) / sqrt(var + epsilon) + bias``.
* :class:`Relu`, :class:`Add` (two tensors of one shape: a residual add), :class:`Flatten` (to (N, C*H*W)).
* :class:`MaxPool`, :class:`AveragePool` (a :class:`Window`), :class:`GlobalAveragePool`.

``scales`` holds activation scales a network brings with it (quantisation-aware training): tensor name ->
:class:`ActivationScale`; the quantiser (model/quantise.py) uses them where given and calibrates the rest.
"""

from dataclasses import dataclass, field

import numpy as np

from neurophase.model.checks import check_finite_array, check_int

__all__ = ["Window", "Conv", "Dense", "BatchNorm", "Relu", "Add", "MaxPool", "AveragePool", "GlobalAveragePool",
           "Flatten", "Node", "ActivationScale", "Graph", "OPS", "node_output_shape"]


@dataclass(frozen=True)
class Window:
    """A sliding window over the H x W plane: ``kernel`` (kH, kW), ``stride`` (sH, sW), zero ``pads`` (top, left,
    bottom, right). Output size per axis: ``(size + pads - kernel) // stride + 1`` (ONNX, floor mode)."""
    kernel: tuple
    stride: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)

    def __post_init__(self):
        for name, value, n, lo in (("kernel", self.kernel, 2, 1), ("stride", self.stride, 2, 1),
                                   ("pads", self.pads, 4, 0)):
            if not isinstance(value, (tuple, list)) or len(value) != n:
                raise ValueError(f"window {name} must be {n} integers, got {value!r}")
            object.__setattr__(self, name, tuple(check_int(f"window {name}", v, lo) for v in value))

    def out_hw(self, h, w):
        """Output (H', W') of an (H, W) input; ValueError when the window does not fit."""
        (kh, kw), (sh, sw), (t, l, b, r) = self.kernel, self.stride, self.pads
        ho, wo = (h + t + b - kh) // sh + 1, (w + l + r - kw) // sw + 1
        if h + t + b < kh or w + l + r < kw:
            raise ValueError(f"a {kh}x{kw} window with pads {self.pads} does not fit a {h}x{w} input")
        return ho, wo


@dataclass(frozen=True, eq=False)
class Conv:
    weight: np.ndarray           # (O, I, kH, kW)
    bias: np.ndarray = None      # (O,) or None
    stride: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)

    @property
    def window(self):
        return Window(self.weight.shape[2:], self.stride, self.pads)


@dataclass(frozen=True, eq=False)
class Dense:
    weight: np.ndarray           # (K, N): y = x @ weight + bias
    bias: np.ndarray = None      # (N,) or None


@dataclass(frozen=True, eq=False)
class BatchNorm:
    scale: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    epsilon: float = 1e-5

    def affine(self):
        """(A, B): the map ``A x + B`` per channel (computed in float64, the order fixed for bit-exact results)."""
        a = self.scale / np.sqrt(self.var + self.epsilon)
        return a, self.bias - a * self.mean


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Add:
    pass


@dataclass(frozen=True)
class MaxPool:
    window: Window


@dataclass(frozen=True)
class AveragePool:
    window: Window
    count_include_pad: bool = False


@dataclass(frozen=True)
class GlobalAveragePool:
    pass


@dataclass(frozen=True)
class Flatten:
    pass


OPS = (Conv, Dense, BatchNorm, Relu, Add, MaxPool, AveragePool, GlobalAveragePool, Flatten)
_ARITY = {Add: 2}


@dataclass(frozen=True)
class Node:
    """One operation ``op`` reading tensors ``inputs`` and writing tensor ``output``; ``name`` for messages."""
    name: str
    op: object
    inputs: tuple
    output: str


@dataclass(frozen=True)
class ActivationScale:
    """A tensor's real value per 8-bit code step and the code of 0.0: ``x = scale * (code - zero_point)``."""
    scale: float
    zero_point: int = 0

    def __post_init__(self):
        s = float(self.scale)
        if not np.isfinite(s) or s <= 0:
            raise ValueError(f"activation scale must be a finite number > 0, got {self.scale!r}")
        object.__setattr__(self, "scale", s)
        object.__setattr__(self, "zero_point", check_int("activation zero point", self.zero_point, 0, 255))


@dataclass(frozen=True, eq=False)
class Graph:
    """A network: input tensor ``input`` of per-sample shape ``input_shape`` ((C, H, W) or (F,)), ``nodes`` in
    execution order, the ``output`` tensor, given activation ``scales`` and a ``name``. Checked on creation: every
    tensor is written once, before it is read; shapes agree (:meth:`shapes`)."""
    name: str
    input: str
    input_shape: tuple
    nodes: tuple
    output: str
    scales: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "input_shape", tuple(check_int("input shape entry", d, 1) for d in self.input_shape))
        if len(self.input_shape) not in (1, 3):
            raise ValueError(f"graph input must be (C, H, W) images or (F,) vectors per sample, got shape "
                             f"{self.input_shape}")
        object.__setattr__(self, "nodes", tuple(self.nodes))
        for k, v in self.scales.items():
            if not isinstance(v, ActivationScale):
                raise ValueError(f"scales[{k!r}] must be an ActivationScale, got {v!r}")
        self.shapes()

    def shapes(self):
        """Per-sample shape of every tensor: {name: shape}. Raises ValueError naming the first node whose inputs
        it cannot take."""
        shapes = {self.input: self.input_shape}
        for node in self.nodes:
            if type(node.op) not in OPS:
                raise ValueError(f"node {node.name!r}: op must be one of {[o.__name__ for o in OPS]}, "
                                 f"got {type(node.op).__name__}")
            if len(node.inputs) != _ARITY.get(type(node.op), 1):
                raise ValueError(f"node {node.name!r} ({type(node.op).__name__}) takes "
                                 f"{_ARITY.get(type(node.op), 1)} input(s), got {len(node.inputs)}")
            missing = [t for t in node.inputs if t not in shapes]
            if missing:
                raise ValueError(f"node {node.name!r} reads tensor {missing[0]!r} before any node writes it")
            if node.output in shapes:
                raise ValueError(f"node {node.name!r} writes tensor {node.output!r}, which is already written")
            shapes[node.output] = node_output_shape(node, [shapes[t] for t in node.inputs])
        if self.output not in shapes:
            raise ValueError(f"graph output {self.output!r} is not written by any node")
        return shapes

    def consumers(self, tensor):
        """Nodes reading ``tensor``, in order."""
        return [n for n in self.nodes if tensor in n.inputs]


def node_output_shape(node, shapes):
    """Per-sample output shape of ``node`` given its inputs' ``shapes``; ValueError naming the node otherwise."""
    op, s = node.op, shapes[0]
    where = f"node {node.name!r} ({type(op).__name__})"

    def need(rank, what):
        if len(s) != rank:
            raise ValueError(f"{where}: input must be {what}, got per-sample shape {s}")

    if isinstance(op, Conv):
        need(3, "(C, H, W) images")
        w = check_finite_array(f"{where} weight", op.weight)
        if w.ndim != 4 or w.shape[1] != s[0]:
            raise ValueError(f"{where}: weight must be (O, {s[0]}, kH, kW), got {w.shape}")
        _check_vector(where, "bias", op.bias, w.shape[0])
        return (w.shape[0],) + _out_hw(where, op.window, s)
    if isinstance(op, Dense):
        need(1, "(F,) vectors")
        w = check_finite_array(f"{where} weight", op.weight)
        if w.ndim != 2 or w.shape[0] != s[0]:
            raise ValueError(f"{where}: weight must be ({s[0]}, N), got {w.shape}")
        _check_vector(where, "bias", op.bias, w.shape[1])
        return (w.shape[1],)
    if isinstance(op, BatchNorm):
        for name in ("scale", "bias", "mean", "var"):
            _check_vector(where, name, getattr(op, name), s[0])
        if np.any(op.var + op.epsilon <= 0):
            raise ValueError(f"{where}: var + epsilon must be > 0 in every channel")
        return s
    if isinstance(op, Add):
        if shapes[1] != s:
            raise ValueError(f"{where}: inputs must have one shape, got {s} and {shapes[1]}")
        return s
    if isinstance(op, (MaxPool, AveragePool)):
        need(3, "(C, H, W) images")
        return (s[0],) + _out_hw(where, op.window, s)
    if isinstance(op, GlobalAveragePool):
        need(3, "(C, H, W) images")
        return (s[0], 1, 1)
    if isinstance(op, Flatten):
        return (int(np.prod(s)),)
    return s                                        # Relu


def _out_hw(where, window, s):
    try:
        return window.out_hw(*s[1:])
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _check_vector(where, name, v, n):
    if v is None and name == "bias":
        return
    v = check_finite_array(f"{where} {name}", v)
    if v.shape != (n,):
        raise ValueError(f"{where}: {name} must have shape ({n},), got {v.shape}")
