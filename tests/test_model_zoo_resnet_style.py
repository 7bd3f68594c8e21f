"""The shipped ResNet-style digits network (model/data/resnet_style.onnx, trained in PyTorch by
training/train_resnet_style.py): it loads with onnx, has the properties it was made for, and its FP32 accuracy on the
360 held-out images, computed in numpy from the ONNX file, is what training reported."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from neurophase.model.network import digits_inputs, load_split
from neurophase.model.network_file import import_network, load_inputs

DATA = Path(__file__).resolve().parent.parent / "model" / "data"
ONNX_PATH = DATA / "resnet_style.onnx"


@pytest.fixture(scope="module")
def model():
    return onnx.load(ONNX_PATH)


@pytest.fixture(scope="module")
def report():
    return json.loads((DATA / "resnet_style.json").read_text())


def _convs(model):
    """(node, weight array) of every Conv."""
    inits = {t.name: t for t in model.graph.initializer}
    return [(n, numpy_helper.to_array(inits[n.input[1]])) for n in model.graph.node if n.op_type == "Conv"]


def test_shipped_resnet_style_onnx_is_valid_and_as_pytorch_exported_it(model):
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "pytorch" and model.producer_version == "2.13.0"
    assert {n.op_type for n in model.graph.node} == {"Conv", "Relu", "Add", "GlobalAveragePool", "Flatten", "Gemm"}
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 1, 8, 8]


def test_it_has_residual_adds_strided_convs_a_layer_over_128_outputs_and_one_over_512_fan_in(model):
    produced = {o for n in model.graph.node for o in n.output}
    residual = [n for n in model.graph.node if n.op_type == "Add" and all(i in produced for i in n.input)]
    assert len(residual) == 3                                       # one per basic block
    strides = [onnx.helper.get_attribute_value(next(a for a in n.attribute if a.name == "strides"))
               for n, _ in _convs(model)]
    assert strides.count([2, 2]) == 4                              # two blocks: 3x3/2 conv and 1x1/2 projection
    assert max(w.shape[0] for _, w in _convs(model)) == 160        # outputs: two column blocks of 128
    assert max(w[0].size for _, w in _convs(model)) == 1440        # fan-in c_in k^2: six row groups of 256
    assert sum(w[0].size > 512 for _, w in _convs(model)) == 3


def test_fp32_accuracy_from_the_onnx_file_is_what_training_reported(model, report):
    """Twice in numpy: onnx's reference evaluator, and the twin's own import path (its float network)."""
    _, _, pixels, y = load_split()
    x = digits_inputs(pixels)
    (logits,) = ReferenceEvaluator(model).run(None, {"input": x})
    imported = import_network(ONNX_PATH, DATA / "resnet_style_calib.npz").network.forward(x)
    assert len(y) == report["test_images"] == 360
    for out in (logits, imported):
        assert int((out.argmax(axis=1) == y).sum()) == report["test_correct"]
    assert report["test_correct"] / len(y) == pytest.approx(report["fp32_test_accuracy"])
    assert report["torch"].startswith("2.13.0")


def test_calibration_inputs_are_the_first_200_training_digits_as_the_network_takes_them():
    x = load_inputs(DATA / "resnet_style_calib.npz")
    assert x.shape == (200, 1, 8, 8)
    np.testing.assert_array_equal(x, digits_inputs(load_split()[0][:200]))
