"""Training of the reference network in pure numpy: FP32 with batch norm, then 8-bit quantisation-aware training.

Ref: model/network.py (network, quantisation), docs/architecture.md §4 (the arithmetic the 8-bit model matches).

Phase 1, FP32: convolutions as im2col matmuls, batch norm with batch statistics (running statistics kept for
inference), ReLU, softmax cross-entropy, Adam, float64 throughout so that a run is reproducible.

Calibration: each hidden layer's output scale ``s_out`` is set from the FP32 network's post-ReLU activations on the
training images (a high percentile / 255), and the logit scale from the largest training logit; the test images are
never used.

Phase 2, quantisation-aware training (QAT), forward exactly as the chip computes it up to rounding of its integer
registers: batch norm frozen to its running statistics (so it folds into the per-channel affine unit; gamma and beta
still train), weights fake-quantised per output channel to [-127, 127] levels, every hidden output fake-quantised to
unsigned 8-bit codes floor(y / s_out + 1/2) clipped to 0..255, max and average pooling on the codes as the host does.
Gradients pass the rounding by the straight-through estimator (inside the clipping range only).

Every random draw (initialisation, batch order) comes from one generator seeded with ``TrainConfig.seed``.
"""

from dataclasses import asdict, dataclass

import numpy as np

from neurophase.model.checks import check_int, check_positive
from neurophase.model.network import (BN_EPS, REFERENCE_NET, col2im, digits_inputs, digits_network, fp32_logits,
                                      host_pool, im2col, load_split)
from neurophase.model.quantise import digital_forward, quantise_weights

__all__ = ["TrainConfig", "train", "init_params", "forward", "backward", "softmax_cross_entropy", "accuracy"]

_MOMENTUM = 0.1          # running batch-norm statistics
_CODE_MAX = 255


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train`. ``max_steps`` (per phase) shortens a run, for tests."""
    seed: int = 1
    epochs_fp32: int = 40
    epochs_qat: int = 20
    batch: int = 32
    lr_fp32: float = 2e-3
    lr_qat: float = 3e-4
    act_percentile: float = 99.9
    logit_code_max: int = 4096       # the largest training logit maps to this signed 16-bit code
    max_steps: int = None

    def __post_init__(self):
        check_int("seed", self.seed, 0, 2 ** 32 - 1)
        check_int("epochs_fp32", self.epochs_fp32, 1, 10000)
        check_int("epochs_qat", self.epochs_qat, 0, 10000)
        check_int("batch", self.batch, 1, 4096)
        check_positive("lr_fp32", self.lr_fp32)
        check_positive("lr_qat", self.lr_qat)
        if not 50.0 <= self.act_percentile <= 100.0:
            raise ValueError(f"act_percentile must be in [50, 100], got {self.act_percentile}")
        check_int("logit_code_max", self.logit_code_max, 16, 2 ** 15 - 1)
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps, 1, None)


def init_params(rng, net=REFERENCE_NET):
    """He-normal weights, unit gamma, zero beta and bias, running statistics (0, 1)."""
    p = {}
    for layer in net:
        p[f"{layer.name}.w"] = rng.standard_normal((layer.fan_in, layer.c_out)) * np.sqrt(2.0 / layer.fan_in)
        if layer.kind == "conv":
            p[f"{layer.name}.gamma"] = np.ones(layer.c_out)
            p[f"{layer.name}.beta"] = np.zeros(layer.c_out)
            p[f"{layer.name}.mean"] = np.zeros(layer.c_out)
            p[f"{layer.name}.var"] = np.ones(layer.c_out)
        else:
            p[f"{layer.name}.b"] = np.zeros(layer.c_out)
    return p


def forward(p, pixels, mode, net=REFERENCE_NET, weight_fn=None):
    """Logits and a cache for :func:`backward`. ``mode``: "fp32" (batch statistics, running ones updated) or "qat".

    ``weight_fn(layer, w)``, when given, replaces each layer's (fake-quantised) weights in the forward pass (device
    noise injection, model/drift_training.py); the gradient passes it straight through to the clean weights."""
    a = pixels.astype(np.float64) / 16.0
    cache = []
    for layer in net:
        n = a.shape[0]
        w = p[f"{layer.name}.w"]
        if mode == "qat":
            w_int, w_scale = quantise_weights(w)
            w = w_int * w_scale
        if weight_fn is not None:
            w = weight_fn(layer, w)
        if layer.kind == "fc":
            cols = a.reshape(n, -1)
            cache.append(dict(layer=layer, cols=cols, w=w, shape=a.shape))
            return cols @ w + p[f"{layer.name}.b"], cache
        cols = im2col(a, layer.k, layer.pad)
        side = cols.shape[1]
        cols = cols.reshape(-1, layer.fan_in)
        z = cols @ w
        c = dict(layer=layer, cols=cols, w=w, shape=a.shape, z=z)
        g = p[f"{layer.name}.gamma"]
        if mode == "fp32":
            mu, var = z.mean(axis=0), z.var(axis=0)
            inv = 1.0 / np.sqrt(var + BN_EPS)
            zh = (z - mu) * inv
            p[f"{layer.name}.mean"] = (1 - _MOMENTUM) * p[f"{layer.name}.mean"] + _MOMENTUM * mu
            p[f"{layer.name}.var"] = (1 - _MOMENTUM) * p[f"{layer.name}.var"] + _MOMENTUM * var * len(z) / (len(z) - 1)
            y = g * zh + p[f"{layer.name}.beta"]
            c.update(zh=zh, inv=inv)
            mask = y > 0
            a = np.where(mask, y, 0.0)
        else:
            inv = 1.0 / np.sqrt(p[f"{layer.name}.var"] + BN_EPS)
            zh = (z - p[f"{layer.name}.mean"]) * inv
            y = g * zh + p[f"{layer.name}.beta"]
            c.update(zh=zh, inv=inv)
            s = float(p[f"{layer.name}.s_out"])
            u = y / s
            mask = (u > 0) & (u < _CODE_MAX)
            a = np.clip(np.floor(u + 0.5), 0, _CODE_MAX) * s
        c["mask"] = mask
        a = a.reshape(n, side, side, layer.c_out)
        c["pre_pool"] = a
        if layer.pool == "max2":
            a = host_pool(a, "max2")
        elif layer.pool == "gavg":
            if mode == "qat":
                a = host_pool(np.round(a / s).astype(np.int64), "gavg") * s
            else:
                a = a.mean(axis=(1, 2))
        cache.append(c)
    raise ValueError("network must end with an fc layer")


def _unpool(da, c):
    """Gradient through the host pooling after a layer: to the first maximum of each window, or spread evenly."""
    a = c["pre_pool"]
    pool = c["layer"].pool
    if pool == "max2":
        n, h, w, ch = a.shape
        win = a.reshape(n, h // 2, 2, w // 2, 2, ch).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, ch, 4)
        onehot = np.eye(4)[win.argmax(axis=-1)] * da[..., None]
        return onehot.reshape(n, h // 2, w // 2, ch, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(a.shape)
    if pool == "gavg":
        return np.broadcast_to(da.reshape(da.shape[0], 1, 1, -1) / (a.shape[1] * a.shape[2]), a.shape)
    return da


def backward(p, cache, dlogits, mode):
    """Gradients {parameter name: array} of the trainable parameters, given the ``cache`` of :func:`forward` and the
    gradient ``dlogits`` of the loss with respect to its logits (straight-through for every quantiser). Used by
    training and by model/drift.py's Fisher information."""
    grads = {}
    da = dlogits
    for c in reversed(cache):
        layer = c["layer"]
        if layer.kind == "fc":
            grads[f"{layer.name}.b"] = da.sum(axis=0)
            dz = da
        else:
            dy = _unpool(da, c).reshape(-1, layer.c_out) * c["mask"]
            g = p[f"{layer.name}.gamma"]
            zh = c["zh"]
            grads[f"{layer.name}.gamma"] = (dy * zh).sum(axis=0)
            grads[f"{layer.name}.beta"] = dy.sum(axis=0)
            dzh = dy * g
            if mode == "fp32":
                m = len(dzh)
                dz = c["inv"] / m * (m * dzh - dzh.sum(axis=0) - zh * (dzh * zh).sum(axis=0))
            else:
                dz = dzh * c["inv"]
        grads[f"{layer.name}.w"] = c["cols"].T @ dz
        if layer is cache[0]["layer"]:
            break
        dcols = dz @ c["w"].T
        if layer.kind == "fc":
            da = dcols.reshape(c["shape"])
        else:
            n, h, w, _ = c["shape"]
            da = col2im(dcols.reshape(n, h, w, -1), layer.k, layer.pad, c["shape"])
    return grads


def softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy of ``logits`` (N, classes) against integer ``labels``, and its gradient."""
    z = logits - logits.max(axis=1, keepdims=True)
    pr = np.exp(z)
    pr /= pr.sum(axis=1, keepdims=True)
    loss = -np.log(pr[np.arange(len(labels)), labels] + 1e-300).mean()
    pr[np.arange(len(labels)), labels] -= 1.0
    return loss, pr / len(labels)


class _Adam:
    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self, p, grads, lr):
        self.t += 1
        for k, g in grads.items():
            m = self.m[k] = self.b1 * self.m.get(k, 0.0) + (1 - self.b1) * g
            v = self.v[k] = self.b2 * self.v.get(k, 0.0) + (1 - self.b2) * g * g
            mh, vh = m / (1 - self.b1 ** self.t), v / (1 - self.b2 ** self.t)
            p[k] = p[k] - lr * mh / (np.sqrt(vh) + self.eps)


def _run_phase(p, x, y, rng, cfg, mode, epochs, lr, progress, weight_fn=None):
    """Mini-batch Adam with a cosine learning-rate schedule; returns the number of steps taken."""
    opt = _Adam(lr)
    steps_per_epoch = -(-len(x) // cfg.batch)
    total = epochs * steps_per_epoch if cfg.max_steps is None else min(cfg.max_steps, epochs * steps_per_epoch)
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        for i in range(0, len(x), cfg.batch):
            if step >= total:
                return step
            idx = order[i:i + cfg.batch]
            logits, cache = forward(p, x[idx], mode, weight_fn=weight_fn)
            loss, dlogits = softmax_cross_entropy(logits, y[idx])
            grads = backward(p, cache, dlogits, mode)
            opt.step(p, grads, lr * 0.5 * (1 + np.cos(np.pi * step / total)))
            losses.append(loss)
            step += 1
        if progress:
            progress(f"{mode} epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}")
    return step


def _calibrate_scales(p, x, cfg, net=REFERENCE_NET):
    """Output scale of every layer from the FP32 network on training images: a percentile of the post-ReLU
    activations / 255 for hidden layers, the largest |logit| / logit_code_max for the last."""
    logits, hidden = fp32_logits(p, x, net, return_all=True)
    for layer, y in zip(net, hidden):
        p[f"{layer.name}.s_out"] = np.float64(np.percentile(y, cfg.act_percentile) / _CODE_MAX)
    p[f"{net[-1].name}.s_out"] = np.float64(np.abs(logits).max() / cfg.logit_code_max)


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def train(cfg=TrainConfig(), progress=None, weight_fn=None):
    """Train the reference network; returns (params, meta). ``meta`` holds the configuration and the measured
    accuracies: FP32 (float, running BN statistics) and 8-bit (the integer digital path) on train and test.

    ``weight_fn(layer, w)`` perturbs the weights of every forward pass of both phases (see :func:`forward`)."""
    x_tr, y_tr, x_te, y_te = load_split()
    rng = np.random.default_rng(cfg.seed)
    p = init_params(rng)
    steps_fp32 = _run_phase(p, x_tr, y_tr, rng, cfg, "fp32", cfg.epochs_fp32, cfg.lr_fp32, progress, weight_fn)
    fp32_params = dict(p)
    _calibrate_scales(p, x_tr, cfg)
    steps_qat = _run_phase(p, x_tr, y_tr, rng, cfg, "qat", cfg.epochs_qat, cfg.lr_qat, progress, weight_fn) \
        if cfg.epochs_qat else 0
    q = digits_network(p)
    meta = {**{k: v for k, v in asdict(cfg).items() if v is not None},
            "steps_fp32": steps_fp32, "steps_qat": steps_qat,
            "fp32_train_accuracy": accuracy(fp32_logits(fp32_params, x_tr), y_tr),
            "fp32_test_accuracy": accuracy(fp32_logits(fp32_params, x_te), y_te),
            "int8_train_accuracy": accuracy(digital_forward(q, digits_inputs(x_tr)), y_tr),
            "int8_test_accuracy": accuracy(digital_forward(q, digits_inputs(x_te)), y_te),
            "n_train": len(y_tr), "n_test": len(y_te)}
    fp32 = {f"fp32.{k}": v for k, v in fp32_params.items()}
    return {**p, **fp32}, meta
