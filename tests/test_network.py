"""Reference network: data split, training determinism, gradients, shipped weights and the 8-bit integer path."""

import re

import numpy as np
import pytest

from neurophase.model import train as T
from neurophase.model.arith import PeripheryFormat
from neurophase.model.network import (N_TEST, REFERENCE_NET, col2im, digits_inputs, digits_network, fp32_logits,
                                      fp32_params, im2col, layer_shapes, load_split, load_weights)
from neurophase.model.quantise import affine_registers, digital_forward, quantise_weights


@pytest.fixture(scope="module")
def shipped():
    return load_weights()


@pytest.fixture(scope="module")
def split():
    return load_split()


def test_split_is_fixed_disjoint_and_sized(split):
    x_tr, y_tr, x_te, y_te = split
    assert (len(y_tr), len(y_te)) == (1797 - N_TEST, N_TEST)
    again = load_split()
    assert all(np.array_equal(a, b) for a, b in zip(split, again))
    tr = {a.tobytes() for a in x_tr}
    assert not any(a.tobytes() in tr for a in x_te)


def test_reference_net_has_a_layer_wider_than_a_tile():
    shapes = layer_shapes()
    assert [s[0] for s in shapes] == [l.name for l in REFERENCE_NET]
    assert max(s[1] for s in shapes) > 256
    assert shapes == [("conv1", 9, 16, 64), ("conv2", 144, 32, 64), ("conv3", 288, 64, 16), ("fc", 64, 10, 1)]


def test_im2col_and_col2im_are_adjoint():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 4, 3))
    cols = im2col(x, 3, 1)
    c = rng.standard_normal(cols.shape)
    assert np.isclose((cols * c).sum(), (x * col2im(c, 3, 1, x.shape)).sum())
    # centre tap of the patch is the pixel itself
    assert np.array_equal(cols[..., 4 * 3:5 * 3], x)


def test_backprop_matches_finite_differences():
    x_tr, y_tr, _, _ = load_split()
    rng = np.random.default_rng(3)
    p = T.init_params(rng)
    xb, yb = x_tr[:6], y_tr[:6]

    def loss(q):
        lg, _ = T.forward(dict(q), xb, "fp32")
        return T.softmax_cross_entropy(lg, yb)[0]

    logits, cache = T.forward(dict(p), xb, "fp32")
    grads = T.backward(p, cache, T.softmax_cross_entropy(logits, yb)[1], "fp32")
    for key in ("conv1.w", "conv2.gamma", "conv3.w", "conv3.beta", "fc.w", "fc.b"):
        idx = tuple(int(rng.integers(0, s)) for s in p[key].shape)
        plus, minus = dict(p), dict(p)
        plus[key], minus[key] = p[key].copy(), p[key].copy()
        plus[key][idx] += 1e-6
        minus[key][idx] -= 1e-6
        numeric = (loss(plus) - loss(minus)) / 2e-6
        assert grads[key][idx] == pytest.approx(numeric, rel=1e-4, abs=1e-8), key


def test_training_is_deterministic():
    cfg = T.TrainConfig(epochs_fp32=1, epochs_qat=1, max_steps=3)
    a, meta_a = T.train(cfg)
    b, meta_b = T.train(cfg)
    assert meta_a == meta_b and meta_a["steps_fp32"] == meta_a["steps_qat"] == 3
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(T.init_params(np.random.default_rng(1))["conv1.w"],
                              T.init_params(np.random.default_rng(2))["conv1.w"])


def test_shipped_weights_reproduce_the_reported_accuracies_exactly(shipped, split):
    params, meta = shipped
    _, _, x_te, y_te = split
    int8 = digital_forward(digits_network(params), digits_inputs(x_te))
    assert np.mean(int8.argmax(axis=1) == y_te) == meta["int8_test_accuracy"]
    assert np.mean(fp32_logits(fp32_params(params), x_te).argmax(axis=1) == y_te) == meta["fp32_test_accuracy"]
    assert meta["int8_test_accuracy"] >= 0.95 and meta["fp32_test_accuracy"] >= 0.95


def test_integer_path_matches_the_quantisation_aware_forward(shipped, split):
    # The QAT forward (float) and the integer path differ only by the rounding of the integer BN registers, whose
    # effect (a code here and there) grows a little through the layers: the logits stay within 1% of their range.
    params, _ = shipped
    _, _, x_te, _ = split
    float_logits, _ = T.forward(dict(params), x_te, "qat")
    float_codes = float_logits / params["fc.s_out"]
    int_logits = digital_forward(digits_network(params), digits_inputs(x_te))
    assert np.abs(float_codes - int_logits).max() <= 0.01 * T.TrainConfig().logit_code_max
    assert np.mean(float_codes.argmax(axis=1) == int_logits.argmax(axis=1)) >= 0.995


def test_quantised_weights_use_the_full_symmetric_range():
    w = np.random.default_rng(0).standard_normal((20, 5))
    q, s = quantise_weights(w)
    assert q.min() >= -127 and q.max() <= 127 and np.all(np.abs(q).max(axis=0) == 127)
    assert np.abs(q * s - w).max() <= s.max() / 2 + 1e-12


def test_affine_registers_fit_the_format_with_the_largest_shift():
    fmt = PeripheryFormat()
    regs = affine_registers(np.array([0.01, -0.02]), np.array([3.0, -1.0]), fmt)
    s, r = regs.scale, regs.shift
    assert np.abs(s).max() <= 2 ** 15 - 1 and np.abs(s).max() > 2 ** 14        # one more shift would overflow
    assert s[1] == np.round(-0.02 * 2 ** r) and regs.bias[0] == np.round(3.0 * 2 ** r)
    with pytest.raises(ValueError, match=re.escape(
            "layer conv3, column block 1: BN multipliers up to 1e+06 and biases up to 0 do not fit 16-bit scale and "
            "32-bit bias registers even with shift 0 (at most 32767 and 2147483646)")):
        affine_registers(np.array([1e6]), np.array([0.0]), fmt, "layer conv3, column block 1")


def test_a_residual_add_whose_scales_do_not_fit_names_the_add():
    from neurophase.model.quantise import TensorCodes, add_registers
    fmt = PeripheryFormat()
    with pytest.raises(ValueError, match=re.escape(
            "residual add 'block1.add': input scales 1e+06 x the output's do not fit 16-bit multipliers even with "
            "shift 0 (at most 32767)")):
        add_registers(TensorCodes(1e6), TensorCodes(1.0), TensorCodes(1.0), True, fmt, "block1.add")


@pytest.mark.parametrize("pixels, match", [
    (np.full((1, 8, 8, 1), 17), r"pixels must be integers in \[0, 16\], got 17"),
    (np.full((1, 8, 8, 1), -1), r"pixels must be unsigned 5-bit integers in \[0, 31\], got -1"),
    (np.full((1, 8, 8, 1), 0.5), r"pixels must hold integers"),
])
def test_bad_pixels_raise(pixels, match):
    with pytest.raises(ValueError, match=match):
        digits_inputs(pixels)


def test_wrong_input_shape_raises(shipped):
    with pytest.raises(ValueError, match=r"inputs must have shape \(any, 1, 8, 8\), got \(2, 8, 8\)"):
        digital_forward(digits_network(shipped[0]), np.zeros((2, 8, 8)))


def test_digits_inputs_give_the_codes_15_times_the_pixel():
    pixels = np.arange(64).reshape(1, 8, 8, 1) % 17
    net = digits_network()
    assert np.array_equal(net.input_codes(digits_inputs(pixels)), 15 * pixels)


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match=r"epochs_fp32 must be an integer in \[1, 10000\], got 0"):
        T.TrainConfig(epochs_fp32=0)
    with pytest.raises(ValueError, match="act_percentile must be in"):
        T.TrainConfig(act_percentile=120.0)


@pytest.mark.slow
def test_full_training_reproduces_the_shipped_weights(shipped):
    params, meta = T.train(T.TrainConfig())
    ref, ref_meta = shipped
    assert meta == ref_meta
    assert params.keys() == ref.keys() and all(np.array_equal(params[k], ref[k]) for k in ref)
