"""Benchmark networks of the NeuroSim cross-check as matrix-vector workloads: VGG-8 (CIFAR-10) and ResNet-18 (ImageNet).

Ref: docs/architecture.md §7, docs/energy_crosscheck.md. Layer shapes as DNN+NeuroSim defines them: VGG-8 of its
V1.4 release (32x32x3 input; 3x3 convolutions 128, 128, pool, 256, 256, pool, 512, 512, pool; fully connected 8192 ->
1024 -> 10; 615.9 M MACs, NeuroSim's 1.23184e9 operations) and ResNet-18 of its NetWork_ResNet18.csv (224x224x3
input, 7x7/2 stem, four stages of two basic blocks with 1x1/2 projection shortcuts, 512 -> 1000 classifier). Each
layer is a :class:`~neurophase.model.resnet50.ConvLayer` (one MVM per output pixel).
"""

from neurophase.model.resnet50 import ConvLayer

__all__ = ["vgg8_layers", "resnet18_layers"]


def vgg8_layers():
    """The 8 weight layers of NeuroSim's VGG-8 on 32x32 CIFAR-10 images (same padding, 2x2 pooling)."""
    convs = [(3, 128, 32), (128, 128, 32), (128, 256, 16), (256, 256, 16), (256, 512, 8), (512, 512, 8)]
    layers = [ConvLayer(f"conv{i + 1}", 3, c_in, c_out, hw) for i, (c_in, c_out, hw) in enumerate(convs)]
    return layers + [ConvLayer("fc1", 1, 8192, 1024, 1), ConvLayer("fc2", 1, 1024, 10, 1)]


def resnet18_layers():
    """The 21 weight layers of NeuroSim's ResNet-18 on 224x224 ImageNet images, in its table's order."""
    layers = [ConvLayer("conv1", 7, 3, 64, 112)]
    c_in, hw = 64, 56
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        out_hw = hw if stage == 1 else hw // 2
        for block in range(2):
            first = block == 0
            p = f"layer{stage}.{block}"
            layers += [ConvLayer(f"{p}.conv1", 3, c_in if first else width, width, out_hw),
                       ConvLayer(f"{p}.conv2", 3, width, width, out_hw)]
            if first and stage > 1:
                layers.append(ConvLayer(f"{p}.downsample", 1, c_in, width, out_hw))
        c_in, hw = width, out_hw
    return layers + [ConvLayer("fc", 1, 512, 1000, 1)]
