"""Train the ResNet-style digits network in PyTorch, as its users would, and export it to ONNX.

The network a user would call ResNet-style, sized for scikit-learn's 8x8 digits (input N x 1 x 8 x 8, pixel / 16 in
[0, 1], as the twin's digits network takes them), with what makes a network hard for the chip: residual blocks,
strided convolutions, a layer with more than 128 outputs (two column blocks of a tile) and layers with fan-in over
512 (row groups over several tiles).

============ ================================================ ======= ====== ===========
block        layers (each convolution followed by BN)           im2col  output out
                                                                fan-in  chans  size
============ ================================================ ======= ====== ===========
stem         3x3 conv 1 -> 32, ReLU                              9       32     8x8
layer1       basic block 32 -> 32: 3x3, ReLU, 3x3; + identity     288     32     8x8
layer2       basic block 32 -> 64, stride 2: 3x3/2, ReLU, 3x3;     288,576 64     4x4
             + 1x1/2 projection
layer3       basic block 64 -> 160, stride 2: 3x3/2, ReLU, 3x3;    576,    160    2x2
             + 1x1/2 projection                                    1440
head         global average pool, fc 160 -> 10                   160     10     -
============ ================================================ ======= ====== ===========

Each block adds its two branches and then applies ReLU (He et al. 2016, torchvision's BasicBlock).

Training (FP32, PyTorch's defaults where not stated): the project's split (model/network.py ``load_split``: 1,437
training images, 360 held out), batches of 64 shuffled by a seeded generator, each image shifted by up to one pixel
in x and y (zero fill) as augmentation, SGD with momentum 0.9 and Nesterov, weight decay 5e-4, learning rate 0.1 on
a cosine schedule to 0 over ``--epochs`` epochs, cross-entropy. CPU, one thread, deterministic algorithms: the same
seed gives the same weights and the same ONNX bytes on the same machine and torch build.

Export: ``torch.onnx.export(..., dynamo=False)`` in eval mode with a dynamic batch dimension, opset 17, nothing
changed afterwards (PyTorch's exporter folds each BN into its convolution). Beside the ONNX file it writes the
calibration inputs (the first 200 training images of the split, pixel / 16, N x 1 x 8 x 8, in the importer's
format: model/zoo/calibration.py) and a JSON report of the settings and the accuracies measured by PyTorch.

    pip install -e '.[torch]'       # torch==2.13.0, the CPU build
    python training/train_resnet_style.py --out model/data/resnet_style.onnx
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from neurophase.model.network import digits_inputs, load_split
from neurophase.model.zoo.calibration import save_calibration_inputs

DEFAULT_OUT = Path("build/train/resnet_style.onnx")
OPSET = 17
CALIB_IMAGES = 200


class BasicBlock(nn.Module):
    """3x3 conv (stride s), BN, ReLU, 3x3 conv, BN; plus the input (a 1x1/s conv and BN when the shape changes)."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNetStyle(nn.Module):
    """The network of the module docstring."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.layer1 = BasicBlock(32, 32, 1)
        self.layer2 = BasicBlock(32, 64, 2)
        self.layer3 = BasicBlock(64, 160, 2)
        self.fc = nn.Linear(160, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _shift(x, gen):
    """Each image shifted by -1, 0 or +1 pixel in y and x, zero fill."""
    n = x.shape[0]
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    dy, dx = torch.randint(0, 3, (2, n), generator=gen)
    return torch.stack([padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8] for i in range(n)])


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).double().mean())


def train(seed=0, epochs=60, batch=64, lr=0.1, progress=print):
    """(model, report): the trained network (eval mode) and a dict of settings and accuracies."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    x_tr, y_tr, x_te, y_te = load_split()
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in (digits_inputs(x_tr), y_tr, digits_inputs(x_te), y_te))
    model = ResNetStyle()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = epochs * -(-len(y_tr) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y_tr), generator=gen)
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            loss = nn.functional.cross_entropy(model(_shift(x_tr[idx], gen)), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            progress(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, "
                     f"test accuracy {100 * accuracy(model, x_te, y_te):.2f}%")
    report = {"seed": seed, "epochs": epochs, "batch": batch, "lr": lr, "torch": torch.__version__,
              "train_images": len(y_tr), "test_images": len(y_te),
              "fp32_train_accuracy": accuracy(model, x_tr, y_tr), "fp32_test_accuracy": accuracy(model, x_te, y_te),
              "test_correct": round(accuracy(model, x_te, y_te) * len(y_te)), "seconds": round(time.time() - t0, 1)}
    return model.eval(), report


def export(model, path):
    """Write ``model`` to ``path`` with PyTorch's TorchScript-based exporter, a dynamic batch dimension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, opset_version=OPSET,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


def calibration_inputs():
    """The first CALIB_IMAGES training images of the project's split, pixel / 16, N x 1 x 8 x 8."""
    return digits_inputs(load_split()[0][:CALIB_IMAGES])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"ONNX file (default {DEFAULT_OUT}); the "
                   "calibration images (STEM_calib.npz) and the report (STEM.json) are written beside it")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, batch order and shifts (default 0)")
    p.add_argument("--epochs", type=int, default=60, help="training epochs (default 60)")
    args = p.parse_args(argv)
    say = lambda msg: print(f"  {msg}", file=sys.stderr, flush=True)
    model, report = train(seed=args.seed, epochs=args.epochs, progress=say)
    report["command"] = (f"python training/train_resnet_style.py --out {args.out} --seed {args.seed} "
                         f"--epochs {args.epochs}")
    export(model, args.out)
    calib = save_calibration_inputs(args.out.with_name(f"{args.out.stem}_calib.npz"), calibration_inputs())
    meta = args.out.with_suffix(".json")
    meta.write_text(json.dumps(report, indent=1) + "\n")
    print(f"trained in {report['seconds']} s: FP32 test accuracy {100 * report['fp32_test_accuracy']:.2f}% "
          f"({report['test_correct']}/{report['test_images']}), train {100 * report['fp32_train_accuracy']:.2f}%")
    print(f"wrote {args.out}, {calib} and {meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
