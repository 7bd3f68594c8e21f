"""Drift-aware training: the reference network trained with the PCM devices' programming noise and drift spread.

Ref: docs/architecture.md §3 (device statistics), §6 item 1; model/train.py (the training it extends).

Every forward pass of both training phases (FP32, then 8-bit QAT) replaces each layer's weights by one fresh sample
of what the chip holds ``target_time`` seconds after programming (default one day, :data:`TARGET_TIME`):

1. the layer's (fake-quantised) weights map onto differential pairs with the chip's per-column scale (D5): a
   column's largest |w| is Gmax, G+ = Gmax max(w, 0) / absmax, G- = Gmax max(-w, 0) / absmax;
2. the devices are programmed with ``PcmModel.program`` (programming noise sigma_prog(gr), one drift exponent nu per
   device with the spread of §3) and drifted with ``PcmModel.conductance_at(devices, target_time)``: the golden
   model's own functions, so training sees exactly the statistics the chip has;
3. the effective weight is (G+ - G-) absmax / Gmax, divided by the layer's common drift, one scalar per layer:
   sum |W(target_time)| / sum |W(0)| (W(0) the programmed, undrifted weights of the same sample).

Step 3 makes the injected perturbation the programming noise and the *spread* of drift (device to device, and its
dependence on the conductance), not the common decay: that one is the job of BN recalibration or global drift
compensation, which restore the fresh chip's scale at any time. A network trained for the decayed scale of one
target time would be mis-scaled at every other time, and would fight the recalibration that restores the fresh
statistics. Read noise is not injected (it is fresh on every read, not frozen in the weights). Gradients pass the
injection straight through to the clean weights.

**The literature's variant** (:class:`GaussianNoiseInjector`, :func:`train_noise_injection`; Joshi et al., Nat.
Commun. 11, 2473 (2020)): additive Gaussian noise on every weight of every forward pass, standard deviation
``eta max|w|`` per output column (the chip's per-column scale: a column's largest |w| is Gmax), independent of the
weight's value. ``eta`` is set from the device model (:func:`device_noise_scale`): the root mean square of the
perturbation :class:`DeviceNoiseInjector` draws (programming noise plus drift spread at ``target_time``, common drift
divided out) on the shipped network's integer weights, relative to each column's max|w|. So both variants inject the
same amount of noise; they differ in its shape (conductance-dependent and one-sided near 0 S for the device model,
uniform Gaussian in the literature's). Joshi et al. pair it with global drift compensation at inference.

The injection has its own generator, seeded with ``noise_seed``, so initialisation and batch order are those of
plain training with the same ``TrainConfig.seed``. BLAS runs on one thread during the training: a multi-threaded
matmul adds in another order (weights then differ by ~1e-14), and the shipped weights must be reproduced bit for bit.
"""

import numpy as np

from neurophase.model.checks import check_int, check_positive
from neurophase.model.device import PcmModel
from neurophase.model.network import WEIGHTS_PATH, load_weights, quant_layers
from neurophase.model.train import TrainConfig, train

__all__ = ["TARGET_TIME", "NOISE_SEED", "DRIFT_WEIGHTS_PATH", "NOISE_INJECTION_WEIGHTS_PATH", "DeviceNoiseInjector",
           "GaussianNoiseInjector", "device_noise_scale", "train_drift_aware", "train_noise_injection"]

TARGET_TIME = 86_400.0          # one day: near the log-middle of the paper's one-year horizon
NOISE_SEED = 7
DRIFT_WEIGHTS_PATH = WEIGHTS_PATH.with_name("digits_cnn_drift_aware.npz")
NOISE_INJECTION_WEIGHTS_PATH = WEIGHTS_PATH.with_name("digits_cnn_noise_injection.npz")


class DeviceNoiseInjector:
    """``weight_fn`` for model/train.py: each call returns one fresh sample of the layer's weights as programmed
    onto PCM pairs and read ``target_time`` seconds later, with the layer's common drift divided out."""

    def __init__(self, target_time=TARGET_TIME, seed=NOISE_SEED, pcm=PcmModel()):
        self.target_time = check_positive("target_time (s)", target_time)
        self.rng = np.random.default_rng(check_int("noise_seed", seed, 0, 2 ** 63 - 1))
        self.pcm = pcm

    def __call__(self, layer, w):
        absmax = np.abs(w).max(axis=0)
        absmax = np.where(absmax > 0, absmax, 1.0)
        gmax = self.pcm.g_max
        pair = np.stack([np.maximum(w, 0), np.maximum(-w, 0)]) / absmax * gmax
        devices = self.pcm.program(np.minimum(pair, gmax), self.rng)
        w0 = (devices.g_prog[0] - devices.g_prog[1]) * absmax / gmax
        g_t = self.pcm.conductance_at(devices, self.target_time)
        w_t = (g_t[0] - g_t[1]) * absmax / gmax
        common = np.abs(w_t).sum() / max(np.abs(w0).sum(), np.finfo(float).tiny)
        return w_t / common


class GaussianNoiseInjector:
    """``weight_fn`` for model/train.py, the literature's noise injection (Joshi et al. 2020): ``w + eta max|w|
    N(0, 1)`` with max|w| per output column, fresh on every call."""

    def __init__(self, eta, seed=NOISE_SEED):
        self.eta = check_positive("eta", eta)
        self.rng = np.random.default_rng(check_int("noise_seed", seed, 0, 2 ** 63 - 1))

    def __call__(self, layer, w):
        return w + self.rng.standard_normal(w.shape) * (self.eta * np.abs(w).max(axis=0))


def device_noise_scale(target_time=TARGET_TIME, samples=20, seed=NOISE_SEED, pcm=PcmModel()):
    """The root mean square of :class:`DeviceNoiseInjector`'s perturbation of the shipped network's integer weights
    (``samples`` draws per layer), relative to each column's max|w|: the ``eta`` of the literature's injection."""
    injector = DeviceNoiseInjector(target_time, seed, pcm)
    squares = []
    for ql in quant_layers(load_weights(WEIGHTS_PATH)[0]):
        w = ql.w_int.astype(np.float64)
        absmax = np.maximum(np.abs(w).max(axis=0), 1.0)
        squares += [(((injector(ql.layer, w) - w) / absmax) ** 2).ravel() for _ in range(check_int("samples", samples,
                                                                                                     1, 1000))]
    return float(np.sqrt(np.concatenate(squares).mean()))


def train_noise_injection(cfg=TrainConfig(), target_time=TARGET_TIME, noise_seed=NOISE_SEED, progress=None):
    """Train the reference network with :class:`GaussianNoiseInjector` at ``eta`` = :func:`device_noise_scale` of
    ``target_time``; returns (params, meta) with the injection's settings in ``meta``."""
    from threadpoolctl import threadpool_limits
    eta = device_noise_scale(target_time)
    with threadpool_limits(limits=1, user_api="blas"):
        params, meta = train(cfg, progress, weight_fn=GaussianNoiseInjector(eta, noise_seed))
    meta.update(noise_injection=1, eta=float(eta), target_time=float(target_time), noise_seed=int(noise_seed),
                injection="additive Gaussian, sd eta x max|w| per column (Joshi et al. 2020)")
    return params, meta


def train_drift_aware(cfg=TrainConfig(), target_time=TARGET_TIME, noise_seed=NOISE_SEED, progress=None):
    """Train the reference network with :class:`DeviceNoiseInjector`; returns (params, meta) as
    :func:`model.train.train` does, with the injection's settings added to ``meta``."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        params, meta = train(cfg, progress, weight_fn=DeviceNoiseInjector(target_time, noise_seed))
    meta.update(drift_aware=1, target_time=float(target_time), noise_seed=int(noise_seed),
                injection="programming noise + drift spread (common drift divided out per layer)")
    return params, meta
