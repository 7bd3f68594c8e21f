"""ONNX files as users write them, with onnx.helper from numpy weights, for the import tests; and an independent
float reference in ONNX's own NCHW layout (direct formulas, no code shared with the twin)."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class OnnxBuilder:
    """Build a graph node by node: each method adds one node (and its float32 initialisers) and returns the name of
    its output. ``input_shape`` is per sample; the batch dimension is ``batch`` (a name: free, or a number)."""

    def __init__(self, input_shape, seed=0, batch="N", name="net"):
        self.rng = np.random.default_rng(seed)
        self.input_shape, self.batch, self.name = tuple(input_shape), batch, name
        self.nodes, self.inits, self.count = [], [], 0
        self.x = "input"

    def _name(self, op):
        self.count += 1
        return f"{op.lower()}{self.count}"

    def const(self, value, name=None, dtype=np.float32):
        name = name or f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op, inputs, name=None, outputs=1, **attrs):
        name = name or self._name(op)
        outs = [f"{name}.out"] + [f"{name}.out{k}" for k in range(1, outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name, **attrs))
        return outs[0]

    def conv(self, x, c_in, c_out, k, stride=1, pad=0, bias=True, name=None, **attrs):
        kh, kw = (k, k) if np.ndim(k) == 0 else k
        w = self.rng.normal(0, np.sqrt(2 / (c_in * kh * kw)), (c_out, c_in, kh, kw))
        ins = [x, self.const(w)] + ([self.const(self.rng.normal(0, 0.1, c_out))] if bias else [])
        pads = [pad] * 4 if np.ndim(pad) == 0 else list(pad)
        return self.node("Conv", ins, name, kernel_shape=[kh, kw], strides=[stride, stride], pads=pads, **attrs)

    def bn(self, x, c, name=None, **attrs):
        r = self.rng
        ins = [x, self.const(r.uniform(0.5, 1.5, c)), self.const(r.normal(0, 0.2, c)), self.const(r.normal(0, 0.2, c)),
               self.const(r.uniform(0.5, 2.0, c))]
        return self.node("BatchNormalization", ins, name, epsilon=1e-5, **attrs)

    def gemm(self, x, k, n, name=None, trans_b=1, bias=True, **attrs):
        w = self.rng.normal(0, np.sqrt(1 / k), (n, k) if trans_b else (k, n))
        ins = [x, self.const(w)] + ([self.const(self.rng.normal(0, 0.1, n))] if bias else [])
        return self.node("Gemm", ins, name, transB=trans_b, **attrs)

    def flatten_dynamic(self, x, name="view"):
        """What PyTorch writes for ``x.view(x.size(0), -1)`` with a free batch: Shape, Gather, Unsqueeze, Concat,
        Reshape."""
        shape = self.node("Shape", [x], f"{name}.shape")
        index = self.node("Constant", [], f"{name}.index", value=numpy_helper.from_array(np.array(0, np.int64)))
        n = self.node("Gather", [shape, index], f"{name}.gather", axis=0)
        n1 = self.node("Unsqueeze", [n, self.const([0], dtype=np.int64)], f"{name}.unsqueeze")
        rest = self.node("Constant", [], f"{name}.rest", value=numpy_helper.from_array(np.array([-1], np.int64)))
        target = self.node("Concat", [n1, rest], f"{name}.concat", axis=0)
        return self.node("Reshape", [x, target], name)

    def model(self, output, out_shape, metadata=None):
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [self.batch, *self.input_shape])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, [self.batch, *out_shape])], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        if metadata:
            helper.set_model_props(model, metadata)
        return model


# -- an independent reference: ONNX semantics in NCHW, straight from the operator definitions ----------------------
def _values(model):
    return {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _window(x, kernel, strides, pads, fill):
    """(N, C, H', W', kH, kW) windows of NCHW ``x``."""
    t, l, b, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=fill)
    kh, kw = kernel
    sh, sw = strides
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.empty(x.shape[:2] + (ho, wo, kh, kw))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
    return out


def _pads(a, size, kernel):
    """Explicit pads, or auto_pad SAME_UPPER's: total (out - 1) stride + k - in with out = ceil(in / stride), the odd
    one at the end."""
    if a.get("auto_pad", b"NOTSET") != b"SAME_UPPER":
        return a.get("pads", [0] * 4)
    total = [max(0, (-(-n // s) - 1) * s + k - n) for n, k, s in zip(size, kernel, a.get("strides", [1, 1]))]
    return [total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2]


def reference_forward(model, x):
    """Evaluate the ONNX model on ``x`` with the operator definitions (float64): the ops the tests write."""
    env = {"input": np.asarray(x, np.float64), **_values(model)}
    for node in model.graph.node:
        a, ins = _attrs(node), [env.get(i) for i in node.input]
        op = node.op_type
        if op == "Conv":
            w = ins[1]
            win = _window(ins[0], w.shape[2:], a.get("strides", [1, 1]), _pads(a, ins[0].shape[2:], w.shape[2:]), 0.0)
            y = np.einsum("nchwij,ocij->nohw", win, w)
            y = y + (ins[2][None, :, None, None] if len(ins) > 2 else 0)
        elif op == "BatchNormalization":
            s, b, m, v = (t.reshape((1, -1) + (1,) * (ins[0].ndim - 2)) for t in ins[1:5])
            y = s * (ins[0] - m) / np.sqrt(v + a["epsilon"]) + b
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op in ("MaxPool", "AveragePool"):
            pads = a.get("pads", [0] * 4)
            win = _window(ins[0], a["kernel_shape"], a.get("strides", [1, 1]), pads,
                          -np.inf if op == "MaxPool" else np.nan)
            if op == "MaxPool":
                y = win.max(axis=(4, 5))
            elif a.get("count_include_pad", 0):
                y = np.nan_to_num(win).mean(axis=(4, 5))
            else:
                y = np.nanmean(win, axis=(4, 5))
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op in ("Flatten", "Reshape"):
            y = ins[0].reshape(len(ins[0]), -1)
        elif op == "Gemm":
            b = ins[1].T if a.get("transB", 0) else ins[1]
            y = a.get("alpha", 1.0) * ins[0] @ b + (a.get("beta", 1.0) * ins[2] if len(ins) > 2 else 0)
        elif op == "MatMul":
            y = ins[0] @ ins[1]
        elif op == "Identity":
            y = ins[0]
        elif op in ("Shape", "Constant", "Gather", "Unsqueeze", "Concat"):
            continue                                         # shape arithmetic only feeds Reshape here
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = y
    return env[model.graph.output[0].name]


def residual_net(seed=0, batch="N", c_in=4, hw=8, width=40, wide=160, classes=10):
    """A small residual network: conv 3x3 + BN + ReLU; a block whose 3x3/2 branch (fan-in 9 x ``width``, more than a
    tile's rows; ``wide`` outputs, more than a tile's columns) and 1x1/2 projection are added, then ReLU; a 3x3
    conv with a fan-in of 9 x ``wide`` (several row groups); an average pool, global average pool, the PyTorch-style
    view, and a Gemm with transB."""
    b = OnnxBuilder((c_in, hw, hw), seed, batch, name="residual_net")
    x = b.node("Relu", [b.bn(b.conv("input", c_in, width, 3, pad=1, bias=False, name="stem"), width)])
    branch = b.bn(b.conv(x, width, wide, 3, stride=2, pad=1, name="block.conv"), wide)
    short = b.bn(b.conv(x, width, wide, 1, stride=2, bias=False, name="block.shortcut"), wide)
    y = b.node("Relu", [b.node("Add", [branch, short], "block.add")])
    y = b.node("Relu", [b.conv(y, wide, 24, 3, pad=1, name="head")])
    y = b.node("AveragePool", [y], "pool", kernel_shape=[2, 2], strides=[2, 2])
    y = b.flatten_dynamic(b.node("GlobalAveragePool", [y], "gap"))
    return b.model(b.gemm(y, 24, classes, name="fc"), (classes,))
