"""ONNX import: an ONNX file read with the ``onnx`` package into the twin's :class:`~neurophase.model.graph.Graph`.

Ref: docs/architecture.md D9. The only module of the twin that reads ONNX (no ONNX runtime: the twin computes
everything itself). :func:`import_onnx` returns a complete graph or raises :class:`OnnxImportError` (a ValueError)
naming the node, its op type and what is not supported; nothing is half-imported.

Supported, on one data input of shape (N, C, H, W) or (N, F) (the batch N free or fixed, the rest fixed):

=================== ==================================================================================================
Conv                2-D, group 1, dilation 1, any kernel, stride and padding (explicit pads or auto_pad); weight and
                    optional bias constant
Gemm                transA 0, transB 0 or 1, any alpha and beta; B and C constant
MatMul              the second operand a constant matrix
BatchNormalization  inference (training_mode 0), one output; statistics constant
Relu, Add           Add of two activations is a residual add; Add of a constant is the bias of the Conv, Gemm or
                    MatMul before it
MaxPool             ceil_mode 0, dilation 1, storage_order 0, one output
AveragePool         ceil_mode 0, count_include_pad 0 or 1
GlobalAveragePool
Flatten             axis 1
Reshape             to (N, features) vectors; its shape a constant or computed from constants and Shape
Identity            an alias
Constant, Shape, Gather, Unsqueeze, Squeeze, Concat, Cast
                    on constants only: the shape arithmetic PyTorch's exporter emits in front of a Reshape
=================== ==================================================================================================

Activation scales brought with a network (quantisation-aware training) are read from the model's metadata_props
key :data:`SCALES_KEY`: JSON ``{tensor name: [scale, zero_point]}``.
"""

import json
from pathlib import Path

import numpy as np

from neurophase.model.graph import (ActivationScale, AveragePool, BatchNorm, Conv, Dense, Flatten, Graph,
                                    GlobalAveragePool, MaxPool, Node, Relu, Window, node_output_shape)
from neurophase.model.graph import Add as AddOp

__all__ = ["OnnxImportError", "import_onnx", "SCALES_KEY", "SUPPORTED_OPS"]

SCALES_KEY = "neurophase.activation_scales"
_BATCH = np.iinfo(np.int64).min          # the batch dimension inside constant shape arithmetic


class OnnxImportError(ValueError):
    """An ONNX file the twin cannot import: the message names the node, its op type and what is not supported."""


class _Node:
    """The ONNX node being imported, for messages and attribute checks."""

    def __init__(self, proto, index):
        import onnx
        self.proto = proto
        self.op = proto.op_type
        self.name = proto.name or f"#{index}"
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute}

    def error(self, what):
        return OnnxImportError(f"node {self.name!r} ({self.op}): {what}")

    def attr(self, name, default, allowed=None, what=None):
        """Attribute ``name`` (``default`` when absent); ``allowed(value)`` false raises naming it."""
        value = self.attrs.get(name, default)
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, list):
            value = tuple(value)
        if allowed is not None and not allowed(value):
            raise self.error(f"unsupported attribute {name}={_show(value)} (supported: {what})")
        return value

    def check_attrs(self, known):
        for name in self.attrs:
            if name not in known:
                raise self.error(f"unsupported attribute {name}={_show(self.attr(name, None))} "
                                 f"(supported attributes: {', '.join(sorted(known)) or 'none'})")


def _show(value):
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


class _Importer:
    def __init__(self, model):
        from onnx import numpy_helper
        self.to_array = numpy_helper.to_array
        g = model.graph
        self.consts = {t.name: self._number_array(self.to_array(t)) for t in g.initializer}
        self.alias = {}
        self.shapes = {}
        self.nodes = []
        self.producer = {}
        data = [i for i in g.input if i.name not in self.consts]
        if len(data) != 1:
            raise OnnxImportError(f"graph must have exactly one data input (not an initializer), got "
                                  f"{[i.name for i in data]}")
        self.input, self.input_shape = data[0].name, _input_shape(data[0])
        dim = data[0].type.tensor_type.shape.dim[0]
        self.batch = dim.dim_value if dim.HasField("dim_value") else None     # a fixed batch size, if any
        self.shapes[self.input] = self.input_shape
        if len(g.output) != 1:
            raise OnnxImportError(f"graph must have exactly one output, got {[o.name for o in g.output]}")
        self.output = g.output[0].name

    @staticmethod
    def _number_array(a):
        return a.astype(np.float64) if a.dtype.kind == "f" else a.astype(np.int64)

    # -- tensors --------------------------------------------------------------------------------------------------
    def resolve(self, name):
        while name in self.alias:
            name = self.alias[name]
        return name

    def activation(self, node, name):
        name = self.resolve(name)
        if name in self.consts:
            raise node.error(f"input {name!r} must be an activation, got a constant")
        if name not in self.shapes:
            raise node.error(f"input {name!r} is not written by any earlier node")
        return name

    def const(self, node, name, what):
        name = self.resolve(name)
        if name not in self.consts:
            raise node.error(f"{what} {name!r} must be a constant (an initializer or a Constant node): the chip "
                             f"holds weights, not activations")
        return self.consts[name]

    def emit(self, node, op, inputs, output):
        n = Node(node.name, op, tuple(inputs), output)
        try:
            self.shapes[output] = node_output_shape(n, [self.shapes[t] for t in inputs])
        except ValueError as e:
            raise OnnxImportError(str(e)) from None
        self.nodes.append(n)
        self.producer[output] = n

    # -- ops ------------------------------------------------------------------------------------------------------
    def run(self, model):
        for index, proto in enumerate(model.graph.node):
            node = _Node(proto, index)
            handler = getattr(self, f"op_{node.op}", None)
            if handler is None or proto.domain not in ("", "ai.onnx"):
                raise node.error(f"unsupported op type (supported: {', '.join(SUPPORTED_OPS)})")
            outs = [o for o in proto.output if o]
            if len(outs) != 1 and node.op not in ("MaxPool", "BatchNormalization"):
                raise node.error(f"must have one output, got {len(outs)}")
            handler(node, list(proto.input), proto.output[0])
        output = self.resolve(self.output)
        if output in self.consts or output not in self.shapes:
            raise OnnxImportError(f"graph output {self.output!r} must be an activation computed from the input")
        return output

    def op_Conv(self, node, inputs, out):
        node.check_attrs({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
        x = self.activation(node, inputs[0])
        w = self.const(node, inputs[1], "weight")
        if w.ndim != 4:
            raise node.error(f"weight must be 4-D (a 2-D convolution), got shape {w.shape}")
        node.attr("group", 1, lambda v: v == 1, "1")
        node.attr("dilations", (1, 1), lambda v: all(d == 1 for d in v), "all 1")
        node.attr("kernel_shape", tuple(w.shape[2:]), lambda v: v == tuple(w.shape[2:]),
                  f"the weight's {tuple(w.shape[2:])}")
        bias = self.const(node, inputs[2], "bias") if len(inputs) > 2 and inputs[2] else None
        window = self._window(node, x, tuple(w.shape[2:]))
        self.emit(node, Conv(w, bias, window.stride, window.pads), [x], out)

    def _window(self, node, x, kernel):
        shape = self.shapes[x]
        if len(shape) != 3:
            raise node.error(f"input must be (N, C, H, W) images, got per-sample shape {shape}")
        strides = node.attr("strides", (1, 1), lambda v: len(v) == 2 and all(s >= 1 for s in v), "2 values >= 1")
        auto = node.attr("auto_pad", "NOTSET", lambda v: v in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"),
                         "NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        pads = node.attr("pads", (0, 0, 0, 0), lambda v: len(v) == 4 and all(p >= 0 for p in v), "4 values >= 0")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = [0] * 4
            for axis, (size, k, s) in enumerate(zip(shape[1:], kernel, strides)):
                total = max(0, (-(-size // s) - 1) * s + k - size)
                small, big = total // 2, total - total // 2
                pads[axis], pads[axis + 2] = (small, big) if auto == "SAME_UPPER" else (big, small)
        elif auto == "VALID":
            pads = (0, 0, 0, 0)
        return Window(kernel, strides, tuple(pads))

    def op_Gemm(self, node, inputs, out):
        node.check_attrs({"alpha", "beta", "transA", "transB"})
        x = self.activation(node, inputs[0])
        node.attr("transA", 0, lambda v: v == 0, "0")
        trans_b = node.attr("transB", 0, lambda v: v in (0, 1), "0, 1")
        b = self.const(node, inputs[1], "input B")
        if b.ndim != 2:
            raise node.error(f"input B must be a matrix, got shape {b.shape}")
        w = b.T if trans_b else b
        alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
        if alpha != 1.0:
            w = alpha * w
        bias = None
        if len(inputs) > 2 and inputs[2]:
            c = self.const(node, inputs[2], "input C")
            bias = self._channel_vector(node, c, w.shape[1], 2, "input C")
            if beta != 1.0:
                bias = beta * bias
        self.emit(node, Dense(np.ascontiguousarray(w), bias), [x], out)

    def op_MatMul(self, node, inputs, out):
        node.check_attrs(set())
        x = self.activation(node, inputs[0])
        w = self.const(node, inputs[1], "second operand")
        if w.ndim != 2:
            raise node.error(f"second operand must be a matrix, got shape {w.shape}")
        self.emit(node, Dense(w), [x], out)

    @staticmethod
    def _channel_vector(node, c, n, rank, what):
        """A constant that broadcasts over a rank-``rank`` activation (N, n) or (N, n, H, W) with one value per
        channel, as an (n,) vector."""
        c = np.asarray(c, np.float64)
        shape = (1,) * (rank - c.ndim) + c.shape
        if c.ndim > rank or shape[0] != 1 or shape[1] not in (1, n) or any(d != 1 for d in shape[2:]):
            raise node.error(f"{what} must be one value per output channel ({n}), got shape {c.shape}")
        return np.broadcast_to(c.reshape(-1), (n,)).astype(np.float64)

    def op_BatchNormalization(self, node, inputs, out):
        node.check_attrs({"epsilon", "momentum", "training_mode", "spatial"})
        node.attr("training_mode", 0, lambda v: v == 0, "0")
        node.attr("spatial", 1, lambda v: v == 1, "1")
        if len([o for o in node.proto.output if o]) != 1:
            raise node.error("must have one output (inference); training outputs are not supported")
        x = self.activation(node, inputs[0])
        scale, bias, mean, var = (self.const(node, name, what) for name, what in
                                  zip(inputs[1:5], ("scale", "bias", "mean", "var")))
        self.emit(node, BatchNorm(scale, bias, mean, var, float(node.attr("epsilon", 1e-5))), [x], out)

    def op_Relu(self, node, inputs, out):
        node.check_attrs(set())
        self.emit(node, Relu(), [self.activation(node, inputs[0])], out)

    def op_Add(self, node, inputs, out):
        node.check_attrs(set())
        names = [self.resolve(i) for i in inputs]
        consts = [n in self.consts for n in names]
        if all(consts):
            self.consts[out] = self.consts[names[0]] + self.consts[names[1]]
            return
        if not any(consts):
            self.emit(node, AddOp(), [self.activation(node, n) for n in names], out)
            return
        x, c = (names[1], names[0]) if consts[0] else (names[0], names[1])
        src = self.producer.get(self.activation(node, x))
        if src is None or not isinstance(src.op, (Conv, Dense)):
            raise node.error("Add of a constant is supported only as the per-channel bias of the Conv, Gemm or MatMul "
                             "that computes its other input")
        # The layer with the bias folded in writes the Add's output; the layer without it stays for any other
        # reader and is dropped when nothing reads it.
        conv = isinstance(src.op, Conv)
        n_out = src.op.weight.shape[0] if conv else src.op.weight.shape[1]
        bias = self._channel_vector(node, self.const(node, c, "constant operand"), n_out, 4 if conv else 2,
                                    "constant operand")
        old = src.op.bias if src.op.bias is not None else 0.0
        fused = type(src.op)(**{**vars(src.op), "bias": old + bias})
        self.emit(node, fused, list(src.inputs), out)

    def op_MaxPool(self, node, inputs, out):
        node.check_attrs({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"})
        if len([o for o in node.proto.output if o]) != 1:
            raise node.error("must have one output; the Indices output is not supported")
        self._pool(node, inputs, out, lambda w: MaxPool(w))

    def op_AveragePool(self, node, inputs, out):
        node.check_attrs({"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads",
                          "strides"})
        include = node.attr("count_include_pad", 0, lambda v: v in (0, 1), "0, 1")
        self._pool(node, inputs, out, lambda w: AveragePool(w, bool(include)))

    def _pool(self, node, inputs, out, make):
        x = self.activation(node, inputs[0])
        node.attr("ceil_mode", 0, lambda v: v == 0, "0")
        node.attr("dilations", (1, 1), lambda v: all(d == 1 for d in v), "all 1")
        node.attr("storage_order", 0, lambda v: v == 0, "0")
        kernel = node.attr("kernel_shape", None, lambda v: v is not None and len(v) == 2 and min(v) >= 1,
                           "2 values >= 1")
        self.emit(node, make(self._window(node, x, kernel)), [x], out)

    def op_GlobalAveragePool(self, node, inputs, out):
        node.check_attrs(set())
        self.emit(node, GlobalAveragePool(), [self.activation(node, inputs[0])], out)

    def op_Flatten(self, node, inputs, out):
        node.check_attrs({"axis"})
        node.attr("axis", 1, lambda v: v == 1, "1")
        self._to_vector(node, self.activation(node, inputs[0]), out)

    def _to_vector(self, node, x, out):
        if len(self.shapes[x]) == 1:
            self.alias[out] = x
        else:
            self.emit(node, Flatten(), [x], out)

    def op_Reshape(self, node, inputs, out):
        node.check_attrs({"allowzero"})
        node.attr("allowzero", 0, lambda v: v == 0, "0")
        x = self.activation(node, inputs[0])
        target = self.const(node, inputs[1], "shape")
        size = int(np.prod(self.shapes[x]))
        ok = target.ndim == 1 and len(target) == 2 and target[0] in (_BATCH, 0, -1, self.batch) and \
            target[1] in (size, -1) and not (target[0] == -1 and target[1] == -1)
        if not ok:
            shown = [("N" if v == _BATCH else int(v)) for v in np.ravel(target)]
            raise node.error(f"unsupported target shape {shown}: only to (N, features) vectors, features "
                             f"{size} here")
        self._to_vector(node, x, out)

    def op_Identity(self, node, inputs, out):
        node.check_attrs(set())
        self.alias[out] = self.resolve(inputs[0])

    # -- constant arithmetic (shapes) ----------------------------------------------------------------------------
    def op_Constant(self, node, inputs, out):
        node.check_attrs({"value", "value_float", "value_floats", "value_int", "value_ints"})
        if len(node.attrs) != 1:
            raise node.error(f"must have exactly one value attribute, got {sorted(node.attrs)}")
        (key, value), = node.attrs.items()
        self.consts[out] = self._number_array(self.to_array(value) if key == "value" else np.asarray(value))

    def op_Shape(self, node, inputs, out):
        node.check_attrs({"start", "end"})
        x = self.resolve(inputs[0])
        shape = self.consts[x].shape if x in self.consts else (_BATCH,) + self.shapes[self.activation(node, x)]
        start, end = node.attr("start", 0), node.attr("end", None)
        self.consts[out] = np.array(shape[start:end], np.int64)

    def op_Gather(self, node, inputs, out):
        node.check_attrs({"axis"})
        data = self.const(node, inputs[0], "data")
        self.consts[out] = np.take(data, self.const(node, inputs[1], "indices"), axis=node.attr("axis", 0))

    def op_Unsqueeze(self, node, inputs, out):
        node.check_attrs({"axes"})
        data = self.const(node, inputs[0], "data")
        axes = node.attr("axes", None) or tuple(self.const(node, inputs[1], "axes").ravel().tolist())
        self.consts[out] = np.expand_dims(data, tuple(a % (data.ndim + len(axes)) for a in axes))

    def op_Squeeze(self, node, inputs, out):
        node.check_attrs({"axes"})
        data = self.const(node, inputs[0], "data")
        axes = node.attr("axes", None) or (tuple(self.const(node, inputs[1], "axes").ravel().tolist())
                                           if len(inputs) > 1 and inputs[1] else None)
        self.consts[out] = np.squeeze(data, axis=axes)

    def op_Concat(self, node, inputs, out):
        node.check_attrs({"axis"})
        parts = [self.const(node, i, "input") for i in inputs]
        self.consts[out] = np.concatenate(parts, axis=node.attr("axis", 0))

    def op_Cast(self, node, inputs, out):
        node.check_attrs({"to", "saturate", "round_mode"})
        import onnx
        to = onnx.helper.tensor_dtype_to_np_dtype(node.attr("to", None))
        self.consts[out] = self._number_array(self.const(node, inputs[0], "input").astype(to))


SUPPORTED_OPS = tuple(sorted(name[3:] for name in vars(_Importer) if name.startswith("op_")))


def _input_shape(value_info):
    t = value_info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    if len(dims) not in (2, 4) or any(d is None or d < 1 for d in dims[1:]):
        shown = ["?" if d is None else d for d in dims]
        raise OnnxImportError(f"input {value_info.name!r} must be (N, C, H, W) images or (N, F) vectors with every "
                              f"dimension but N fixed, got {shown}")
    return tuple(dims[1:])


def _scales(model, resolve):
    for prop in model.metadata_props:
        if prop.key == SCALES_KEY:
            try:
                raw = json.loads(prop.value)
                return {resolve(k): ActivationScale(float(v[0]), int(v[1])) for k, v in raw.items()}
            except (TypeError, ValueError, IndexError, AttributeError) as e:
                raise OnnxImportError(f"metadata {SCALES_KEY} must be JSON {{tensor: [scale, zero_point]}}: {e}") \
                    from None
    return {}


def import_onnx(source, name=None):
    """The :class:`~neurophase.model.graph.Graph` of an ONNX model (a path or an ``onnx.ModelProto``).

    Raises :class:`OnnxImportError` naming the node, its op type and the unsupported attribute or input; nothing is
    returned half-imported."""
    import onnx
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise OnnxImportError(f"ONNX file {path} does not exist")
        try:
            model = onnx.load(str(path))
        except Exception as e:          # the onnx package raises DecodeError and others for a file it cannot parse
            raise OnnxImportError(f"{path} is not an ONNX model: {e}") from None
        name = name or path.stem
    else:
        model = source
        name = name or model.graph.name or "network"
    imp = _Importer(model)
    output = imp.run(model)
    nodes = _live(imp.nodes, output)
    scales = {k: v for k, v in _scales(model, imp.resolve).items() if k in imp.shapes}
    return Graph(name, imp.input, imp.input_shape, nodes, output, scales)


def _live(nodes, output):
    """The nodes the output depends on, in order (dead ones, e.g. a layer whose bias was folded elsewhere, dropped)."""
    need, keep = {output}, []
    for n in reversed(nodes):
        if n.output in need:
            keep.append(n)
            need.update(n.inputs)
    return tuple(reversed(keep))
