"""Lowering: a graph (model/graph.py, ONNX semantics, NCHW) into the steps the chip and its host run (model/layers.py).

Ref: docs/architecture.md D7, D9. Rules:

* a Conv or Dense node becomes a :class:`~neurophase.model.layers.MatrixLayer`; a BatchNorm that alone reads its
  output folds into the layer's per-channel affine map (``gain``, ``offset``: BN and bias together, the chip's BN
  registers), and a Relu that alone reads the result becomes the layer's ReLU (the BN unit's);
* a convolution's weight (O, I, kH, kW) becomes the matrix (kH*kW*I, O) with rows in im2col order (ky, kx, c);
  a dense layer that reads a flattened (C, H, W) map gets its rows reordered from ONNX's (c, h, w) to the host's
  NHWC (h, w, c);
* Add becomes a :class:`~neurophase.model.layers.ResidualAdd` (with the Relu that alone reads it), MaxPool and
  AveragePool a :class:`~neurophase.model.layers.Pool`, GlobalAveragePool a
  :class:`~neurophase.model.layers.GlobalPool`, Flatten a :class:`~neurophase.model.layers.Flatten`, any other Relu
  a :class:`~neurophase.model.layers.HostRelu`;
* a BatchNorm anywhere else is an error naming it (the chip folds batch norm into the layer before it).

Chip layers take the names of their Conv/Dense nodes (made unique with a suffix ``#k`` when a name repeats).
"""

import numpy as np

from neurophase.model import graph as G
from neurophase.model.layers import (Flatten, FloatNetwork, GlobalPool, HostRelu, MatrixLayer, Pool, PoolKind,
                                     ResidualAdd)

__all__ = ["lower"]


def lower(graph):
    """The :class:`~neurophase.model.layers.FloatNetwork` of ``graph`` (a :class:`~neurophase.model.graph.Graph`)."""
    shapes = graph.shapes()
    readers = {}
    for node in graph.nodes:
        for t in node.inputs:
            readers.setdefault(t, []).append(node)
    sole = lambda t, op: (len(readers.get(t, [])) == 1 and isinstance(readers[t][0].op, op)
                          and t != graph.output) and readers[t][0]
    folded, steps, names = set(), [], set()
    flattened = {}                                   # Flatten output -> the (C, H, W) shape it flattened
    for node in graph.nodes:
        if node.name in folded:
            continue
        op, src = node.op, node.inputs[0]
        if isinstance(op, (G.Conv, G.Dense)):
            dst, gain, offset = node.output, np.ones(_c_out(op)), _bias(op)
            bn = sole(dst, G.BatchNorm)
            if bn:
                a, b = bn.op.affine()
                # y = A (z + bias) + B; without a bias exactly B (the shipped digits network's arithmetic)
                gain, offset = a, (b if op.bias is None else a * op.bias + b)
                folded.add(bn.name)
                dst = bn.output
            relu = sole(dst, G.Relu)
            if relu:
                folded.add(relu.name)
                dst = relu.output
            steps.append(MatrixLayer(_unique(node.name, names), src, dst, _matrix(op, flattened.get(src)), gain,
                                     offset, bool(relu), op.window if isinstance(op, G.Conv) else None))
        elif isinstance(op, G.BatchNorm):
            raise ValueError(f"node {node.name!r} (BatchNormalization): must follow a Conv, Gemm or MatMul whose "
                             f"output only it reads (the chip folds batch norm into that layer's BN registers)")
        elif isinstance(op, G.Add):
            relu = sole(node.output, G.Relu)
            if relu:
                folded.add(relu.name)
            steps.append(ResidualAdd(node.name, tuple(node.inputs), relu.output if relu else node.output,
                                     bool(relu)))
        elif isinstance(op, (G.MaxPool, G.AveragePool)):
            kind = PoolKind.MAX if isinstance(op, G.MaxPool) else PoolKind.AVERAGE
            steps.append(Pool(node.name, src, node.output, kind, op.window,
                              bool(getattr(op, "count_include_pad", False))))
        elif isinstance(op, G.GlobalAveragePool):
            steps.append(GlobalPool(node.name, src, node.output))
        elif isinstance(op, G.Flatten):
            if len(shapes[src]) == 3 and shapes[src][1:] != (1, 1):
                flattened[node.output] = shapes[src]
            steps.append(Flatten(node.name, src, node.output))
        else:
            steps.append(HostRelu(node.name, src, node.output))
    shape = graph.input_shape
    input_shape = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape
    order = _nhwc_rows(flattened[graph.output]) if graph.output in flattened else None
    return FloatNetwork(graph.name, graph.input, input_shape, tuple(steps), graph.output,
                        None if order is None else np.argsort(order))


def _c_out(op):
    return op.weight.shape[0] if isinstance(op, G.Conv) else op.weight.shape[1]


def _bias(op):
    return np.zeros(_c_out(op)) if op.bias is None else np.asarray(op.bias, np.float64)


def _unique(name, names):
    out, k = name, 2
    while out in names:
        out, k = f"{name}#{k}", k + 1
    names.add(out)
    return out


def _matrix(op, flat_shape):
    """The (fan_in, c_out) weight matrix, rows in the host's order."""
    if isinstance(op, G.Conv):
        o, i, kh, kw = op.weight.shape
        return np.ascontiguousarray(op.weight.transpose(2, 3, 1, 0).reshape(kh * kw * i, o), dtype=np.float64)
    w = np.asarray(op.weight, np.float64)
    return np.ascontiguousarray(w if flat_shape is None else w[_nhwc_rows(flat_shape)])


def _nhwc_rows(chw):
    """For a (C, H, W) map flattened NHWC: the ONNX (c, h, w) index of each NHWC position (h, w, c)."""
    c, h, w = chw
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()
