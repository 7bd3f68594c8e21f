"""ONNX import (model/onnx_import.py) and lowering (model/lowering.py): files written with onnx.helper as users write
them, the float network against the operators' own definitions, and one exact error for each unsupported case."""

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx_builders import OnnxBuilder, reference_forward, residual_net

from neurophase.cli import main
from neurophase.model import graph as G
from neurophase.model.layers import Flatten, GlobalPool, MatrixLayer, Pool, PoolKind, ResidualAdd
from neurophase.model.lowering import lower
from neurophase.model.onnx_import import SCALES_KEY, SUPPORTED_OPS, OnnxImportError, import_onnx


def _inputs(shape, n=3, seed=1):
    return np.random.default_rng(seed).normal(size=(n, *shape))


def test_a_residual_network_imports_and_its_float_network_equals_the_onnx_operators():
    model = residual_net()
    net = lower(import_onnx(model))
    kinds = [(type(s).__name__, s.name) for s in net.steps]
    assert kinds == [("MatrixLayer", "stem"), ("MatrixLayer", "block.conv"), ("MatrixLayer", "block.shortcut"),
                     ("ResidualAdd", "block.add"), ("MatrixLayer", "head"), ("Pool", "pool"), ("GlobalPool", "gap"),
                     ("Flatten", "view"), ("MatrixLayer", "fc")]
    stem, conv, short, add, head = net.steps[:5]
    assert stem.relu and not conv.relu and not short.relu and add.relu and head.relu    # BN and ReLU folded
    assert (conv.fan_in, conv.c_out, conv.window.stride) == (360, 160, (2, 2))
    x = _inputs((4, 8, 8))
    np.testing.assert_allclose(net.forward(x), reference_forward(model, x), rtol=1e-12, atol=1e-12)


def test_convolution_weights_become_im2col_rows_ky_kx_c():
    b = OnnxBuilder((2, 5, 5))
    model = b.model(b.conv("input", 2, 3, (3, 2), pad=(1, 0, 1, 1)), (3, 5, 5))
    graph = import_onnx(model)
    layer = lower(graph).steps[0]
    w = graph.nodes[0].op.weight                               # (O, I, kH, kW)
    assert layer.weight.shape == (3 * 2 * 2, 3)
    assert layer.weight[(1 * 2 + 0) * 2 + 1, 2] == w[2, 1, 1, 0]   # row (ky=1, kx=0, c=1), output 2
    x = _inputs((2, 5, 5))
    np.testing.assert_allclose(lower(graph).forward(x), reference_forward(model, x), rtol=1e-12, atol=1e-12)


def test_a_dense_layer_after_flattening_a_map_reads_the_hosts_nhwc_order():
    b = OnnxBuilder((3, 4, 4), batch=2)
    y = b.node("Flatten", [b.node("Relu", [b.conv("input", 3, 5, 3, pad=1)])], axis=1)
    model = b.model(b.gemm(y, 80, 7, trans_b=0), (7,))
    x = _inputs((3, 4, 4), n=2)
    np.testing.assert_allclose(lower(import_onnx(model)).forward(x), reference_forward(model, x), rtol=1e-12,
                               atol=1e-12)


def test_an_output_flattened_from_a_map_comes_back_in_onnx_order():
    b = OnnxBuilder((3, 4, 4))
    model = b.model(b.node("Flatten", [b.conv("input", 3, 2, 1)], axis=1), (32,))
    x = _inputs((3, 4, 4))
    np.testing.assert_allclose(lower(import_onnx(model)).forward(x), reference_forward(model, x), rtol=1e-12)


def test_pooling_same_padding_matmul_bias_identity_and_constant_reshape():
    b = OnnxBuilder((3, 8, 8), batch=4)
    y = b.conv("input", 3, 6, 3, stride=2, auto_pad="SAME_UPPER")          # 8 -> 4: the one extra pad at the end
    del b.nodes[-1].attribute[[a.name for a in b.nodes[-1].attribute].index("pads")]
    y = b.node("Identity", [b.node("Relu", [y])])
    y = b.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    y = b.node("AveragePool", [y], kernel_shape=[2, 2], strides=[1, 1], pads=[1, 1, 0, 0], count_include_pad=0)
    y = b.node("Reshape", [y, b.const([4, -1], dtype=np.int64)])
    y = b.node("MatMul", [y, b.const(np.random.default_rng(3).normal(size=(24, 5)))])
    model = b.model(b.node("Add", [b.const(np.arange(5.0)), y]), (5,))
    net = lower(import_onnx(model))
    assert [type(s).__name__ for s in net.steps] == ["MatrixLayer", "Pool", "Pool", "Flatten", "MatrixLayer"]
    assert net.steps[0].window.pads == (0, 0, 1, 1) and net.steps[1].kind is PoolKind.MAX
    np.testing.assert_array_equal(net.steps[-1].offset, np.arange(5.0))      # the Add became the MatMul's bias
    x = _inputs((3, 8, 8), n=4)
    np.testing.assert_allclose(net.forward(x), reference_forward(model, x), rtol=1e-12, atol=1e-12)


def test_a_conv_bias_add_and_an_unfused_relu_and_batchnorm_after_gemm():
    b = OnnxBuilder((2, 4, 4))
    y = b.conv("input", 2, 3, 1, bias=False)
    y = b.node("Add", [y, b.const(np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1))])
    y = b.node("Relu", [b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])])      # a ReLU on the host
    y = b.node("Flatten", [b.node("GlobalAveragePool", [y])], axis=1)
    y = b.bn(b.gemm(y, 3, 4), 4)
    model = b.model(y, (4,))
    net = lower(import_onnx(model))
    assert [type(s).__name__ for s in net.steps] == ["MatrixLayer", "Pool", "HostRelu", "GlobalPool", "Flatten",
                                                     "MatrixLayer"]
    x = _inputs((2, 4, 4))
    np.testing.assert_allclose(net.forward(x), reference_forward(model, x), rtol=1e-12, atol=1e-12)


def test_activation_scales_in_the_metadata_are_kept_for_their_tensors():
    b = OnnxBuilder((1, 4, 4))
    y = b.node("Relu", [b.conv("input", 1, 2, 3, pad=1)], "act")
    model = b.model(y, (2, 4, 4), {SCALES_KEY: '{"input": [0.25, 3], "act.out": [0.5, 0], "elsewhere": [1, 0]}'})
    graph = import_onnx(model)
    assert graph.scales == {"input": G.ActivationScale(0.25, 3), "act.out": G.ActivationScale(0.5, 0)}


def test_every_supported_op_has_a_handler():
    assert SUPPORTED_OPS == ("Add", "AveragePool", "BatchNormalization", "Cast", "Concat", "Constant", "Conv",
                             "Flatten", "Gather", "Gemm", "GlobalAveragePool", "Identity", "MatMul", "MaxPool",
                             "Relu", "Reshape", "Shape", "Squeeze", "Unsqueeze")


# -- what is not supported: one exact message each ------------------------------------------------------------------
def _conv_then(op, *extra_inputs, **attrs):
    """A conv then one node ``op``; the model's output is that node's."""
    b = OnnxBuilder((3, 6, 6))
    y = b.node("Relu", [b.conv("input", 3, 4, 3, pad=1, name="c")], "r")
    return b.model(b.node(op, [y, *extra_inputs], "bad", **attrs), (4, 6, 6))


def _conv(**attrs):
    b = OnnxBuilder((4, 6, 6))
    return b.model(b.conv("input", 4, 4, 3, pad=1, name="bad", **attrs), (4, 6, 6))


def _gemm(**kw):
    b = OnnxBuilder((6,))
    return b.model(b.gemm("input", 6, 3, name="bad", **kw), (3,))


def _non_constant_b():
    b = OnnxBuilder((6,))
    return b.model(b.node("Gemm", ["input", "input"], "bad"), (6,))


def _bn_training():
    b = OnnxBuilder((3, 6, 6))
    return b.model(b.bn(b.conv("input", 3, 3, 1), 3, name="bad", training_mode=1), (3, 6, 6))


def _maxpool_indices():
    b = OnnxBuilder((3, 6, 6))
    return b.model(b.node("MaxPool", ["input"], "bad", outputs=2, kernel_shape=[2, 2]), (3, 3, 3))


def _reshape_to_map():
    b = OnnxBuilder((3, 4, 4))
    return b.model(b.node("Reshape", ["input", b.const([0, 12, 2, 2], dtype=np.int64)], "bad"), (12, 2, 2))


def _add_constant_to_a_pool():
    b = OnnxBuilder((3, 4, 4))
    y = b.node("MaxPool", ["input"], "p", kernel_shape=[2, 2], strides=[2, 2])
    return b.model(b.node("Add", [y, b.const(np.ones((1, 3, 1, 1)))], "bad"), (3, 2, 2))


def _conv1d():
    b = OnnxBuilder((3, 8, 8))
    w = b.const(np.ones((2, 3, 3)))
    return b.model(b.node("Conv", ["input", w], "bad", kernel_shape=[3]), (2, 6))


def _graph(inputs=(("input", (3, 6, 6)),), outputs=("bad.out",), nodes=(), inits=()):
    """A graph with the given data inputs (name, per-sample shape), outputs, nodes and initialisers."""
    info = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, ["N", *s]) for n, s in inputs]
    outs = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in outputs]
    return helper.make_model(helper.make_graph(list(nodes), "net", info, outs, list(inits)),
                             opset_imports=[helper.make_opsetid("", 17)])


def _relu(inputs, outputs=("bad.out",), name="bad", **kw):
    return helper.make_node("Relu", list(inputs), list(outputs), name, **kw)


def _const(name, value):
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def _dense_on(op, b, c=None, shape=(6,), **attrs):
    ins = ["input", "B"] + (["C"] if c is not None else [])
    inits = [_const("B", b)] + ([_const("C", c)] if c is not None else [])
    return _graph((("input", shape),), nodes=[helper.make_node(op, ins, ["bad.out"], "bad", **attrs)], inits=inits)


def _bn_with_training_outputs():
    b = OnnxBuilder((3, 6, 6))
    b.bn(b.conv("input", 3, 3, 1), 3, name="bad", outputs=3)
    return b.model("bad.out", (3, 6, 6))


def _metadata(value):
    b = OnnxBuilder((3, 6, 6))
    return b.model(b.node("Relu", ["input"]), (3, 6, 6), metadata={SCALES_KEY: value})


def _two_residual_shapes():
    b = OnnxBuilder((3, 6, 6))
    y = b.conv("input", 3, 4, 3, pad=1, name="c")
    return b.model(b.node("Add", [y, b.conv("input", 3, 4, 3, name="d")], "bad"), (4, 6, 6))


UNSUPPORTED = [
    ("two data inputs", lambda: _graph((("input", (3, 6, 6)), ("other", (3, 6, 6))), nodes=[_relu(["input"])]),
     "graph must have exactly one data input (not an initializer), got ['input', 'other']"),
    ("two outputs", lambda: _graph(outputs=("bad.out", "input"), nodes=[_relu(["input"])]),
     "graph must have exactly one output, got ['bad.out', 'input']"),
    ("a constant where an activation goes", lambda: _graph(nodes=[_relu(["w"])], inits=[_const("w", np.ones(3))]),
     "node 'bad' (Relu): input 'w' must be an activation, got a constant"),
    ("a tensor nothing writes", lambda: _graph(nodes=[_relu(["ghost"])]),
     "node 'bad' (Relu): input 'ghost' is not written by any earlier node"),
    ("a node with two outputs", lambda: _graph(nodes=[_relu(["input"], ("bad.out", "more"))]),
     "node 'bad' (Relu): must have one output, got 2"),
    ("an output not computed from the input", lambda: _graph(outputs=("w",), nodes=[_relu(["input"])],
                                                              inits=[_const("w", np.ones(3))]),
     "graph output 'w' must be an activation computed from the input"),
    ("an op of another domain", lambda: _graph(nodes=[_relu(["input"], domain="com.microsoft")]),
     "node 'bad' (Relu): unsupported op type (supported: " + ", ".join(SUPPORTED_OPS) + ")"),
    ("Conv on vectors", lambda: _dense_on("Conv", np.ones((2, 6, 1, 1))),
     "node 'bad' (Conv): input must be (N, C, H, W) images, got per-sample shape (6,)"),
    ("Conv kernel_shape not the weight's", lambda: _dense_on("Conv", np.ones((2, 3, 3, 3)), shape=(3, 6, 6),
                                                                   kernel_shape=[5, 5]),
     "node 'bad' (Conv): unsupported attribute kernel_shape=[5, 5] (supported: the weight's (3, 3))"),
    ("Conv window larger than its input", lambda: _dense_on("Conv", np.ones((2, 3, 7, 7)), shape=(3, 4, 4)),
     "node 'bad' (Conv): a 7x7 window with pads (0, 0, 0, 0) does not fit a 4x4 input"),
    ("Conv strides of three values", lambda: _dense_on("Conv", np.ones((2, 3, 3, 3)), shape=(3, 6, 6),
                                                             strides=[1, 1, 1]),
     "node 'bad' (Conv): unsupported attribute strides=[1, 1, 1] (supported: 2 values >= 1)"),
    ("Gemm B not a matrix", lambda: _dense_on("Gemm", np.ones((6, 3, 1))),
     "node 'bad' (Gemm): input B must be a matrix, got shape (6, 3, 1)"),
    ("Gemm C not per output", lambda: _dense_on("Gemm", np.ones((6, 3)), c=np.ones(2)),
     "node 'bad' (Gemm): input C must be one value per output channel (3), got shape (2,)"),
    ("MatMul by a vector", lambda: _dense_on("MatMul", np.ones(6)),
     "node 'bad' (MatMul): second operand must be a matrix, got shape (6,)"),
    ("BN with its training outputs", _bn_with_training_outputs,
     "node 'bad' (BatchNormalization): must have one output (inference); training outputs are not supported"),
    ("BN not spatial", lambda: _conv_then("BatchNormalization", *(["s", "b", "m", "v"]), spatial=0),
     "node 'bad' (BatchNormalization): unsupported attribute spatial=0 (supported: 1)"),
    ("residual add of two shapes", _two_residual_shapes,
     "node 'bad' (Add): inputs must have one shape, got (4, 6, 6) and (4, 4, 4)"),
    ("MaxPool without a kernel", lambda: _conv_then("MaxPool"),
     "node 'bad' (MaxPool): unsupported attribute kernel_shape=None (supported: 2 values >= 1)"),
    ("Constant with two values", lambda: _graph(nodes=[helper.make_node("Constant", [], ["k"], "bad", value_int=1,
                                                                        value_float=1.0), _relu(["input"], name="r")]),
     "node 'bad' (Constant): must have exactly one value attribute, got ['value_float', 'value_int']"),
    ("shape arithmetic on an activation", lambda: _conv_then("Gather", "i"),
     "node 'bad' (Gather): data 'r.out' must be a constant (an initializer or a Constant node): the chip holds "
     "weights, not activations"),
    ("activation scales that are not JSON", lambda: _metadata("{nope"),
     f"metadata {SCALES_KEY} must be JSON {{tensor: [scale, zero_point]}}: Expecting property name enclosed in "
     "double quotes: line 1 column 2 (char 1)"),
    ("op type", lambda: _conv_then("Sigmoid"),
     "node 'bad' (Sigmoid): unsupported op type (supported: " + ", ".join(SUPPORTED_OPS) + ")"),
    ("grouped conv", lambda: _conv(group=2),
     "node 'bad' (Conv): unsupported attribute group=2 (supported: 1)"),
    ("dilated conv", lambda: _conv(dilations=[2, 2]),
     "node 'bad' (Conv): unsupported attribute dilations=[2, 2] (supported: all 1)"),
    ("1-D conv weight", _conv1d, "node 'bad' (Conv): weight must be 4-D (a 2-D convolution), got shape (2, 3, 3)"),
    ("Gemm transA", lambda: _gemm(transA=1), "node 'bad' (Gemm): unsupported attribute transA=1 (supported: 0)"),
    ("Gemm on two activations", _non_constant_b,
     "node 'bad' (Gemm): input B 'input' must be a constant (an initializer or a Constant node): the chip holds "
     "weights, not activations"),
    ("BN in training mode", _bn_training,
     "node 'bad' (BatchNormalization): unsupported attribute training_mode=1 (supported: 0)"),
    ("MaxPool ceil mode", lambda: _conv_then("MaxPool", kernel_shape=[2, 2], ceil_mode=1),
     "node 'bad' (MaxPool): unsupported attribute ceil_mode=1 (supported: 0)"),
    ("MaxPool indices", _maxpool_indices,
     "node 'bad' (MaxPool): must have one output; the Indices output is not supported"),
    ("AveragePool count_include_pad", lambda: _conv_then("AveragePool", kernel_shape=[2, 2], count_include_pad=2),
     "node 'bad' (AveragePool): unsupported attribute count_include_pad=2 (supported: 0, 1)"),
    ("Flatten axis", lambda: _conv_then("Flatten", axis=2),
     "node 'bad' (Flatten): unsupported attribute axis=2 (supported: 1)"),
    ("Reshape to a map", _reshape_to_map,
     "node 'bad' (Reshape): unsupported target shape [0, 12, 2, 2]: only to (N, features) vectors, features 48 here"),
    ("an attribute the op does not have", lambda: _conv_then("Relu", alpha=0.1),
     "node 'bad' (Relu): unsupported attribute alpha=0.1 (supported attributes: none)"),
    ("Add of a constant to no layer", _add_constant_to_a_pool,
     "node 'bad' (Add): Add of a constant is supported only as the per-channel bias of the Conv, Gemm or MatMul that "
     "computes its other input"),
]


@pytest.mark.parametrize("build, message", [pytest.param(b, m, id=i) for i, b, m in UNSUPPORTED])
def test_an_unsupported_onnx_file_is_one_error_naming_node_op_and_attribute(build, message):
    with pytest.raises(OnnxImportError) as err:
        import_onnx(build())
    assert str(err.value) == message


def test_a_batchnorm_the_chip_cannot_fold_is_an_error_naming_it():
    b = OnnxBuilder((3, 4, 4))
    model = b.model(b.bn("input", 3, name="bn0"), (3, 4, 4))
    with pytest.raises(ValueError) as err:
        lower(import_onnx(model))
    assert str(err.value) == ("node 'bn0' (BatchNormalization): must follow a Conv, Gemm or MatMul whose output only "
                              "it reads (the chip folds batch norm into that layer's BN registers)")


def test_inputs_the_chip_cannot_take_are_errors(tmp_path):
    b = OnnxBuilder((3, 6, 6))
    model = b.model(b.node("Relu", ["input"]), (3, 6, 6))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    with pytest.raises(OnnxImportError) as err:
        import_onnx(model)
    assert str(err.value) == ("input 'input' must be (N, C, H, W) images or (N, F) vectors with every dimension but "
                              "N fixed, got ['?', 3, '?', 6]")
    with pytest.raises(OnnxImportError, match="ONNX file .*nope.onnx does not exist"):
        import_onnx(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x01\x02 not a protobuf")
    with pytest.raises(OnnxImportError, match="junk.onnx is not an ONNX model"):
        import_onnx(tmp_path / "junk.onnx")


def test_nothing_is_half_imported(tmp_path, capsys):
    """A file whose last node is unsupported: the command fails with the node's message and writes nothing."""
    path = tmp_path / "bad.onnx"
    onnx.save_model(_conv_then("Sigmoid"), str(path))
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=_inputs((3, 6, 6), n=4))
    out = tmp_path / "net.npz"
    assert main(["import", str(path), "--calib", str(calib), "--out", str(out),
                 "--report", str(tmp_path / "r.json")]) == 2
    assert "node 'bad' (Sigmoid): unsupported op type" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "r.json").exists()
