"""8-bit quantisation of a network: activation scales from calibration inputs, integer weights, the BN unit's real
multipliers, the host's integer rules; and the 8-bit digital path.

Ref: docs/architecture.md §4, D5, D7, D9. :func:`quantise` turns a :class:`~neurophase.model.layers.FloatNetwork`
into a :class:`QuantNetwork`:

* **Tensor codes** (:class:`TensorCodes`). Every tensor a chip layer reads is unsigned ``b_in``-bit codes with a
  scale and a zero point, ``x = scale (code - zero_point)``: zero point 0 where the values cannot be negative (a
  ReLU's output, the input when no calibration value is negative), else the code of 0.0. A chip layer whose output no
  chip layer reads (the network's output; a residual branch that only an Add reads) gives signed ``out_bits`` codes
  instead (the BN unit's last mode, *wide*, zero point 0). Pooling, flattening and a host ReLU keep their input's
  codes. Scales the network brings (``given``: quantisation-aware training) are used as they are; the others are
  calibrated on the calibration inputs' float activations: unsigned, the ``ACT_PERCENTILE`` percentile over
  2^b_in - 1 codes; signed, the ``100 - ACT_PERCENTILE`` to ``ACT_PERCENTILE`` percentile range over the codes with
  the zero point rounded to a code; wide, the largest magnitude at ``WIDE_CODE`` (8x headroom below 2^15).
* **Layers** (:class:`QuantLayer`). Weights are quantised symmetrically per output channel to [-127, 127]
  (:func:`quantise_weights`); the exact integer MVM ``acc = w_int^T q`` turns into output codes by
  ``floor(acc mult + offset + 1/2)`` with ``mult = s_in w_scale gain / s_out`` and ``offset = offset_real / s_out``,
  minus ``mult zero_in sum_i w_int_ij`` for an input zero point (the host pads with the zero-point code, so the
  correction holds everywhere), plus the output zero point. :func:`affine_registers` rounds ``mult`` and ``offset``
  into the BN registers.
* **Residual adds**: :class:`~neurophase.model.arith.AddRegisters` from the two inputs' and the output's codes.

:func:`digital_forward` is the "8-bit digital" reference: exact integer MVMs, the BN unit's arithmetic with registers
wide enough to lose nothing (``DIGITAL_FORMAT``), and the host's integer steps (model/host_ops.py ``schedule``).
"""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from neurophase.model.arith import AddRegisters, BnRegisters, PeripheryFormat
from neurophase.model.checks import check_int, check_shape, signed_range
from neurophase.model.host_ops import average_codes, schedule, window_count, window_max, window_sum
from neurophase.model.layers import (Flatten, GlobalPool, HostRelu, MatrixLayer, Pool, PoolKind, ResidualAdd,
                                     nchw_to_nhwc)

__all__ = ["TensorCodes", "QuantLayer", "QuantNetwork", "LabelledSet", "quantise", "quantise_weights",
           "affine_registers", "add_registers", "digital_forward", "digital_forward_layer", "run_schedule",
           "exact_mvm", "DIGITAL_FORMAT",
           "ACT_PERCENTILE", "WIDE_CODE", "W_LEVELS"]

W_LEVELS = 127                 # symmetric 8-bit weights
ACT_PERCENTILE = 99.9
WIDE_CODE = 4096               # a wide output's largest calibration magnitude maps to this code
CALIBRATION_SAMPLES = 1 << 20  # values per tensor and batch kept for the percentiles
CALIBRATION_BATCH = 16         # inputs per float forward pass when calibrating

# The exact integer MVM of a layer needs up to 13 + 8 + 8 + 1 bits; the digital path's affine unit is the chip's
# bn_requantise with accumulator and scale wide enough that its registers lose no precision.
DIGITAL_FORMAT = PeripheryFormat(acc_bits=32, scale_bits=20, bias_bits=48, shift_max=40)


@dataclass(frozen=True)
class TensorCodes:
    """How a tensor is held as integers: ``x = scale (code - zero_point)``; ``wide``: signed out_bits codes (a
    layer's last-mode output), else unsigned b_in-bit activations."""
    scale: float
    zero_point: int = 0
    wide: bool = False


@dataclass(frozen=True)
class LabelledSet:
    """Inputs in the network's ONNX layout (N, ...) and integer labels (N,)."""
    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        if len(self.x) != len(self.y) or np.ndim(self.y) != 1:
            raise ValueError(f"a labelled set needs one label per input, got {len(self.x)} inputs and labels of "
                             f"shape {np.shape(self.y)}")

    def __len__(self):
        return len(self.y)

    def first(self, n):
        """The first ``n`` inputs; more than the set holds is an error, not a shorter set."""
        check_int("test_images", n, 1, len(self))
        return LabelledSet(self.x[:n], self.y[:n])


def quantise_weights(w, levels=W_LEVELS):
    """Symmetric per-output-channel quantisation of ``w`` (fan_in, c_out): (integers in [-levels, levels], scale)."""
    absmax = np.abs(w).max(axis=0)
    scale = np.where(absmax > 0, absmax, 1.0) / levels
    return np.clip(np.round(w / scale), -levels, levels).astype(np.int64), scale


def affine_registers(mult, offset, fmt, where="BN unit"):
    """The integer :class:`~neurophase.model.arith.BnRegisters` for real ``mult`` and ``offset`` per channel.

    scale = round(mult 2^r), bias = round(offset 2^r), with the largest shift r <= fmt.shift_max for which every
    scale fits fmt.scale_bits and every bias fits fmt.bias_bits (most precision). Raises when no shift fits, naming
    ``where`` (e.g. "layer conv3, column block 0").
    """
    mult, offset = np.asarray(mult, np.float64), np.asarray(offset, np.float64)
    smax, bmax = signed_range(fmt.scale_bits)[1], signed_range(fmt.bias_bits)[1]
    for r in range(fmt.shift_max, -1, -1):
        s, b = np.round(mult * 2.0 ** r), np.round(offset * 2.0 ** r)
        if np.abs(s).max() <= smax and np.abs(b).max() + (1 << r) <= bmax:
            return BnRegisters(s.astype(np.int64), b.astype(np.int64), r)
    raise ValueError(f"{where}: BN multipliers up to {np.abs(mult).max():g} and biases up to {np.abs(offset).max():g} "
                     f"do not fit {fmt.scale_bits}-bit scale and {fmt.bias_bits}-bit bias registers even with shift 0 "
                     f"(at most {smax} and {bmax - 1})")


def add_registers(a, b, out, relu, fmt, name="residual add"):
    """The :class:`~neurophase.model.arith.AddRegisters` adding tensors coded ``a`` and ``b`` (:class:`TensorCodes`)
    into codes ``out``: the largest shift <= fmt.shift_max whose multipliers fit fmt.scale_bits. ``name``: the add
    step's, for the error when none fits."""
    ratios = np.array([a.scale / out.scale, b.scale / out.scale])
    smax = signed_range(fmt.scale_bits)[1]
    for r in range(fmt.shift_max, -1, -1):
        m = np.round(ratios * 2.0 ** r)
        if m.max() <= smax:
            return AddRegisters(int(m[0]), int(m[1]), a.zero_point, b.zero_point, r, out.zero_point, relu)
    raise ValueError(f"residual add {name!r}: input scales {ratios.max():g} x the output's do not fit "
                     f"{fmt.scale_bits}-bit multipliers even with shift 0 (at most {smax})")


@dataclass(frozen=True, eq=False)
class QuantLayer:
    """A chip layer as the integer datapath sees it: integer weights and the real affine map from the exact integer
    MVM ``acc = w_int^T q`` to its output codes, ``floor(acc mult + offset + 1/2)`` (then ReLU and the clamp of the
    output's codes)."""
    layer: MatrixLayer
    w_int: np.ndarray        # (fan_in, c_out) int64 in [-127, 127]
    w_scale: np.ndarray      # (c_out,) real weight per integer level
    s_in: float
    s_out: float
    mult: np.ndarray         # (c_out,)
    offset: np.ndarray       # (c_out,)
    last: bool               # wide (signed out_bits) outputs: the BN unit's last mode

    @property
    def name(self):
        return self.layer.name

    @property
    def relu(self):
        return self.layer.relu

    @cached_property
    def digital_registers(self):
        """Registers of the 8-bit digital path (``DIGITAL_FORMAT``)."""
        return affine_registers(self.mult, self.offset, DIGITAL_FORMAT, f"layer {self.name} (8-bit digital path)")


@dataclass(frozen=True, eq=False)
class QuantNetwork:
    """A network quantised for the chip: the float ``network`` (model/layers.py), every tensor's ``specs``
    (:class:`TensorCodes`), its chip ``layers`` (:class:`QuantLayer`, in order), the residual adds' ``adds``
    (step name -> AddRegisters), the ``calibration`` inputs it was calibrated with (ONNX layout; also the chip's
    ADC ranges and drift reference use them) and an optional labelled ``test`` set."""
    network: object
    specs: dict
    layers: tuple
    adds: dict
    calibration: np.ndarray
    test: LabelledSet = None
    fmt: PeripheryFormat = field(default_factory=PeripheryFormat)

    @property
    def name(self):
        return self.network.name

    @cached_property
    def _by_name(self):
        return {ql.name: ql for ql in self.layers}

    def layer(self, name):
        """The :class:`QuantLayer` called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(f"layer must be one of {list(self._by_name)}, got {name!r}") from None

    @property
    def input_shape(self):
        """Per-sample shape of the inputs, ONNX layout."""
        s = self.network.input_shape
        return (s[2], s[0], s[1]) if len(s) == 3 else s

    @property
    def outputs(self):
        """Output values per sample (a classifier's classes)."""
        return int(np.prod(self.network.shape(self.network.output)))

    @property
    def wide_layers(self):
        """Names of the chip layers with signed ``out_bits`` outputs (the BN unit's last mode): the network's output
        and every residual branch that only an Add reads."""
        return frozenset(ql.name for ql in self.layers if ql.last)

    def layer_shapes(self):
        """(name, fan_in, fan_out, MVMs per sample) of every chip layer: what the mapper needs."""
        out = []
        for ql in self.layers:
            shape = self.network.shape(ql.layer.dst)
            out.append((ql.name, ql.layer.fan_in, ql.layer.c_out, int(np.prod(shape[:-1])) if len(shape) == 3
                        else 1))
        return out

    def input_codes(self, x):
        """Codes (N, H, W, C) or (N, F) of inputs ``x`` in ONNX layout: ``clip(floor(x / scale + 1/2) + zero, 0,
        2^b_in - 1)``."""
        x = np.asarray(x, np.float64)
        check_shape("inputs", x, (None,) + self.input_shape)
        if not np.all(np.isfinite(x)):
            raise ValueError("inputs must be finite")
        spec = self.specs[self.network.input]
        q = np.floor(nchw_to_nhwc(x) / spec.scale + 0.5) + spec.zero_point
        return np.clip(q, 0, (1 << self.fmt.b_in) - 1).astype(np.int64)

    def host_step(self, step, env):
        """The codes a host step (model/layers.py) writes, from the tensors ``env`` (exact integers, D7, D9)."""
        x = env[step.srcs[0] if isinstance(step, ResidualAdd) else step.src]
        if isinstance(step, Pool):
            if step.kind is PoolKind.MAX:
                return window_max(x, step.window, np.iinfo(np.int64).min)
            zero = self.specs[step.src].zero_point
            total = window_sum(x - zero if zero else x, step.window, np.int64)
            count = window_count(x.shape[1], x.shape[2], step.window, step.count_include_pad)
            return average_codes(total, count) + zero
        if isinstance(step, GlobalPool):
            zero = self.specs[step.src].zero_point
            return average_codes((x - zero).sum(axis=(1, 2), keepdims=True), x.shape[1] * x.shape[2]) + zero
        if isinstance(step, ResidualAdd):
            return self.adds[step.name].apply(x, env[step.srcs[1]], self.fmt)[0]
        if isinstance(step, HostRelu):
            return np.maximum(x, self.specs[step.src].zero_point)
        return x.reshape(len(x), -1)                                # Flatten

    def output_values(self, q):
        """Real values of output codes ``q`` (N, ...), in ONNX layout."""
        spec = self.specs[self.network.output]
        return self.network.to_onnx_layout((np.asarray(q) - spec.zero_point) * spec.scale)


def quantise(network, calibration, given=None, test=None, fmt=PeripheryFormat()):
    """Quantise ``network`` (model/layers.py ``FloatNetwork``) with ``calibration`` inputs (ONNX layout); ``given``:
    {tensor: ActivationScale} to use as they are (model/graph.py). Returns a :class:`QuantNetwork`."""
    given = dict(given or {})
    calibration = np.asarray(calibration)
    check_shape("calibration inputs", calibration, (None,) + _onnx_shape(network.input_shape))
    if len(calibration) == 0:
        raise ValueError("calibration inputs must hold at least one input")
    kinds = _tensor_kinds(network)
    todo = {t for t in kinds if t not in given}
    values = _collect(network, calibration, todo) if todo else {}
    specs = {}
    for t, kind in kinds.items():
        if t in given:
            g = given[t]
            if kind == "wide" and g.zero_point:
                raise ValueError(f"tensor {t!r} holds signed layer outputs: its given zero point must be 0, got "
                                 f"{g.zero_point}")
            specs[t] = TensorCodes(g.scale, g.zero_point, kind == "wide")
        else:
            specs[t] = _calibrated(values[t], kind, fmt)
    for step in network.steps:
        if isinstance(step, (Pool, GlobalPool, HostRelu, Flatten)):
            specs[step.dst] = specs[step.src]
    layers, adds = [], {}
    for step in network.steps:
        if isinstance(step, MatrixLayer):
            layers.append(_quant_layer(step, specs[step.src], specs[step.dst]))
        elif isinstance(step, ResidualAdd):
            a, b = (specs[s] for s in step.srcs)
            adds[step.name] = add_registers(a, b, specs[step.dst], step.relu, fmt, step.name)
    return QuantNetwork(network, specs, tuple(layers), adds, calibration, test, fmt)


def _onnx_shape(nhwc):
    return (nhwc[2], nhwc[0], nhwc[1]) if len(nhwc) == 3 else tuple(nhwc)


def _tensor_kinds(network):
    """{tensor: "unsigned" | "signed" | "wide"} for the tensors that get their own codes: the input, every layer's and
    every residual add's output. Others (pools, flatten, host ReLU) take their input's codes."""
    kinds = {network.input: "signed"}
    for step in network.steps:
        if isinstance(step, (MatrixLayer, ResidualAdd)):
            if isinstance(step, MatrixLayer) and not _read_by_layer(network, step.dst):
                kinds[step.dst] = "wide"
            else:
                kinds[step.dst] = "unsigned" if step.relu else "signed"
    return kinds


def _read_by_layer(network, tensor):
    """Whether a chip layer reads ``tensor``, directly or through steps that keep its codes."""
    for step in network.consumers(tensor):
        if isinstance(step, MatrixLayer):
            return True
        if isinstance(step, (Pool, GlobalPool, HostRelu, Flatten)) and _read_by_layer(network, step.dst):
            return True
    return False


def _collect(network, calibration, tensors):
    """Float values of ``tensors`` on the calibration inputs (each at most CALIBRATION_SAMPLES values per batch,
    evenly spaced), as flat arrays."""
    parts = {t: [] for t in tensors}
    for b in range(0, len(calibration), CALIBRATION_BATCH):
        _, kept = network.forward(calibration[b:b + CALIBRATION_BATCH], set(tensors))
        for t, v in kept.items():
            v = v.ravel()
            step = max(1, len(v) // CALIBRATION_SAMPLES)
            parts[t].append(v[::step])
    return {t: np.concatenate(p) for t, p in parts.items()}


def _calibrated(v, kind, fmt):
    top = (1 << fmt.b_in) - 1
    if kind == "wide":
        return TensorCodes(_positive(np.abs(v).max()) / WIDE_CODE, 0, True)
    lo, hi = np.percentile(v, [100 - ACT_PERCENTILE, ACT_PERCENTILE])
    if kind == "unsigned" or lo >= 0:
        return TensorCodes(_positive(hi if hi > 0 else v.max()) / top, 0)
    hi = max(hi, 0.0)
    scale = _positive(hi - lo) / top
    return TensorCodes(scale, int(np.clip(np.floor(-lo / scale + 0.5), 0, top)))


def _positive(v):
    """A calibration range that is all zeros (a dead channel group) gets unit scale rather than none."""
    return float(v) if v > 0 else 1.0


def _quant_layer(layer, src, dst):
    w_int, w_scale = quantise_weights(layer.weight)
    # The order of these operations is fixed: the shipped digits network's registers depend on it bit for bit.
    mult = src.scale * w_scale * layer.gain / dst.scale
    offset = layer.offset / dst.scale
    if src.zero_point:
        offset = offset - mult * src.zero_point * w_int.sum(axis=0)
    if dst.zero_point:
        offset = offset + dst.zero_point
    return QuantLayer(layer, w_int, w_scale, src.scale, dst.scale, mult, offset, dst.wide)


def run_schedule(qnet, q, layer_fn):
    """Run :func:`~neurophase.model.host_ops.schedule` with ``layer_fn(quant_layer, vectors) -> outputs`` for the
    chip layers; returns the output codes."""
    gen = schedule(qnet, q)
    try:
        request = next(gen)
        while True:
            request = gen.send(layer_fn(*request))
    except StopIteration as stop:
        return stop.value


def exact_mvm(x, w_int):
    """The exact integer MVM ``x @ w_int`` (int64): float64 arithmetic is exact here (|terms| < 2^53) and runs on
    BLAS."""
    return np.rint(np.asarray(x, np.float64) @ w_int.astype(np.float64)).astype(np.int64)


def digital_forward_layer(ql, vectors):
    """The 8-bit digital path of one layer: outputs (MVMs, c_out) of MVM input ``vectors`` (MVMs, fan_in)."""
    y, _ = ql.digital_registers.requantise(exact_mvm(vectors, ql.w_int), DIGITAL_FORMAT, relu=ql.relu, last=ql.last)
    return y


def digital_forward(qnet, x, return_all=False):
    """The 8-bit digital path of inputs ``x`` (ONNX layout): output codes (N, ...) (a classifier's signed logits).
    With ``return_all`` also {layer name: outputs (N * positions, c_out)}."""
    outs = {}

    def layer(ql, vectors):
        outs[ql.name] = digital_forward_layer(ql, vectors)
        return outs[ql.name]

    q = run_schedule(qnet, qnet.input_codes(x), layer)
    return (q, outs) if return_all else q
