"""8-bit quantisation (model/quantise.py), the host's integer steps (model/host_ops.py, arith.AddRegisters), network
files (model/network_file.py) and the shipped digits CNN as an ONNX file, imported bit for bit."""

import json

import numpy as np
import onnx
import pytest
from onnx_builders import OnnxBuilder, residual_net

from neurophase.cli import main
from neurophase.model.arith import AddRegisters, PeripheryFormat
from neurophase.model.chip import Chip
from neurophase.model.graph import Window
from neurophase.model.host_ops import average_codes, window_count, window_sum
from neurophase.model.network import digits_inputs, digits_network, load_split
from neurophase.model.network_file import import_network, load_network, open_network, save_network
from neurophase.model.quantise import (WIDE_CODE, LabelledSet, TensorCodes, add_registers, digital_forward)
from neurophase.model.zoo.digits import CALIB_PATH, N_CALIBRATION_FILE, ONNX_PATH, TEST_PATH, digits_onnx


@pytest.fixture(scope="module")
def residual():
    rng = np.random.default_rng(2)
    test = LabelledSet(rng.normal(size=(40, 4, 8, 8)), rng.integers(0, 10, 40))
    return import_network(residual_net(), rng.normal(size=(64, 4, 8, 8)), test)


def test_codes_follow_the_tensors_roles(residual):
    s = residual.specs
    assert s["input"].zero_point > 0 and not s["input"].wide                  # normal inputs: signed, a zero point
    assert s["relu2.out"] == TensorCodes(s["relu2.out"].scale, 0, False)     # after a ReLU: unsigned
    branch = residual.layer("block.conv")
    assert branch.last and s[branch.layer.dst].wide                          # only the Add reads it: signed 16 bit
    assert residual.layer("fc").last and not residual.layer("head").last
    assert s["gap.out"] == s["pool.out"] == s["relu6.out"]                   # pools keep their input's codes


def test_calibrated_scales_put_the_percentile_or_the_largest_value_at_full_scale(residual):
    net = residual.network
    _, values = net.forward(residual.calibration, {"relu2.out", "fc.out"})
    assert residual.specs["relu2.out"].scale == pytest.approx(np.percentile(values["relu2.out"], 99.9) / 255)
    assert residual.specs["fc.out"].scale == pytest.approx(np.abs(values["fc.out"]).max() / WIDE_CODE)


def test_the_8bit_path_follows_the_float_network(residual):
    x = residual.test.x
    f, q = residual.network.forward(x), digital_forward(residual, x)
    err = np.abs(residual.output_values(q) - f)
    assert err.max() <= 0.15 * np.abs(f).max() and np.mean(q.argmax(axis=1) == f.argmax(axis=1)) >= 0.9


def test_a_zero_point_input_is_padded_with_its_zero_code_so_the_border_is_exact():
    # A 3x3 conv of a constant input (every pixel -0.3): without the zero code in the padding the border outputs would
    # see a different input than the centre; with it, they see 0.0, as the float network does.
    b = OnnxBuilder((1, 5, 5))
    model = b.model(b.conv("input", 1, 2, 3, pad=1, bias=False), (2, 5, 5))
    cal = np.random.default_rng(0).uniform(-1, 1, (16, 1, 5, 5))
    net = import_network(model, cal)
    x = np.full((1, 1, 5, 5), -0.3)
    err = np.abs(net.output_values(digital_forward(net, x)) - net.network.forward(x))
    assert err.max() <= 0.02 * np.abs(net.network.forward(x)).max()


def test_the_residual_add_is_the_integer_rule_of_its_registers():
    fmt = PeripheryFormat()
    regs = add_registers(TensorCodes(0.002, 0, True), TensorCodes(0.05, 7, False), TensorCodes(0.04), True, fmt)
    assert regs.mult_a < 2 ** 15 and regs.mult_b < 2 ** 15 <= 2 * max(regs.mult_a, regs.mult_b)
    assert regs.mult_a == round(0.002 / 0.04 * 2 ** regs.shift) and regs.zero_b == 7
    rng = np.random.default_rng(0)
    a, b = rng.integers(-4000, 4000, 1000), rng.integers(0, 256, 1000)
    y, sats = regs.apply(a, b, fmt)
    z = (a * regs.mult_a + (b - 7) * regs.mult_b + 2 ** (regs.shift - 1)) >> regs.shift
    assert np.array_equal(y, np.clip(np.maximum(z, 0), 0, 255)) and sats == np.count_nonzero(z > 255)
    real = np.maximum(a * 0.002 + (b - 7) * 0.05, 0) / 0.04
    assert np.abs(y - np.minimum(real, 255)).max() <= 0.5 + 1e-3
    no_relu = AddRegisters(1, 1, 0, 0, 0, 128, False)
    assert no_relu.apply(np.array([-200, -100, 200]), np.array([0, 0, 0]), fmt)[0].tolist() == [0, 28, 255]


def test_average_pooling_on_codes_rounds_half_up_over_the_values_it_covers():
    q = np.arange(1, 10).reshape(1, 3, 3, 1)
    w = Window((2, 2), (2, 2), (0, 0, 1, 1))
    count = window_count(3, 3, w, False)
    assert count[0, :, :, 0].tolist() == [[4, 2], [2, 1]]
    got = average_codes(window_sum(q, w, np.int64), count)[0, :, :, 0]
    assert got.tolist() == [[3, 5], [8, 9]]        # (1+2+4+5)/4 = 3, (3+6)/2 = 4.5 -> 5, (7+8)/2 = 7.5 -> 8, 9
    assert window_count(3, 3, w, True)[0, :, :, 0].tolist() == [[4, 4], [4, 4]]


def test_a_network_file_holds_the_network(residual, tmp_path):
    path = save_network(residual, tmp_path / "n.npz")
    loaded = load_network(path)
    assert loaded.specs == residual.specs and loaded.adds == residual.adds
    assert all(np.array_equal(a.w_int, b.w_int) and np.array_equal(a.mult, b.mult)
               for a, b in zip(loaded.layers, residual.layers))
    x = residual.test.x
    assert np.array_equal(digital_forward(loaded, x), digital_forward(residual, x))
    assert np.array_equal(loaded.test.y, residual.test.y)


def test_a_chip_of_an_imported_network_saves_and_loads(residual, tmp_path):
    chip = Chip.program(residual, seed=4)
    chip.save(tmp_path / "chip.npz")
    loaded = Chip.load(tmp_path / "chip.npz")
    x = residual.test.x[:5]
    assert np.array_equal(loaded.run(x, 60.0, 1), chip.run(x, 60.0, 1))


@pytest.mark.parametrize("spec, calib, match", [
    ("net.onnx", None, r"an ONNX network \(net.onnx\) needs --calib CALIB.npz"),
    ("resnet", None, r"network must be 'digits', a network file \(.npz from `neurophase import`\) or an ONNX file"),
    ("missing.npz", None, r"network file missing.npz does not exist"),
])
def test_open_network_names_what_it_takes(spec, calib, match):
    with pytest.raises(ValueError, match=match):
        open_network(spec, calib)


# -- the digits CNN as an ONNX file ----------------------------------------------------------------------------------
def test_the_shipped_digits_onnx_files_are_the_export_of_the_shipped_weights():
    assert ONNX_PATH.read_bytes() == digits_onnx().SerializeToString()
    x_tr, _, x_te, y_te = load_split()
    with np.load(CALIB_PATH) as f:
        assert np.array_equal(f["x"], digits_inputs(x_tr[:N_CALIBRATION_FILE]))
    with np.load(TEST_PATH) as f:
        assert np.array_equal(f["x"], digits_inputs(x_te)) and np.array_equal(f["y"], y_te)


def test_zoo_digits_writes_the_shipped_files_under_the_build_folder(tmp_path, monkeypatch):
    """`neurophase zoo digits` writes the three files to build/networks/ (the shipped ones stay as they are)."""
    from neurophase.cli import main
    monkeypatch.setenv("NEUROPHASE_BUILD", str(tmp_path))
    shipped = ONNX_PATH.stat().st_mtime_ns
    assert main(["zoo", "digits"]) == 0
    for name, ref in (("digits_cnn.onnx", ONNX_PATH), ("digits_calib.npz", CALIB_PATH), ("digits_test.npz", TEST_PATH)):
        assert (tmp_path / "networks" / name).read_bytes() == ref.read_bytes(), name
    assert ONNX_PATH.stat().st_mtime_ns == shipped


def test_digits_exported_to_onnx_and_imported_gives_the_same_integer_logits_bit_for_bit():
    ref = digits_network()
    net = import_network(ONNX_PATH, CALIB_PATH, TEST_PATH)
    x = ref.test.x
    assert np.array_equal(digital_forward(net, x), digital_forward(ref, x))
    a, b = Chip.program(ref, seed=0), Chip.program(net, seed=0)
    assert a.i_fs == b.i_fs and all(a.registers[k].mismatches(b.registers[k]) == 0 for k in a.registers)
    assert np.array_equal(a.run(x, 3600.0, 3), b.run(x, 3600.0, 3))


def test_the_import_command_reports_saturation_per_layer_and_writes_the_network(tmp_path, capsys):
    out, report = tmp_path / "digits.npz", tmp_path / "r.json"
    assert main(["import", str(ONNX_PATH), "--calib", str(CALIB_PATH), "--data", str(TEST_PATH), "--out", str(out),
                 "--images", "8", "--report", str(report)]) == 0
    text = capsys.readouterr().out
    assert "5 of 144 tiles used" in text and "conversions at an ADC rail" in text
    r = json.loads(report.read_text())
    assert [l["name"] for l in r["layers"]] == ["conv1", "conv2", "conv3", "fc"]
    conv1 = r["layers"][0]
    assert conv1["conversions"] == 8 * 64 * 8 * 16                 # inputs x MVMs x bit-planes x used columns
    assert 0 < conv1["saturated_fraction"] < 0.01                  # the calibrated full scale clips the 0.1% tail
    x = digits_network().test.x[:16]
    assert np.array_equal(digital_forward(load_network(out), x), digital_forward(digits_network(), x))
