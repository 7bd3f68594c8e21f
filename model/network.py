"""The reference network: a small CNN for scikit-learn's 8x8 digits, its data split, and its inference paths.

Ref: docs/architecture.md §2, §4 (the chip's arithmetic that the 8-bit path matches).

Data: ``sklearn.datasets.load_digits`` (1,797 images of 8x8 pixels with values 0..16; ships inside scikit-learn,
no download). A fixed seeded permutation holds out ``N_TEST`` = 360 images as the test set.

Network (:data:`REFERENCE_NET`), activations NHWC, every convolution 3x3 with zero padding 1 (shape kept):

====== ======================== ========= ======= ============ ==========================
layer  operation                fan-in    outputs MVMs / image after (host side)
====== ======================== ========= ======= ============ ==========================
conv1  3x3 conv 1->16, BN, ReLU   9        16      64           -
conv2  3x3 conv 16->32, BN, ReLU  144      32      64           2x2 max pool -> 4x4
conv3  3x3 conv 32->64, BN, ReLU  288      64      16           global average pool -> 64
fc     64 -> 10, bias             64       10      1            signed logits
====== ======================== ========= ======= ============ ==========================

conv3's im2col fan-in 288 exceeds a tile's 256 rows, so it is row-split over two tiles.

Quantisation, matching the chip:

* activations are unsigned 8-bit codes ``q`` with one real scale per layer output (``a = q * s``); the input code is
  ``15 * pixel`` (0..240, exact) with scale 1/240 of full brightness;
* weights are quantised symmetrically per output channel to integers in [-127, 127] (:func:`quantise_weights`);
* a layer's integer MVM ``acc = W_int^T q`` turns into the next layer's codes through the affine unit of
  ``model/arith.py::bn_requantise``: ``q' = clip(floor(acc * M_j + O_j + 1/2), 0, 255)`` with
  ``M_j = s_in * w_scale_j * A_j / s_out`` and ``O_j = B_j / s_out``, where ``A_j, B_j`` are the trained batch norm
  folded into an affine map (:func:`folded_affine`). :func:`affine_registers` turns ``M, O`` into the integer
  BN registers (model/arith.py ``BnRegisters``); the last layer gives signed logits in units of ``logit_scale``.
* host-side operations between layers work on the integer codes exactly: zero padding (code 0 is activation 0),
  im2col, 2x2 max pooling and the global average pool (sum of 16 codes, rounded half up, ``(sum + 8) >> 4``).

Inference paths: :func:`fp32_logits` (float, batch norm with running statistics) and :func:`digital_forward`
(exact integer MVMs, then the chip's integer affine unit; the "8-bit digital" reference).
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurophase.model.arith import BnRegisters, PeripheryFormat
from neurophase.model.checks import check_int, check_shape, check_unsigned_array, signed_range

__all__ = ["Layer", "REFERENCE_NET", "INPUT_SHAPE", "N_TEST", "SPLIT_SEED", "WEIGHTS_PATH", "load_split",
           "input_codes", "im2col", "col2im", "host_pool", "quantise_weights", "folded_affine", "QuantLayer",
           "quant_layers", "affine_registers", "DIGITAL_FORMAT", "digital_forward", "fp32_logits",
           "save_weights", "load_weights", "param_shapes", "layer_shapes", "layer_vectors", "next_codes", "fp32_params"]

INPUT_SHAPE = (8, 8, 1)        # H, W, C of a digit
N_TEST = 360                   # held-out images
SPLIT_SEED = 0                 # seed of the train/test permutation
INPUT_CODE_PER_PIXEL = 15      # pixel 0..16 -> code 0..240: exact, no rounding
B_IN = 8
W_LEVELS = 127                 # symmetric 8-bit weights
BN_EPS = 1e-5
WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "digits_cnn.npz"


@dataclass(frozen=True)
class Layer:
    """One layer of a network. ``kind`` is "conv" (k x k, zero padding ``pad``, BN, ReLU) or "fc" (bias, signed
    output, the last layer). ``pool`` is the host-side operation after it: None, "max2" or "gavg"."""
    name: str
    kind: str
    c_in: int
    c_out: int
    k: int = 1
    pad: int = 0
    pool: str = None

    @property
    def fan_in(self):
        return self.k * self.k * self.c_in


REFERENCE_NET = (
    Layer("conv1", "conv", 1, 16, k=3, pad=1),
    Layer("conv2", "conv", 16, 32, k=3, pad=1, pool="max2"),
    Layer("conv3", "conv", 32, 64, k=3, pad=1, pool="gavg"),
    Layer("fc", "fc", 64, 10),
)


def layer_shapes(net=REFERENCE_NET, input_shape=INPUT_SHAPE):
    """(name, fan_in, fan_out, MVMs per image) of every layer: what the mapper needs."""
    h, w, _ = input_shape
    out = []
    for layer in net:
        if layer.kind == "conv":
            h, w = h + 2 * layer.pad - layer.k + 1, w + 2 * layer.pad - layer.k + 1
            out.append((layer.name, layer.fan_in, layer.c_out, h * w))
            if layer.pool == "max2":
                h, w = h // 2, w // 2
            elif layer.pool == "gavg":
                h, w = 1, 1
        else:
            out.append((layer.name, layer.fan_in, layer.c_out, 1))
    return out


# -- data -----------------------------------------------------------------------------------------------------------
def load_split(seed=SPLIT_SEED, n_test=N_TEST):
    """(x_train, y_train, x_test, y_test): pixels as int64 (N, 8, 8, 1) in 0..16, labels int64 (N,)."""
    from sklearn.datasets import load_digits
    d = load_digits()
    n = len(d.target)
    n_test = check_int("n_test", n_test, 1, n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    x = d.images.astype(np.int64).reshape(n, 8, 8, 1)
    y = d.target.astype(np.int64)
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]


def input_codes(pixels):
    """Unsigned 8-bit input codes of digit pixels (integers 0..16): 15 * pixel (0..240), exact."""
    return _check_pixels(pixels) * INPUT_CODE_PER_PIXEL


def _check_pixels(pixels):
    p = check_unsigned_array("pixels", pixels, 5)
    if p.size and p.max() > 16:
        raise ValueError(f"pixels must be integers in [0, 16], got {int(p.max())}")
    return p


# -- host-side tensor operations --------------------------------------------------------------------------------------
def im2col(x, k, pad):
    """Patches of ``x`` (N, H, W, C) for a k x k stride-1 convolution with zero padding ``pad``.

    Returns (N, H', W', k*k*C), patch rows ordered (ky, kx, c): the order of the weight matrix rows and of a
    tile's wordlines.
    """
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else x
    ho, wo = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    return np.concatenate([xp[:, dy:dy + ho, dx:dx + wo, :] for dy in range(k) for dx in range(k)], axis=3)


def col2im(cols, k, pad, shape):
    """Adjoint of :func:`im2col`: add patch gradients (N, H', W', k*k*C) back onto an (N, H, W, C) array."""
    n, h, w, c = shape
    ho, wo = cols.shape[1], cols.shape[2]
    out = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=cols.dtype)
    for i, (dy, dx) in enumerate((dy, dx) for dy in range(k) for dx in range(k)):
        out[:, dy:dy + ho, dx:dx + wo, :] += cols[..., i * c:(i + 1) * c]
    return out[:, pad:pad + h, pad:pad + w, :] if pad else out


def host_pool(q, pool):
    """Host-side pooling of integer codes (N, H, W, C): "max2" (2x2 max) or "gavg" (mean of H*W codes, half up)."""
    if pool is None:
        return q
    n, h, w, c = q.shape
    if pool == "max2":
        return q.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    if pool == "gavg":
        hw = h * w
        if hw & (hw - 1):
            raise ValueError(f"gavg pooling needs a power-of-two H*W, got {h}x{w}")
        return (q.sum(axis=(1, 2)) + hw // 2) >> (hw.bit_length() - 1)
    raise ValueError(f"pool must be None, 'max2' or 'gavg', got {pool!r}")


# -- quantisation ---------------------------------------------------------------------------------------------------
def quantise_weights(w, levels=W_LEVELS):
    """Symmetric per-output-channel quantisation of ``w`` (fan_in, c_out): (integers in [-levels, levels], scale)."""
    absmax = np.abs(w).max(axis=0)
    scale = np.where(absmax > 0, absmax, 1.0) / levels
    return np.clip(np.round(w / scale), -levels, levels).astype(np.int64), scale


def folded_affine(params, layer):
    """(A, B): the layer's batch norm (running statistics) or bias as the per-channel affine map y = A z + B."""
    p = lambda k: params[f"{layer.name}.{k}"]
    if layer.kind == "fc":
        return np.ones(layer.c_out), p("b").astype(np.float64)
    a = p("gamma") / np.sqrt(p("var") + BN_EPS)
    return a, p("beta") - a * p("mean")


@dataclass
class QuantLayer:
    """A layer as the integer datapath sees it: integer weights and the real affine map from acc to output codes.

    ``mult`` and ``offset`` give the next codes as floor(acc * mult + offset + 1/2) (then ReLU and clamp, or signed
    logits for the last layer) when acc is the exact integer MVM ``w_int^T q``.
    """
    layer: Layer
    w_int: np.ndarray        # (fan_in, c_out) int64 in [-127, 127]
    w_scale: np.ndarray      # (c_out,) real weight per integer level
    s_in: float              # real activation per input code
    s_out: float             # real activation (or logit) per output code
    mult: np.ndarray         # (c_out,)
    offset: np.ndarray       # (c_out,)

    @property
    def last(self):
        return self.layer.kind == "fc"


def quant_layers(params, net=REFERENCE_NET):
    """The integer view (:class:`QuantLayer`) of every layer of trained ``params``."""
    out = []
    s_in = 1.0 / (16 * INPUT_CODE_PER_PIXEL)
    for layer in net:
        w_int, w_scale = quantise_weights(params[f"{layer.name}.w"])
        a, b = folded_affine(params, layer)
        s_out = float(params[f"{layer.name}.s_out"])
        out.append(QuantLayer(layer, w_int, w_scale, s_in, s_out, s_in * w_scale * a / s_out, b / s_out))
        s_in = s_out
    return out


def affine_registers(mult, offset, fmt):
    """The integer :class:`~neurophase.model.arith.BnRegisters` for real ``mult`` and ``offset`` per channel.

    scale = round(mult 2^r), bias = round(offset 2^r), with the largest shift r <= fmt.shift_max for which every
    scale fits fmt.scale_bits and every bias fits fmt.bias_bits (most precision). Raises when no shift fits.
    """
    mult, offset = np.asarray(mult, np.float64), np.asarray(offset, np.float64)
    smax, bmax = signed_range(fmt.scale_bits)[1], signed_range(fmt.bias_bits)[1]
    for r in range(fmt.shift_max, -1, -1):
        s, b = np.round(mult * 2.0 ** r), np.round(offset * 2.0 ** r)
        if np.abs(s).max() <= smax and np.abs(b).max() + (1 << r) <= bmax:
            return BnRegisters(s.astype(np.int64), b.astype(np.int64), r)
    raise ValueError(f"affine multipliers up to {np.abs(mult).max():g} do not fit {fmt.scale_bits}-bit scale "
                     f"registers even with shift 0")


# The exact integer MVM of a layer needs up to 9 + 8 + 8 + 1 bits; the digital path's affine unit is the chip's
# bn_requantise with accumulator and scale wide enough that its registers lose no precision.
DIGITAL_FORMAT = PeripheryFormat(acc_bits=32, scale_bits=20, bias_bits=48, shift_max=40)


def layer_vectors(q, layer):
    """MVM input vectors (N * positions, fan_in) of ``layer`` from the previous layer's codes (N, H, W, C) or (N, C):
    host-side zero padding and im2col for a convolution; positions row-major over the output H x W."""
    if layer.kind == "conv":
        cols = im2col(q, layer.k, layer.pad)
        return cols.reshape(-1, cols.shape[-1])
    return q.reshape(q.shape[0], -1)


def next_codes(y, q_in, layer):
    """The next layer's input codes from ``layer``'s outputs (N * positions, c_out) for input codes ``q_in``:
    reshape to (N, H, W, C) and host-side pooling (a convolution), or the outputs themselves (the last layer)."""
    if layer.kind != "conv":
        return y
    side = q_in.shape[1] + 2 * layer.pad - layer.k + 1
    return host_pool(y.reshape(q_in.shape[0], side, side, layer.c_out), layer.pool)


def digital_forward(qlayers, pixels, return_all=False):
    """The 8-bit digital path: exact integer MVMs and the integer affine unit. Returns int64 logits (N, 10).

    With ``return_all`` also returns every layer's outputs (N * positions, c_out), before host pooling, as a list.
    """
    q = input_codes(pixels)
    check_shape("pixels", q, (None,) + INPUT_SHAPE)
    outs = []
    for ql in qlayers:
        acc = layer_vectors(q, ql.layer) @ ql.w_int
        y, _ = affine_registers(ql.mult, ql.offset, DIGITAL_FORMAT).requantise(acc, DIGITAL_FORMAT, relu=not ql.last,
                                                                               last=ql.last)
        outs.append(y)
        q = next_codes(y, q, ql.layer)
    return (q, outs) if return_all else q


def fp32_logits(params, pixels, net=REFERENCE_NET, return_all=False):
    """Float inference (batch norm with running statistics, no quantisation): logits (N, 10).

    With ``return_all`` also returns every hidden layer's post-ReLU outputs (N * positions, c_out) as a list.
    """
    a = _check_pixels(pixels).astype(np.float64) / 16.0
    hidden = []
    for layer in net:
        A, B = folded_affine(params, layer)
        y = (layer_vectors(a, layer) @ params[f"{layer.name}.w"]) * A + B
        if layer.kind == "fc":
            return (y, hidden) if return_all else y
        hidden.append(np.maximum(y, 0))
        side = a.shape[1] + 2 * layer.pad - layer.k + 1
        a = hidden[-1].reshape(a.shape[0], side, side, layer.c_out)
        if layer.pool == "max2":
            a = host_pool(a, "max2")
        elif layer.pool == "gavg":
            a = a.mean(axis=(1, 2))
    raise ValueError("network must end with an fc layer")


def fp32_params(params):
    """The FP32 network's parameters, stored beside the QAT ones under the prefix "fp32."."""
    out = {k[5:]: v for k, v in params.items() if k.startswith("fp32.")}
    if not out:
        raise ValueError("params hold no FP32 network (keys 'fp32.*')")
    return out


# -- persistence ----------------------------------------------------------------------------------------------------
def save_weights(path, params, meta):
    """Write parameters (name -> array) and metadata (str -> number or str) to one .npz."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: np.asarray(v) for k, v in params.items()},
                        **{f"meta.{k}": np.asarray(v) for k, v in meta.items()})


def param_shapes(net=REFERENCE_NET):
    """{name: shape} of the parameters a weights file holds for ``net``: the QAT network's and, under the prefix
    "fp32.", the FP32 network's (no ``s_out``)."""
    shapes = {}
    for layer in net:
        own = {"w": (layer.fan_in, layer.c_out)}
        own.update({"b": (layer.c_out,)} if layer.kind == "fc" else
                   {k: (layer.c_out,) for k in ("gamma", "beta", "mean", "var")})
        shapes.update({f"{layer.name}.{k}": s for k, s in own.items()})
        shapes[f"{layer.name}.s_out"] = ()
        shapes.update({f"fp32.{layer.name}.{k}": s for k, s in own.items()})
    return shapes


def load_weights(path=WEIGHTS_PATH, net=REFERENCE_NET):
    """(params, meta) from a .npz written by :func:`save_weights` (default: the shipped weights).

    Anything else (no such file, a folder, an empty or truncated file, another format, a parameter missing or of
    the wrong shape for ``net``) raises ValueError naming the file and what is wrong."""
    path = Path(path)
    what = f"weights file {path}"
    if not path.exists():
        raise ValueError(f"{what} does not exist (give a .npz written by `neurophase train`)")
    if path.is_dir():
        raise ValueError(f"{what} is a folder (give a .npz written by `neurophase train`)")
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:   # numpy leaks its own file on errors
            params = {k: f[k] for k in f.files if not k.startswith("meta.")}
            meta = {k[5:]: f[k].item() for k in f.files if k.startswith("meta.")}
    except (EOFError, OSError, TypeError, ValueError, zipfile.BadZipFile) as e:
        reason = "empty" if path.stat().st_size == 0 else "truncated or damaged" if isinstance(
            e, (EOFError, zipfile.BadZipFile)) else "not an .npz archive"
        raise ValueError(f"{what} is {reason} (give a .npz written by `neurophase train`)") from None
    for name, shape in param_shapes(net).items():
        if name not in params:
            raise ValueError(f"{what} lacks parameter {name} (shape {shape}): not weights of the reference network")
        if params[name].shape != shape:
            raise ValueError(f"{what}: parameter {name} has shape {params[name].shape}, the reference network "
                             f"needs {shape}")
    return params, meta
