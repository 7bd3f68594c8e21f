"""ONNX files exported by PyTorch's own exporter (torch.onnx.export, TorchScript path), imported by the twin: the float
network against PyTorch's outputs, batch norm folded by the exporter or not. Skipped without torch (install the
optional extra: pip install -e '.[torch]')."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional extra 'torch': torch==2.13.0)")

from neurophase.cli import main  # noqa: E402
from neurophase.model.lowering import lower  # noqa: E402
from neurophase.model.network_file import import_network, load_network  # noqa: E402
from neurophase.model.onnx_import import import_onnx  # noqa: E402
from neurophase.model.quantise import digital_forward  # noqa: E402

# The TorchScript exporter (dynamo=False, what this project's users are asked to use) warns that it is the legacy
# path, and calls functions torch itself deprecates. Remove these carve-outs when the tests move to the
# torch.export-based exporter.
pytestmark = [pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export"
                                         ":DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:torch")]


class Residual(torch.nn.Module):
    """What users write: conv-BN-ReLU stem, a strided residual block with a projection, pooling, view, two Linear."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.conv = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32))
        self.down = nn.Sequential(nn.Conv2d(16, 32, 1, stride=2, bias=False), nn.BatchNorm2d(32))
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(32, 20)
        self.fc2 = nn.Linear(20, 10)

    def forward(self, x):
        x = self.stem(x)
        y = torch.relu(self.conv(x) + self.down(x))
        y = self.gap(self.pool(y))
        y = torch.relu(self.fc1(y.view(y.size(0), -1)))
        return self.fc2(torch.flatten(y, 1))


@pytest.fixture(scope="module")
def trained_model():
    torch.manual_seed(0)
    model = Residual()
    with torch.no_grad():                     # non-trivial running statistics, as after training
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def _export(model, path, fold):
    torch.onnx.export(model, torch.zeros(1, 3, 16, 16), str(path), dynamo=False, do_constant_folding=fold,
                      input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    return path


@pytest.mark.parametrize("fold", [True, False], ids=["bn-folded", "bn-kept"])
def test_a_pytorch_export_imports_and_computes_what_pytorch_computes(trained_model, tmp_path, fold):
    path = _export(trained_model, tmp_path / "net.onnx", fold)
    graph = import_onnx(path)
    assert any(type(n.op).__name__ == "BatchNorm" for n in graph.nodes) != fold
    net = lower(graph)
    assert [type(s).__name__ for s in net.steps] == ["MatrixLayer", "MatrixLayer", "MatrixLayer", "ResidualAdd", "Pool",
                                                     "GlobalPool", "Flatten", "MatrixLayer", "MatrixLayer"]
    x = np.random.default_rng(0).normal(size=(5, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        want = trained_model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net.forward(x), want, rtol=1e-4, atol=1e-4)


def test_a_pytorch_export_goes_through_the_import_command_to_8_bits(trained_model, tmp_path):
    path = _export(trained_model, tmp_path / "net.onnx", True)
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "calib.npz", x=rng.normal(size=(32, 3, 16, 16)).astype(np.float32))
    x = rng.normal(size=(64, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        labels = trained_model(torch.from_numpy(x)).numpy().argmax(axis=1)
    np.savez(tmp_path / "test.npz", x=x, y=labels)
    out = tmp_path / "net.npz"
    assert main(["import", str(path), "--calib", str(tmp_path / "calib.npz"), "--data", str(tmp_path / "test.npz"),
                 "--out", str(out), "--images", "2", "--report", str(tmp_path / "r.json")]) == 0
    net = load_network(out)
    again = import_network(path, tmp_path / "calib.npz", tmp_path / "test.npz")
    assert np.array_equal(digital_forward(net, x), digital_forward(again, x))     # the file holds the network
    # 8-bit codes against PyTorch's float argmax (labels): a random network's margins are small, most still agree.
    assert np.mean(digital_forward(net, x).argmax(axis=1) == labels) >= 0.8
