"""Constrained-random networks for the chip RTL's regression: seeded graphs that exercise what the compiler emits.

Ref: docs/architecture.md D9 (import, lowering, quantisation), D16 (the chip RTL for any network). A seed gives a
:class:`~neurophase.model.graph.Graph` (model/graph.py) of random shape and weights, quantised with random
calibration inputs like any network a user brings, and a :class:`~neurophase.model.chip.Chip` programmed with it on
tiles of :class:`RegressionChip`'s reduced size (32 rows x 16 columns by default), so that reduction groups of several
tiles and layers of several column blocks stay cheap to simulate. What a network may hold:

* 1 to 4 convolution stages on a 4..8 pixel square input of 1..4 channels: kernel 1, 2 or 3, stride 1 or 2,
  zero or "same" padding, 2..64 output channels (up to four 16-column blocks), BN and ReLU;
* a residual block in a stage: a 3x3 branch and an identity or 1x1 projection shortcut (BN, no ReLU), added, then
  ReLU;
* max or average pooling after a stage (2x2, stride 2, when the map is large enough);
* a global average pool or a flatten, then a dense classifier of 2..24 outputs;
* each layer's tiles read bit-serially or by PWM (docs/architecture.md D8), drawn per layer (PWM with probability
  ``RegressionChip.pwm_share``) from a stream of the seed apart from the network's, so a chip may be all bit-serial,
  all PWM or mixed, and a seed's network is the same whatever the share.

Fan-ins run from a fraction of a tile (a 1x1 conv on one channel) to many tiles (a 3x3 conv on 64 channels is 576
rows, a reduction group of 18 tiles of 32 rows, the largest the chip adds). A draw that needs more tiles or a larger
group than the chip has is drawn again from the same generator, so a seed always names one network.
"""

from dataclasses import dataclass

import numpy as np

from neurophase.model import graph as G
from neurophase.model.checks import check_int, check_probability
from neurophase.model.interface import InputEncoding

__all__ = ["MAX_HW", "RegressionChip", "random_graph", "random_network", "layer_encodings", "random_chip",
           "network_features"]

_DRAWS = 50         # draws per seed before giving up (a seed that never fits is an error naming it)
MAX_HW = 8          # largest input height and width: no layer has more than MAX_HW^2 MVMs per input


@dataclass(frozen=True)
class RegressionChip:
    """The chip the random networks run on: ``tiles`` tiles of ``rows`` x ``columns``, reduction groups of up to
    ``max_group`` tiles, ``images`` test inputs per network, a layer's tiles reading by PWM with probability
    ``pwm_share`` (else bit-serially)."""
    tiles: int = 32
    rows: int = 32
    columns: int = 16
    max_group: int = 18
    images: int = 2
    pwm_share: float = 0.5

    def __post_init__(self):
        check_int("tiles", self.tiles, 1, 254)
        check_int("rows", self.rows, 4, 256)
        check_int("columns", self.columns, 1, 128)
        check_int("max_group", self.max_group, 1, self.tiles)
        check_int("images", self.images, 1, 32)
        check_probability("pwm_share", self.pwm_share)

    def chip_config(self, tile_encodings=()):
        """The model/chip.py ``ChipConfig`` of the chip, its tiles bit-serial but those in ``tile_encodings``."""
        from neurophase.model.chip import ChipConfig
        from neurophase.model.tile import TileConfig
        return ChipConfig(tile=TileConfig(rows=self.rows, bitlines=2 * self.columns), tiles=self.tiles,
                          n_calibration=16, tile_encodings=tile_encodings)


class _Builder:
    """Appends nodes with random weights; tracks the current tensor's (C, H, W)."""

    def __init__(self, rng, shape):
        self.rng, self.nodes, self.x, self.shape = rng, [], "input", shape

    def add(self, name, op, inputs, shape):
        self.nodes.append(G.Node(name, op, tuple(inputs), name))
        self.x, self.shape = name, shape
        return name

    def conv(self, name, x, c_in, hw, c_out, k, stride, pad, relu=True):
        r = self.rng
        w = r.normal(0, np.sqrt(2 / (c_in * k * k)), (c_out, c_in, k, k))
        bias = r.normal(0, 0.1, c_out) if r.random() < 0.5 else None
        conv = G.Conv(w, bias, (stride, stride), (pad,) * 4)
        ho, wo = conv.window.out_hw(hw, hw)
        y = self.add(name, conv, [x], (c_out, ho, wo))
        bn = G.BatchNorm(r.uniform(0.5, 1.5, c_out), r.normal(0, 0.2, c_out), r.normal(0, 0.2, c_out),
                         r.uniform(0.5, 2.0, c_out))
        y = self.add(f"{name}.bn", bn, [y], self.shape)
        return self.add(f"{name}.relu", G.Relu(), [y], self.shape) if relu else y


def _stage(b, s):
    """One random convolution stage (with a residual block, sometimes) and its pooling."""
    r = b.rng
    c, hw, _ = b.shape
    c_out = int(r.integers(2, 65))
    k = int(r.choice([1, 2, 3]))
    stride = 2 if hw >= 4 and r.random() < 0.3 else 1
    pad = k // 2 if k != 2 and r.random() < 0.7 else 0
    if hw + 2 * pad < k:
        k, pad = 1, 0
    x = b.conv(f"s{s}.conv", b.x, c, hw, c_out, k, stride, pad)
    if r.random() < 0.4:                    # residual block: 3x3 branch + identity or 1x1 projection
        c, hw, _ = b.shape
        c_res = c if r.random() < 0.5 else int(r.integers(2, 33))
        branch = b.conv(f"s{s}.branch", x, c, hw, c_res, 3, 1, 1, relu=False)
        short = x if c_res == c else b.conv(f"s{s}.proj", x, c, hw, c_res, 1, 1, 0, relu=False)
        y = b.add(f"s{s}.add", G.Add(), [branch, short], (c_res, hw, hw))
        b.add(f"s{s}.add.relu", G.Relu(), [y], b.shape)
    c, hw, _ = b.shape
    if hw >= 4 and r.random() < 0.4:
        window = G.Window((2, 2), (2, 2))
        op = G.MaxPool(window) if r.random() < 0.5 else G.AveragePool(window)
        b.add(f"s{s}.pool", op, [b.x], (c, hw // 2, hw // 2))


def random_graph(rng, name="random"):
    """One random network (:class:`~neurophase.model.graph.Graph`) drawn from ``rng``."""
    c_in, hw = int(rng.integers(1, 5)), int(rng.integers(4, MAX_HW + 1))
    b = _Builder(rng, (c_in, hw, hw))
    for s in range(int(rng.integers(1, 5))):
        _stage(b, s)
    c, h, w = b.shape
    if rng.random() < 0.5 or h * w * c > 200:
        b.add("gap", G.GlobalAveragePool(), [b.x], (c, 1, 1))
        c, h, w = b.shape
    b.add("flatten", G.Flatten(), [b.x], (c * h * w,))
    classes = int(rng.integers(2, 25))
    fc = G.Dense(rng.normal(0, np.sqrt(1 / (c * h * w)), (c * h * w, classes)), rng.normal(0, 0.1, classes))
    b.add("fc", fc, [b.x], (classes,))
    return G.Graph(name, "input", (c_in, hw, hw), b.nodes, "fc")


def _quantised(graph, rng, images):
    from neurophase.model.lowering import lower
    from neurophase.model.quantise import LabelledSet, quantise
    shape = graph.input_shape
    calibration = rng.normal(size=(16, *shape))
    classes = int(np.prod(graph.shapes()[graph.output]))
    test = LabelledSet(rng.normal(size=(images, *shape)), rng.integers(0, classes, images))
    return quantise(lower(graph), calibration, None, test)


def _fits(net, chip):
    from neurophase.model.mapper import map_network
    try:
        mapping = map_network(net, chip.chip_config().geometry, strict=False)
    except ValueError:                      # a reduction group larger than the chip
        return False
    groups = max(len(mapping.reduction_group(a.tile)) for a in mapping.tiles)
    return mapping.chips == 1 and groups <= chip.max_group


def random_network(seed, chip=RegressionChip()):
    """The quantised network (model/quantise.py ``QuantNetwork``) of ``seed``, fitting on one ``chip``, with
    ``chip.images`` random test inputs."""
    seed = check_int("seed", seed, 0, 2 ** 32 - 1)
    rng = np.random.default_rng([seed, 0x5EED])
    for _ in range(_DRAWS):
        net = _quantised(random_graph(rng, f"random{seed}"), rng, chip.images)
        if _fits(net, chip):
            return net
    raise ValueError(f"seed {seed}: no network in {_DRAWS} draws fits {chip}")


def layer_encodings(seed, net, pwm_share):
    """The input encoding of each layer of ``net`` (name -> InputEncoding), drawn from ``seed``: PWM with probability
    ``pwm_share``."""
    rng = np.random.default_rng([seed, 0xE1C0])
    return {ql.name: InputEncoding.PWM if rng.random() < pwm_share else InputEncoding.BIT_SERIAL for ql in net.layers}


def random_chip(seed, chip=RegressionChip()):
    """The network of ``seed`` programmed (chip seed ``seed``) on ``chip``'s reduced tiles, each layer's tiles with
    the encoding :func:`layer_encodings` draws: a model/chip.py ``Chip``."""
    from neurophase.model.chip import Chip
    from neurophase.model.mapper import map_network
    net = random_network(seed, chip)
    encodings = layer_encodings(seed, net, chip.pwm_share)
    mapping = map_network(net, chip.chip_config().geometry, strict=False)
    pwm = tuple((a.tile, InputEncoding.PWM) for a in mapping.tiles if encodings[a.layer] is InputEncoding.PWM)
    return Chip.program(net, seed=seed, config=chip.chip_config(pwm))


def network_features(chip):
    """What a programmed chip's network exercises: the largest reduction group (tiles), the most column blocks of a
    layer, the residual adds, pooling steps, chip layers and the layers whose tiles read by PWM."""
    from neurophase.model.layers import Pool, ResidualAdd
    m = chip.mapping
    steps = chip.network.network.steps
    return dict(layers=len(chip.network.layers), tiles=m.tiles_needed,
                max_group=max(len(m.reduction_group(a.tile)) for a in m.tiles),
                max_col_blocks=max(a.col_block for a in m.tiles) + 1,
                residual_adds=sum(isinstance(s, ResidualAdd) for s in steps),
                pools=sum(isinstance(s, Pool) for s in steps),
                pwm_layers=sum(chip.encoding(m.layer_tiles(ql.name)[0].tile) is InputEncoding.PWM
                               for ql in chip.network.layers),
                fan_ins=[ql.layer.fan_in for ql in chip.network.layers],
                fan_outs=[ql.layer.c_out for ql in chip.network.layers])
