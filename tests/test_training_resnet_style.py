"""The ResNet-style network's training command (training/train_resnet_style.py, PyTorch): seeded and deterministic,
and what it exports has the shipped file's structure. Skipped without torch (`pip install -e '.[torch]'`)."""

import importlib.util
import json
from pathlib import Path

import onnx
import pytest

torch = pytest.importorskip("torch", reason="needs torch==2.13.0: pip install -e '.[torch]'")

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "model" / "data" / "resnet_style.onnx"
# torch 2.13 warns that the TorchScript-based exporter (dynamo=False, which the issue asks for) is legacy, and that
# exporter calls its own deprecated helpers; remove these filters when the script moves to the dynamo exporter.
pytestmark = [
    pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:torch.onnx._internal.torchscript_exporter.utils"),
]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("train_resnet_style", ROOT / "training" / "train_resnet_style.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ops(model):
    return [(n.op_type, n.name) for n in model.graph.node]


def test_a_short_run_is_deterministic_and_exports_the_shipped_structure(script, tmp_path):
    paths = []
    for run in ("a", "b"):
        paths.append(tmp_path / run / "net.onnx")
        assert script.main(["--out", str(paths[-1]), "--epochs", "1"]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert (tmp_path / "a" / "net_calib.npz").read_bytes() == (tmp_path / "b" / "net_calib.npz").read_bytes()
    assert _ops(onnx.load(paths[0])) == _ops(onnx.load(SHIPPED))
    report = json.loads((tmp_path / "a" / "net.json").read_text())
    assert report["epochs"] == 1 and 0 < report["fp32_test_accuracy"] <= 1


@pytest.mark.slow
def test_the_training_command_reproduces_the_shipped_network(script, tmp_path):
    """Same bytes on this machine and torch build (CPU kernels elsewhere may round differently)."""
    out = tmp_path / "resnet_style.onnx"
    assert script.main(["--out", str(out)]) == 0
    assert out.read_bytes() == SHIPPED.read_bytes()
    shipped = json.loads(SHIPPED.with_suffix(".json").read_text())
    mine = json.loads(out.with_suffix(".json").read_text())
    for key in ("fp32_test_accuracy", "fp32_train_accuracy", "test_correct", "epochs", "seed"):
        assert mine[key] == shipped[key]
