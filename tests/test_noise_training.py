"""Drift-aware training as the literature does it (docs/architecture.md D14): additive Gaussian weight noise at the
device model's scale, its shipped weights, and the comparison study's points."""

import math

import numpy as np
import pytest

from neurophase.model.drift_training import (NOISE_INJECTION_WEIGHTS_PATH, DeviceNoiseInjector, GaussianNoiseInjector,
                                             device_noise_scale)
from neurophase.model.network import load_split, load_weights, quant_layers
from neurophase.model.train import forward

Z = 5.0


def test_gaussian_injection_is_additive_noise_of_eta_times_each_columns_largest_weight():
    w = np.random.default_rng(0).normal(size=(400, 50)) * np.linspace(0.1, 2, 50)
    inject = GaussianNoiseInjector(eta=0.04, seed=1)
    d = (inject(None, w) - w) / (0.04 * np.abs(w).max(axis=0))
    assert abs(d.mean()) <= Z / math.sqrt(d.size)
    assert abs(d.var() - 1) <= Z * math.sqrt(2 / d.size)
    assert abs(np.corrcoef(np.abs(w).ravel(), np.abs(d).ravel())[0, 1]) < Z / math.sqrt(d.size)   # value-independent
    assert not np.array_equal(inject(None, w), inject(None, w))                                     # fresh per pass


def test_noise_scale_is_the_rms_of_the_device_models_perturbation():
    eta = device_noise_scale()
    # Recomputed by hand from the injector on one layer: the same order (the layers differ a little).
    ql = quant_layers(load_weights()[0])[1]
    w = ql.w_int.astype(float)
    inject = DeviceNoiseInjector(seed=3)
    rel = np.concatenate([((inject(None, w) - w) / np.abs(w).max(axis=0)).ravel() for _ in range(10)])
    assert 0.7 < np.sqrt(np.mean(rel ** 2)) / eta < 1.3
    # It grows with the time the drift spread is drawn at.
    assert device_noise_scale(1.0, samples=5) < eta < device_noise_scale(365.25 * 86400, samples=5)


def test_shipped_noise_injection_weights_record_their_training_and_tolerate_the_injected_noise():
    params, meta = load_weights(NOISE_INJECTION_WEIGHTS_PATH)
    assert meta["noise_injection"] == 1 and meta["eta"] == pytest.approx(device_noise_scale())
    assert meta["int8_test_accuracy"] >= 0.98
    # Under the noise it was trained with, it makes fewer errors than the plain network (same draws for both).
    _, _, x, y = load_split()
    errors = {}
    for kind, p in (("plain", load_weights()[0]), ("gaussian", params)):
        inject = GaussianNoiseInjector(meta["eta"], seed=99)
        errors[kind] = sum(int(np.sum(np.argmax(forward(p, x, "qat", weight_fn=inject)[0], axis=1) != y))
                           for _ in range(8))
    assert errors["gaussian"] < errors["plain"], errors


@pytest.mark.slow
def test_train_noise_injection_reproduces_the_shipped_weights(tmp_path):
    from neurophase.cli import main
    out = tmp_path / "ni.npz"
    assert main(["train", "--noise-injection", "--out", str(out)]) == 0
    got, meta = load_weights(out)
    want, want_meta = load_weights(NOISE_INJECTION_WEIGHTS_PATH)
    assert all(np.array_equal(got[k], want[k]) for k in want) and meta == want_meta


def test_train_takes_one_kind_of_injection(capsys):
    from neurophase.cli import main
    assert main(["train", "--drift-aware", "--noise-injection", "--out", "unused.npz"]) == 2
    assert "--drift-aware and --noise-injection are two trainings: give one" in capsys.readouterr().err


def test_a_comparison_point_is_deterministic_and_gdc_restores_a_decayed_chip():
    from neurophase.model.noise_training_study import StudyPoint, run_point
    year = 365.25 * 86400
    none = run_point(StudyPoint("gaussian", "none", 3000, times=(year,), test_images=40))
    gdc = run_point(StudyPoint("gaussian", "gdc", 3000, times=(year,), test_images=40))
    assert gdc == run_point(StudyPoint("gaussian", "gdc", 3000, times=(year,), test_images=40))
    assert gdc[0] > none[0] + 0.3
    with pytest.raises(ValueError, match=r"weights must be one of plain, device, gaussian, got 'x'"):
        run_point(StudyPoint("x", "none", 3000))
