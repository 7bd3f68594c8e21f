"""ResNet-50 as an ONNX file: torchvision's layout, He-initialised weights from a seed, BN statistics from images.

Ref: docs/architecture.md §7 (the paper's workload). The layers are those of :mod:`neurophase.model.resnet50`
(the layer list behind the energy model): input N x 3 x 224 x 224; conv1 7x7/2 (pad 3), BN, ReLU; max pool 3x3/2
(pad 1); stages of [3, 4, 6, 3] bottlenecks (1x1 reduce, 3x3 with the stage's stride, 1x1 expand x4, each followed
by BN; a 1x1 projection shortcut with its BN on each stage's first block; the residual Add, then ReLU); global
average pool, Flatten, Gemm 2048 -> 1000 (transB = 1). Convolutions carry no bias. Initialisers are named as
torchvision names its parameters (``layer2.0.conv2.weight``, ``layer2.0.bn2.running_mean``,
``layer2.0.downsample.0.weight``), and the Conv and Gemm nodes as the layers of
:func:`~neurophase.model.resnet50.resnet50_layers` (``layer2.0.conv2``, ``layer2.0.downsample``, ``fc``).

Weights (one ``numpy.random.default_rng(seed)``, drawn in layer order), as torchvision initialises them: every
convolution He-normal, N(0, 2 / fan_out) with fan_out = c_out k^2 (``kaiming_normal_(mode="fan_out",
nonlinearity="relu")``); the classifier weight and bias uniform in +-1/sqrt(2048) (PyTorch's default for Linear).
Every BN has gamma = 1 and beta = 0 (torchvision's ``zero_init_residual=False``).

BN running statistics come from calibration images (by default
:func:`~neurophase.model.zoo.calibration.photo_calibration_inputs`: 12 crops of scikit-learn's two photographs, values
in [0, 1], no mean/std normalisation, since the graph holds none): the images run through the graph as it is written,
layer by layer, in float32 (channels last inside). When a convolution's output is known,
its BN's ``running_mean`` and ``running_var`` are set to that output's mean and (population) variance per channel
over all images and positions, and the images continue through this BN (which therefore gives mean 0 and variance
var / (var + eps) ~ 1 per channel on these images) and on to the next layer. So every BN normalises the input it
really receives, the shortcut and residual sums included. Calibration statistics are no ImageNet training: the
network's predictions mean nothing; its structure, sizes and activation statistics are real.

The same seed gives the same bytes on the same machine (the statistics pass through BLAS, whose rounding can differ
between machines in the last bits).
"""

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from neurophase.model.checks import check_int
from neurophase.model.graph import Window
from neurophase.model.host_ops import im2col, window_max
from neurophase.model.resnet50 import EXPANSION, INPUT_HW, STAGES

__all__ = ["BN_EPSILON", "OPSET", "INPUT_NAME", "OUTPUT_NAME", "build_resnet50", "build_bottleneck"]

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9           # ONNX's momentum (= 1 - PyTorch's 0.1); used only in training mode, written as torch does
OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
NUM_CLASSES = 1000


@dataclass(frozen=True)
class Activation:
    """A tensor of the graph being written: its ONNX name and its value on the calibration images (N, H, W, C)."""
    name: str
    value: np.ndarray


class _GraphWriter:
    """Writes nodes and initialisers while the calibration images run through the graph (module docstring)."""

    def __init__(self, rng):
        self.rng = rng
        self.nodes = []
        self.initializers = []

    def _init(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def conv(self, x, name, c_out, k, stride, weight):
        """Conv (no bias, pad k // 2) with He-normal weights (fan-out mode) named ``weight``."""
        c_in = x.value.shape[3]
        w = self.rng.standard_normal((c_out, c_in, k, k), dtype=np.float32) * np.float32(np.sqrt(2.0 / (c_out * k * k)))
        self.nodes.append(helper.make_node("Conv", [x.name, self._init(weight, w)], [f"{name}.out"], name=name,
                                           kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4,
                                           dilations=[1, 1], group=1))
        cols = im2col(x.value, Window((k, k), (stride, stride), (k // 2,) * 4))
        z = cols.reshape(-1, cols.shape[3]) @ w.transpose(2, 3, 1, 0).reshape(-1, c_out)
        return Activation(f"{name}.out", z.reshape(cols.shape[:3] + (c_out,)))

    def batch_norm(self, x, name):
        """BatchNormalization (gamma 1, beta 0) whose running statistics are those of ``x`` on the images."""
        z = x.value
        mean = z.mean(axis=(0, 1, 2), dtype=np.float64)
        var = np.square(z - mean.astype(np.float32)).mean(axis=(0, 1, 2), dtype=np.float64)
        c = z.shape[3]
        params = [self._init(f"{name}.{p}", v) for p, v in (("weight", np.ones(c)), ("bias", np.zeros(c)),
                                                            ("running_mean", mean), ("running_var", var))]
        self.nodes.append(helper.make_node("BatchNormalization", [x.name] + params, [f"{name}.out"], name=name,
                                           epsilon=BN_EPSILON, momentum=BN_MOMENTUM))
        return Activation(f"{name}.out", ((z - mean) / np.sqrt(var + BN_EPSILON)).astype(np.float32))

    def conv_bn(self, x, conv, bn, c_out, k, stride=1, relu=True, weight=None):
        """Conv ``conv`` (weight ``weight``, default ``conv.weight``), BatchNormalization ``bn`` [, Relu]."""
        y = self.batch_norm(self.conv(x, conv, c_out, k, stride, weight or f"{conv}.weight"), bn)
        return self.relu(y, f"{bn}.relu") if relu else y

    def relu(self, x, name):
        self.nodes.append(helper.make_node("Relu", [x.name], [f"{name}.out"], name=name))
        return Activation(f"{name}.out", np.maximum(x.value, 0))

    def add_relu(self, a, b, name):
        """The residual sum, then ReLU."""
        self.nodes.append(helper.make_node("Add", [a.name, b.name], [f"{name}.add.out"], name=f"{name}.add"))
        return self.relu(Activation(f"{name}.add.out", a.value + b.value), f"{name}.relu")

    def max_pool(self, x, name, k=3, stride=2):
        pad = k // 2
        self.nodes.append(helper.make_node("MaxPool", [x.name], [f"{name}.out"], name=name, kernel_shape=[k, k],
                                           strides=[stride, stride], pads=[pad] * 4))
        window = Window((k, k), (stride, stride), (pad,) * 4)
        return Activation(f"{name}.out", window_max(x.value, window, -np.inf))

    def head(self, x, num_classes):
        """GlobalAveragePool -> Flatten -> Gemm (transB = 1), as torchvision's avgpool, flatten and fc export."""
        c = x.value.shape[3]
        bound = 1.0 / np.sqrt(c)
        w = self.rng.uniform(-bound, bound, (num_classes, c)).astype(np.float32)
        b = self.rng.uniform(-bound, bound, num_classes).astype(np.float32)
        self.nodes += [helper.make_node("GlobalAveragePool", [x.name], ["avgpool.out"], name="avgpool"),
                       helper.make_node("Flatten", ["avgpool.out"], ["flatten.out"], name="flatten", axis=1),
                       helper.make_node("Gemm", ["flatten.out", self._init("fc.weight", w), self._init("fc.bias", b)],
                                        [OUTPUT_NAME], name="fc", alpha=1.0, beta=1.0, transB=1)]


def _bottleneck(g, x, prefix, width, stride, project):
    y = g.conv_bn(x, f"{prefix}.conv1", f"{prefix}.bn1", width, 1)
    y = g.conv_bn(y, f"{prefix}.conv2", f"{prefix}.bn2", width, 3, stride)
    y = g.conv_bn(y, f"{prefix}.conv3", f"{prefix}.bn3", width * EXPANSION, 1, relu=False)
    if project:
        x = g.conv_bn(x, f"{prefix}.downsample", f"{prefix}.downsample.1", width * EXPANSION, 1, stride, relu=False,
                      weight=f"{prefix}.downsample.0.weight")
    return g.add_relu(y, x, prefix)


def _stem(images, seed):
    """The writer and the max pool's output after conv1, bn1 and the max pool on ``images`` (checked)."""
    seed = check_int("seed", seed, 0)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1:] != (3, INPUT_HW, INPUT_HW) or images.shape[0] < 2:
        raise ValueError(f"images must have shape (N >= 2, 3, {INPUT_HW}, {INPUT_HW}), got {images.shape}")
    g = _GraphWriter(np.random.default_rng(seed))
    x = g.conv_bn(Activation(INPUT_NAME, images.transpose(0, 2, 3, 1)), "conv1", "bn1", 64, 7, 2)
    return g, g.max_pool(x, "maxpool")


def _model(g, name, inputs, outputs, doc):
    model = helper.make_model(helper.make_graph(g.nodes, name, inputs, outputs, g.initializers),
                              producer_name="neurophase", opset_imports=[helper.make_opsetid("", OPSET)],
                              doc_string=doc)
    model.ir_version = 8                       # opset 17's IR version, readable by older onnx releases too
    return model


def build_bottleneck(images, seed=0, positions=4):
    """ResNet-50's first bottleneck block, ``layer1.0`` (1x1 64 -> 64, 3x3 64 -> 64, 1x1 64 -> 256, the 1x1
    projection shortcut 64 -> 256, each with its BN; the residual Add and ReLU), with the very weights and BN
    statistics :func:`build_resnet50` gives it for ``images`` and ``seed``, as an ``onnx.ModelProto`` on a
    ``positions`` x ``positions`` patch of its input (the top-left corner of the max pool's 56 x 56 maps, zero padded
    at the patch's border as at the map's). Returns (model, inputs): the patch of every image, N x 64 x positions x
    positions (the max pool's real outputs). Its output, the block's 256-channel sum, is a host step's (D7)."""
    positions = check_int("positions", positions, 1, INPUT_HW // 4)
    g, x = _stem(images, seed)
    g.nodes, g.initializers = [], []              # keep the block's nodes only; the generator has drawn the stem's
    y = _bottleneck(g, x, "layer1.0", STAGES[0][0], 1, project=True)
    c = x.value.shape[3]
    inputs = np.ascontiguousarray(x.value[:, :positions, :positions].transpose(0, 3, 1, 2))
    shape = lambda channels: ["N", channels, positions, positions]
    model = _model(g, "resnet50_layer1.0", [helper.make_tensor_value_info(x.name, TensorProto.FLOAT, shape(c))],
                   [helper.make_tensor_value_info(y.name, TensorProto.FLOAT, shape(y.value.shape[3]))],
                   f"ResNet-50's layer1.0 bottleneck block (seed {seed}, BN statistics from {len(images)} images) on "
                   f"a {positions} x {positions} patch; untrained")
    return model, inputs


def build_resnet50(images, seed=0):
    """ResNet-50 as an ``onnx.ModelProto`` (module docstring) with BN statistics from ``images``.

    ``images``: N x 3 x 224 x 224 floats (the network's input layout, as the calibration file holds them), N >= 2.
    """
    g, x = _stem(images, seed)
    for stage, (width, blocks, stride) in enumerate(STAGES, start=1):
        for b in range(blocks):
            x = _bottleneck(g, x, f"layer{stage}.{b}", width, stride if b == 0 else 1, project=b == 0)
    g.head(x, NUM_CLASSES)
    return _model(g, "resnet50",
                  [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, INPUT_HW, INPUT_HW])],
                  [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", NUM_CLASSES])],
                  f"ResNet-50 (torchvision layout), He-initialised with seed {seed}, BN statistics from "
                  f"{len(images)} calibration images; untrained")
