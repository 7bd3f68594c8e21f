"""ResNet-50's convolution and fully connected layers, as matrix-vector workloads for the energy model.

Ref: docs/architecture.md §7. Layout of torchvision's ``resnet50`` (the MLPerf "v1.5" layout: the stride-2 of a
downsampling bottleneck sits on its 3x3 convolution), input 224x224x3: a 7x7/2 stem convolution (112x112 out), a
3x3/2 max pool (56x56), four stages of [3, 4, 6, 3] bottlenecks (1x1 reduce, 3x3, 1x1 expand x4, with a 1x1
projection shortcut on each stage's first block), global average pool and a 2048 -> 1000 classifier.

Each layer becomes ``fan_in = k*k*c_in`` rows (im2col), ``fan_out = c_out`` columns and one MVM per output pixel.
Counted are weights and multiply-accumulates of the convolutions and the classifier (no biases, batch norm, pooling
or residual additions), which is what docs/references.md [ResNet-50]'s 25,502,912 weights and 4.089 G MACs count.
"""

from dataclasses import dataclass

from neurophase.model.workload import MatrixWork

__all__ = ["ConvLayer", "resnet50_layers", "resnet50_wide_layers", "INPUT_HW", "STAGES"]

INPUT_HW = 224
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))   # (bottleneck width, blocks, stride of first block)
EXPANSION = 4


@dataclass(frozen=True)
class ConvLayer(MatrixWork):
    """One convolution (a classifier is a 1x1 convolution on a 1x1 map): kernel k, channels, output size; its
    ``weights`` and ``macs`` come from :class:`~neurophase.model.workload.MatrixWork`."""
    name: str
    k: int
    c_in: int
    c_out: int
    out_hw: int

    @property
    def fan_in(self):
        return self.k * self.k * self.c_in

    @property
    def fan_out(self):
        return self.c_out

    @property
    def mvms(self):
        """Matrix-vector multiplications per image: one per output pixel."""
        return self.out_hw * self.out_hw


def _out(hw, stride):
    # Every ResNet-50 convolution pads k // 2, so the output size is ceil(hw / stride).
    return -(-hw // stride)


def resnet50_layers(input_hw=INPUT_HW, num_classes=1000):
    """The 54 weight layers (53 convolutions and the classifier) of ResNet-50, in execution order."""
    hw = _out(input_hw, 2)
    layers = [ConvLayer("conv1", 7, 3, 64, hw)]
    hw = _out(hw, 2)                                              # 3x3/2 max pool
    c_in = 64
    for s, (width, blocks, stride) in enumerate(STAGES, start=2):
        for b in range(blocks):
            st = stride if b == 0 else 1
            out_hw = _out(hw, st)
            p = f"layer{s - 1}.{b}"
            layers += [ConvLayer(f"{p}.conv1", 1, c_in, width, hw),
                       ConvLayer(f"{p}.conv2", 3, width, width, out_hw),
                       ConvLayer(f"{p}.conv3", 1, width, width * EXPANSION, out_hw)]
            if b == 0:
                layers.append(ConvLayer(f"{p}.downsample", 1, c_in, width * EXPANSION, out_hw))
            c_in, hw = width * EXPANSION, out_hw
    layers.append(ConvLayer("fc", 1, c_in, num_classes, 1))
    return layers


def resnet50_wide_layers(layers=None):
    """The layers whose outputs the chip makes as signed 16-bit codes (the BN unit's last mode): every block's conv3
    and downsample, which only a residual Add reads, and the classifier (model/quantise.py ``wide_layers`` says the
    same of the imported network)."""
    layers = resnet50_layers() if layers is None else layers
    return {l.name for l in layers if l.name.endswith((".conv3", ".downsample"))} | {layers[-1].name}
