"""ResNet-50 as an ONNX file (model/zoo/resnet50.py, `neurophase zoo resnet50`): structure, sizes against the
layer list (25,502,912 weights, 4.089 G MACs), BN statistics against an independent forward pass (onnx's numpy
reference evaluator) on the calibration images, determinism. The BN statistics and the command's determinism are
slow (make test-slow): minutes under load."""

from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

from neurophase.cli import main
from neurophase.model.resnet50 import resnet50_layers
from neurophase.model.layers import MatrixLayer, ResidualAdd
from neurophase.model.lowering import lower
from neurophase.model.network_file import load_inputs
from neurophase.model.onnx_import import import_onnx
from neurophase.model.zoo.calibration import photo_calibration_inputs
from neurophase.model.zoo.resnet50 import BN_EPSILON, build_resnet50


@pytest.fixture(scope="module")
def images():
    return photo_calibration_inputs()


@pytest.fixture(scope="module")
def model(images):
    return build_resnet50(images, seed=0)


def _initializers(model):
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_resnet50_passes_the_onnx_checker_with_shape_inference(model):
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17


def test_resnet50_has_the_node_types_of_torchvisions_export(model):
    assert Counter(n.op_type for n in model.graph.node) == {
        "Conv": 53, "BatchNormalization": 53, "Relu": 49, "Add": 16, "MaxPool": 1, "GlobalAveragePool": 1,
        "Flatten": 1, "Gemm": 1}
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    assert dims(inp) == ["N", 3, 224, 224] and dims(out) == ["N", 1000]
    gemm = model.graph.node[-1]
    assert gemm.op_type == "Gemm" and onnx.helper.get_attribute_value(gemm.attribute[-1]) == 1   # transB
    conv_inputs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert all(len(n.input) == 2 for n in conv_inputs)                                          # no conv bias


def _conv_attr(node, name):
    return next(onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name)


def test_every_conv_is_a_layer_of_the_layer_list_with_its_shape_stride_and_output_size(model):
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim][1:] for v in inferred.graph.value_info}
    inits = _initializers(model)
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    layers = resnet50_layers()
    assert [n.name for n in convs] == [l.name for l in layers]
    for node, layer in zip(convs, layers):
        w = inits[node.input[1]]
        if node.op_type == "Gemm":
            assert w.shape == (layer.c_out, layer.c_in)
            continue
        assert w.shape == (layer.c_out, layer.c_in, layer.k, layer.k)
        assert shapes[node.output[0]] == [layer.c_out, layer.out_hw, layer.out_hw]
        # torchvision's v1.5 layout: a downsampling block strides on its 3x3 conv and its projection
        first_of_stage = ".0." in node.name and not node.name.startswith("layer1")
        strided = node.name == "conv1" or (first_of_stage and node.name.endswith(("conv2", "downsample")))
        assert _conv_attr(node, "strides") == ([2, 2] if strided else [1, 1]), node.name
        assert _conv_attr(node, "pads") == [layer.k // 2] * 4


def test_weights_and_macs_are_resnet50s_published_counts(model):
    inferred = shape_inference.infer_shapes(model)
    out_hw = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in inferred.graph.value_info}
    inits = _initializers(model)
    weights = macs = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm"):
            w = inits[node.input[1]]
            weights += w.size
            # a conv's weight tensor is used once per output pixel; the classifier's once per image
            macs += w.size * (int(np.prod(out_hw[node.output[0]][2:])) if node.op_type == "Conv" else 1)
    assert weights == 25_502_912 == sum(l.weights for l in resnet50_layers())
    assert macs == sum(l.macs for l in resnet50_layers())
    assert round(macs / 1e9, 3) == 4.089


def test_the_twins_importer_lowers_it_to_the_layer_lists_matrices_and_16_residual_adds(model):
    steps = lower(import_onnx(model, name="resnet50")).steps
    matrices = [s for s in steps if isinstance(s, MatrixLayer)]
    assert [(m.name, m.fan_in, m.c_out) for m in matrices] == [(l.name, l.fan_in, l.fan_out)
                                                              for l in resnet50_layers()]
    assert sum(isinstance(s, ResidualAdd) for s in steps) == 16


@pytest.mark.slow          # onnx's reference evaluator through ResNet-50: the longest test of the file
def test_every_bn_normalises_its_real_input_on_the_calibration_images(model, images):
    """An independent forward pass (onnx.reference, numpy) of the calibration images through the written graph:
    each BN's input, per channel over all images and positions, has the BN's running mean and variance, so the BN
    gives mean 0 and variance ~1 (var / (var + eps))."""
    bns = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    inits = _initializers(model)
    evaluator = ReferenceEvaluator(model)
    sums = {n.name: 0.0 for n in bns}
    squares = {n.name: 0.0 for n in bns}
    for chunk in np.array_split(images, 4):                # BN in eval mode: images are independent
        values = evaluator.run([n.input[0] for n in bns], {"input": chunk})
        for n, v in zip(bns, values):
            sums[n.name] = sums[n.name] + v.sum(axis=(0, 2, 3), dtype=np.float64)
            squares[n.name] = squares[n.name] + np.square(v, dtype=np.float64).sum(axis=(0, 2, 3))
    # samples per channel: images x positions of the BN's input (shape inference)
    inferred = shape_inference.infer_shapes(model)
    positions = {v.name: int(np.prod([d.dim_value for d in v.type.tensor_type.shape.dim][2:]))
                 for v in inferred.graph.value_info}
    worst_mean = worst_var = 0.0
    for n in bns:
        count = len(images) * positions[n.input[0]]
        mean = sums[n.name] / count
        var = squares[n.name] / count - mean ** 2
        run_mean, run_var = inits[n.input[3]].astype(np.float64), inits[n.input[4]].astype(np.float64)
        sd = np.sqrt(run_var + BN_EPSILON)
        worst_mean = max(worst_mean, np.abs((mean - run_mean) / sd).max())         # mean of the BN output
        worst_var = max(worst_var, np.abs((var + BN_EPSILON) / (run_var + BN_EPSILON) - 1).max())  # its variance
        np.testing.assert_array_equal(inits[n.input[1]], 1)                        # gamma
        np.testing.assert_array_equal(inits[n.input[2]], 0)                        # beta
        assert run_var.min() > 0 and np.abs(run_mean).max() > 0, n.name           # not PyTorch's defaults (0, 1)
    assert worst_mean < 1e-3 and worst_var < 1e-3, (worst_mean, worst_var)


def test_another_seed_gives_other_weights(model, images):
    other = _initializers(build_resnet50(images[:2], seed=1))
    mine = _initializers(model)
    assert other.keys() == mine.keys()
    assert not np.array_equal(other["layer3.2.conv2.weight"], mine["layer3.2.conv2.weight"])


@pytest.mark.parametrize("shape, message", [
    ((1, 3, 224, 224), "images must have shape (N >= 2, 3, 224, 224), got (1, 3, 224, 224)"),
    ((2, 224, 224, 3), "images must have shape (N >= 2, 3, 224, 224), got (2, 224, 224, 3)"),
])
def test_build_rejects_images_of_the_wrong_shape(shape, message):
    with pytest.raises(ValueError) as e:
        build_resnet50(np.zeros(shape, np.float32))
    assert str(e.value) == message


@pytest.mark.slow          # a second 100 MB build
def test_zoo_command_writes_the_onnx_file_and_its_calibration_images_on_demand(tmp_path, model, images, capsys):
    """Built anew by the command with the default seed 0: the same bytes as the fixture's build (determinism)."""
    out = tmp_path / "nets" / "resnet50.onnx"
    assert main(["zoo", "resnet50", "--out", str(out)]) == 0
    assert out.read_bytes() == model.SerializeToString()
    np.testing.assert_array_equal(load_inputs(tmp_path / "nets" / "resnet50_calib.npz"), images)
    assert f"wrote {out}" in capsys.readouterr().out


def test_bottleneck_block_is_resnet50s_first_block_on_a_patch_of_its_real_input(model, images):
    from neurophase.model.zoo.resnet50 import build_bottleneck
    block, x = build_bottleneck(images, seed=0, positions=4)
    onnx.checker.check_model(block)
    whole = _initializers(model)
    mine = _initializers(block)
    assert sorted(mine) == sorted(k for k in whole if k.startswith("layer1.0."))
    assert all(np.array_equal(v, whole[k]) for k, v in mine.items())
    assert [n.name for n in block.graph.node] == [n.name for n in model.graph.node if n.name.startswith("layer1.0")]
    assert x.shape == (len(images), 64, 4, 4) and x.min() >= 0
