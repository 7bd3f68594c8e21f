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

Quantisation, matching the chip (model/quantise.py, the same for every network):

* activations are unsigned 8-bit codes ``q`` with one real scale per layer output (``a = q * s``), the ``s_out`` of
  quantisation-aware training (model/train.py); the input code is ``15 * pixel`` (0..240, exact) with scale 1/240 of
  full brightness;
* weights are quantised symmetrically per output channel to integers in [-127, 127];
* a layer's integer MVM ``acc = W_int^T q`` turns into the next layer's codes through the affine unit of
  ``model/arith.py::bn_requantise``: ``q' = clip(floor(acc * M_j + O_j + 1/2), 0, 255)`` with
  ``M_j = s_in * w_scale_j * A_j / s_out`` and ``O_j = B_j / s_out``, where ``A_j, B_j`` are the trained batch norm
  folded into an affine map; the last layer gives signed logits in units of its ``s_out``.
* host-side operations between layers work on the integer codes exactly: zero padding (code 0 is activation 0),
  im2col, 2x2 max pooling and the global average pool (sum of 16 codes, rounded half up, ``(sum + 8) >> 4``).

The twin runs this network as any other (docs/architecture.md D9): :func:`digits_graph` is it as a
:class:`~neurophase.model.graph.Graph` (what an ONNX import gives; model/zoo/digits.py writes it as ONNX), with the
activation scales of its quantisation-aware training given, and :func:`digits_network` its quantised form with its
data (inputs ``pixel / 16`` in ONNX layout, :func:`digits_inputs`). :func:`fp32_logits` is the float network.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurophase.model.checks import check_int, check_unsigned_array
from neurophase.model.graph import Window
from neurophase.model.host_ops import average_codes, im2col as _im2col, window_max
from neurophase.model.npz import read_npz

__all__ = ["Layer", "REFERENCE_NET", "INPUT_SHAPE", "N_TEST", "SPLIT_SEED", "WEIGHTS_PATH", "load_split",
           "im2col", "col2im", "host_pool", "quant_layers", "fp32_logits",
           "save_weights", "load_weights", "param_shapes", "layer_shapes", "fp32_params", "digits_inputs",
           "digits_graph", "digits_network"]

INPUT_SHAPE = (8, 8, 1)        # H, W, C of a digit
N_TEST = 360                   # held-out images
SPLIT_SEED = 0                 # seed of the train/test permutation
INPUT_CODE_PER_PIXEL = 15      # pixel 0..16 -> code 0..240: exact, no rounding
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


def _check_pixels(pixels):
    p = check_unsigned_array("pixels", pixels, 5)
    if p.size and p.max() > 16:
        raise ValueError(f"pixels must be integers in [0, 16], got {int(p.max())}")
    return p


# -- host-side tensor operations --------------------------------------------------------------------------------------
def im2col(x, k, pad):
    """Patches of ``x`` (N, H, W, C) for a k x k stride-1 convolution with zero padding ``pad``: (N, H', W', k*k*C),
    rows ordered (ky, kx, c) (model/host_ops.py ``im2col``)."""
    return _im2col(x, Window((k, k), (1, 1), (pad,) * 4))


def col2im(cols, k, pad, shape):
    """Adjoint of :func:`im2col`: add patch gradients (N, H', W', k*k*C) back onto an (N, H, W, C) array."""
    n, h, w, c = shape
    ho, wo = cols.shape[1], cols.shape[2]
    out = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=cols.dtype)
    for i, (dy, dx) in enumerate((dy, dx) for dy in range(k) for dx in range(k)):
        out[:, dy:dy + ho, dx:dx + wo, :] += cols[..., i * c:(i + 1) * c]
    return out[:, pad:pad + h, pad:pad + w, :] if pad else out


def host_pool(q, pool):
    """Host-side pooling of (N, H, W, C): "max2" (2x2 max) or "gavg" (mean of the H*W integer codes, half up)."""
    if pool is None:
        return q
    if pool == "max2":
        return window_max(q, Window((2, 2), (2, 2)), 0)
    if pool == "gavg":
        return average_codes(q.sum(axis=(1, 2)), q.shape[1] * q.shape[2])
    raise ValueError(f"pool must be None, 'max2' or 'gavg', got {pool!r}")


# -- quantisation ---------------------------------------------------------------------------------------------------
def quant_layers(params):
    """The integer layers (model/quantise.py ``QuantLayer``) of the digits network with trained ``params``."""
    return list(digits_network(params).layers)


def fp32_logits(params, pixels, net=REFERENCE_NET, return_all=False):
    """Float inference (batch norm with running statistics, no quantisation): logits (N, 10).

    With ``return_all`` also returns every hidden layer's post-ReLU outputs (N * positions, c_out) as a list.
    """
    from neurophase.model.lowering import lower
    hidden = [f"{layer.name}.relu" for layer in net if layer.kind == "conv"]
    logits, kept = lower(digits_graph(params, net, scales=False)).forward(digits_inputs(pixels), set(hidden))
    if return_all:
        return logits, [kept[t].reshape(-1, kept[t].shape[-1]) for t in hidden]
    return logits


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
    arrays = read_npz(path, "weights file", "give a .npz written by `neurophase train`")
    params = {k: v for k, v in arrays.items() if not k.startswith("meta.")}
    meta = {k[5:]: v.item() for k, v in arrays.items() if k.startswith("meta.")}
    for name, shape in param_shapes(net).items():
        if name not in params:
            raise ValueError(f"{what} lacks parameter {name} (shape {shape}): not weights of the reference network")
        if params[name].shape != shape:
            raise ValueError(f"{what}: parameter {name} has shape {params[name].shape}, the reference network "
                             f"needs {shape}")
    return params, meta


# -- the digits network as a graph (one network through the twin's general path) ----------------------------------
def digits_inputs(pixels):
    """The network's inputs (N, 1, 8, 8) float32 in ONNX layout, pixel / 16 in [0, 1] (exact), from digit pixels."""
    return (np.moveaxis(_check_pixels(pixels), -1, 1) / 16.0).astype(np.float32)


def digits_graph(params, net=REFERENCE_NET, scales=True, name="digits_cnn"):
    """The digits network of ``params`` as a :class:`~neurophase.model.graph.Graph`: each conv layer a Conv (no bias),
    BatchNorm and Relu, its pooling after it, the fc layer a Dense with bias after a Flatten. With ``scales``, the
    activation scales of its quantisation-aware training are given: input 1/240 (code 15 x pixel), each layer's
    ``s_out``."""
    from neurophase.model import graph as G
    nodes, x = [], "input"
    given = {"input": G.ActivationScale(1.0 / (16 * INPUT_CODE_PER_PIXEL))} if scales else {}
    p = lambda layer, k: np.asarray(params[f"{layer.name}.{k}"], np.float64)
    for layer in net:
        if layer.kind == "fc":
            nodes.append(G.Node(f"{layer.name}.flatten", G.Flatten(), (x,), f"{layer.name}.in"))
            nodes.append(G.Node(layer.name, G.Dense(p(layer, "w"), p(layer, "b")), (f"{layer.name}.in",), "logits"))
            x = "logits"
        else:
            w = p(layer, "w").reshape(layer.k, layer.k, layer.c_in, layer.c_out).transpose(3, 2, 0, 1)
            conv = G.Conv(np.ascontiguousarray(w), None, (1, 1), (layer.pad,) * 4)
            bn = G.BatchNorm(p(layer, "gamma"), p(layer, "beta"), p(layer, "mean"), p(layer, "var"), BN_EPS)
            nodes += [G.Node(layer.name, conv, (x,), f"{layer.name}.conv"),
                      G.Node(f"{layer.name}.bn", bn, (f"{layer.name}.conv",), f"{layer.name}.bn"),
                      G.Node(f"{layer.name}.relu", G.Relu(), (f"{layer.name}.bn",), f"{layer.name}.relu")]
            x = f"{layer.name}.relu"
            if layer.pool == "max2":
                nodes.append(G.Node(f"{layer.name}.pool", G.MaxPool(G.Window((2, 2), (2, 2))), (x,),
                                    f"{layer.name}.pool"))
                x = f"{layer.name}.pool"
            elif layer.pool == "gavg":
                nodes.append(G.Node(f"{layer.name}.pool", G.GlobalAveragePool(), (x,), f"{layer.name}.pool"))
                x = f"{layer.name}.pool"
        if scales:
            given[x if layer.kind == "fc" else f"{layer.name}.relu"] = G.ActivationScale(float(p(layer, "s_out")))
    h, w, c = INPUT_SHAPE
    return G.Graph(name, "input", (c, h, w), nodes, "logits", given)


def digits_network(params=None, name="digits_cnn"):
    """The digits network (default: the shipped weights) quantised with its own activation scales: a
    :class:`~neurophase.model.quantise.QuantNetwork` whose calibration inputs are the training split (the chip's ADC
    ranges use the first 200, the drift reference the first 100) and whose test set is the held-out 360 images."""
    from neurophase.model.lowering import lower
    from neurophase.model.quantise import LabelledSet, quantise
    if params is None:
        params, _ = load_weights()
    graph = digits_graph(params, name=name)
    x_tr, _, x_te, y_te = load_split()
    return quantise(lower(graph), digits_inputs(x_tr), graph.scales, LabelledSet(digits_inputs(x_te), y_te))
