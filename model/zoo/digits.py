"""The shipped digits CNN as an ONNX file, written with ``onnx.helper`` from its own weights.

Ref: docs/architecture.md D9; model/network.py (the network, ``digits_graph``). :func:`digits_onnx` writes the
graph of :func:`~neurophase.model.network.digits_graph` node for node (Conv without bias, BatchNormalization, Relu,
MaxPool 2x2/2, GlobalAveragePool, Flatten, Gemm with transB = 1 as PyTorch writes a Linear layer) and the activation
scales of its quantisation-aware training as metadata (model/onnx_import.py ``SCALES_KEY``), so importing it gives
the digits CNN's integer logits bit for bit. Tensors are double precision, the precision the weights were trained and
stored in: rounded to float32 they would move the BN registers by one LSB here and there (measured: every layer's
bias registers differ), which is a different network. The one value ONNX holds in float32 is BatchNormalization's
epsilon (1e-5 becomes 9.99999974738e-06): a relative change of about 1e-14 in the folded BN scale, below what the
registers resolve (the round-trip test checks the logits).

:func:`write_digits_files` writes the ONNX file with its calibration inputs (the first 200 training images: the ADC
ranges use 200, the drift reference 100) and its test set, the files model/data ships for `neurophase import`.
"""

import json
from pathlib import Path

import numpy as np

from neurophase.model import graph as G
from neurophase.model.onnx_import import SCALES_KEY

__all__ = ["graph_to_onnx", "digits_onnx", "write_digits_files", "ONNX_PATH", "CALIB_PATH", "TEST_PATH",
           "N_CALIBRATION_FILE"]

DATA = Path(__file__).resolve().parent.parent / "data"
ONNX_PATH = DATA / "digits_cnn.onnx"
CALIB_PATH = DATA / "digits_calib.npz"
TEST_PATH = DATA / "digits_test.npz"
N_CALIBRATION_FILE = 200
OPSET = 17


def graph_to_onnx(graph):
    """An ``onnx.ModelProto`` of ``graph`` (model/graph.py) in double precision, its given scales as metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    inits, nodes = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, np.float64), name))
        return name

    for n in graph.nodes:
        op, x = n.op, n.inputs[0]
        if isinstance(op, G.Conv):
            ins = [x, const(f"{n.name}.weight", op.weight)] + ([const(f"{n.name}.bias", op.bias)]
                                                                 if op.bias is not None else [])
            nodes.append(helper.make_node("Conv", ins, [n.output], n.name, kernel_shape=list(op.weight.shape[2:]),
                                          strides=list(op.stride), pads=list(op.pads)))
        elif isinstance(op, G.Dense):
            ins = [x, const(f"{n.name}.weight", op.weight.T)] + ([const(f"{n.name}.bias", op.bias)]
                                                                   if op.bias is not None else [])
            nodes.append(helper.make_node("Gemm", ins, [n.output], n.name, transB=1))
        elif isinstance(op, G.BatchNorm):
            ins = [x] + [const(f"{n.name}.{k}", getattr(op, k)) for k in ("scale", "bias", "mean", "var")]
            nodes.append(helper.make_node("BatchNormalization", ins, [n.output], n.name, epsilon=op.epsilon))
        elif isinstance(op, (G.MaxPool, G.AveragePool)):
            w = op.window
            extra = {"count_include_pad": int(op.count_include_pad)} if isinstance(op, G.AveragePool) else {}
            nodes.append(helper.make_node(type(op).__name__, [x], [n.output], n.name, kernel_shape=list(w.kernel),
                                          strides=list(w.stride), pads=list(w.pads), **extra))
        elif isinstance(op, G.Flatten):
            nodes.append(helper.make_node("Flatten", [x], [n.output], n.name, axis=1))
        else:                                   # Relu, Add, GlobalAveragePool: no attributes
            nodes.append(helper.make_node(type(op).__name__, list(n.inputs), [n.output], n.name))
    shapes = graph.shapes()
    model = helper.make_model(
        helper.make_graph(nodes, graph.name,
                          [helper.make_tensor_value_info(graph.input, TensorProto.DOUBLE, ["N", *graph.input_shape])],
                          [helper.make_tensor_value_info(graph.output, TensorProto.DOUBLE,
                                                         ["N", *shapes[graph.output]])], inits),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="neurophase")
    scales = {t: [s.scale, s.zero_point] for t, s in graph.scales.items()}
    if scales:
        helper.set_model_props(model, {SCALES_KEY: json.dumps(scales)})
    onnx.checker.check_model(model)
    return model


def digits_onnx(params=None):
    """The digits CNN (default: the shipped weights) as an ``onnx.ModelProto``."""
    from neurophase.model.network import digits_graph, load_weights
    return graph_to_onnx(digits_graph(load_weights()[0] if params is None else params))


def write_digits_files(onnx_path=ONNX_PATH, calib_path=CALIB_PATH, test_path=TEST_PATH):
    """Write the shipped digits CNN's ONNX file, calibration inputs and test set; returns the three paths."""
    import onnx
    from neurophase.model.network import digits_inputs, load_split
    x_tr, _, x_te, y_te = load_split()
    for p in (onnx_path, calib_path, test_path):
        Path(p).parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(digits_onnx(), str(onnx_path))
    np.savez_compressed(calib_path, x=digits_inputs(x_tr[:N_CALIBRATION_FILE]))
    np.savez_compressed(test_path, x=digits_inputs(x_te), y=y_te)
    return Path(onnx_path), Path(calib_path), Path(test_path)
