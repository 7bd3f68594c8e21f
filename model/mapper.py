"""Mapping of a network's layers onto the chip's tiles.

Ref: docs/architecture.md §2 (tile geometry), §4 step 4 (row split, partial sums added before BN).

A layer is an MVM of ``fan_in`` inputs (for a convolution: the im2col patch, k*k*C_in) by ``fan_out`` outputs, done
``mvms`` times per image (once per output position). On tiles of R rows x C logical columns (default 256 x 128):

* row split: fan_in > R splits the rows into ceil(fan_in / R) contiguous blocks (the first ones full); the tiles
  of one column block form a *reduction group* whose accumulators are added, saturating, in tile order, before BN;
* column split: fan_out > C splits the outputs into ceil(fan_out / C) contiguous blocks, each with its own BN.

Tiles are numbered from 0 in layer order, then column block, then row block, so a reduction group is a run of
consecutive tile numbers. Utilisation is the fraction of a tile's crossbar devices that hold weights:
rows_used * columns_used / (R * C).

Several chips. A network that needs more tiles than a chip has is placed on several chips (or, what is the same
placement, several programming passes of one chip, each pass holding one chip's share: docs/architecture.md D9):
tiles go to chip 0 in tile order until the next reduction group would not fit, then to chip 1, and so on, so a
reduction group (added by one chip's reducer) never spans two chips. Each tile has its ``chip`` and its ``slot``
there (the tile number in the chip's commands). :meth:`Mapping.table` reports the chips and their utilisation.

:func:`plan` maps any list of layers and reports how many tiles and chips it needs (use it for networks larger than
the chip, e.g. ResNet-50); it refuses only a layer whose reduction group the chip cannot add (more than the reducer's
``max_group`` tiles, model/interface.py ``CHIP_MAX_GROUP``: 18, ResNet-50's largest). :func:`map_layers` is the strict
variant that also raises when the network does not fit one chip.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from neurophase.model.checks import check_int, count_text
from neurophase.model.interface import CHIP_MAX_GROUP
from neurophase.model.workload import LayerWork

__all__ = ["ChipGeometry", "TileAssignment", "Mapping", "plan", "map_layers", "map_network"]


@dataclass(frozen=True)
class ChipGeometry:
    """Tiles on the chip, the rows / logical (signed) columns of each, and the largest reduction group its reducer
    adds (``max_group``; a chip of fewer tiles adds at most all of them: :attr:`group_limit`)."""
    tiles: int = 144
    rows: int = 256
    columns: int = 128
    max_group: int = CHIP_MAX_GROUP

    def __post_init__(self):
        check_int("tiles", self.tiles, 1, 1 << 20)
        check_int("rows", self.rows, 1, 1 << 16)
        check_int("columns", self.columns, 1, 1 << 16)
        check_int("max_group", self.max_group, 1, 1 << 20)

    @property
    def group_limit(self):
        """The most tiles one reduction group may hold on this chip."""
        return min(self.max_group, self.tiles)


@dataclass(frozen=True)
class TileAssignment:
    """The slice of one layer's weight matrix held by one tile: rows [row_start, row_stop) (im2col order) by
    output columns [col_start, col_stop); logical column j of the tile is output channel col_start + j. ``chip``
    and ``slot``: the chip (or programming pass) holding the tile and its tile number there."""
    tile: int
    layer: str
    layer_index: int
    row_block: int
    col_block: int
    row_start: int
    row_stop: int
    col_start: int
    col_stop: int
    mvms_per_image: int
    utilisation: float
    chip: int = 0
    slot: int = 0

    @property
    def rows(self):
        return self.row_stop - self.row_start

    @property
    def columns(self):
        return self.col_stop - self.col_start


@dataclass
class Mapping:
    """Result of mapping: tile assignments in tile order, per-layer summary, geometry, and whether it fits."""
    geometry: ChipGeometry
    tiles: list
    layers: list = field(default_factory=list)

    @property
    def tiles_needed(self):
        return len(self.tiles)

    @property
    def fits(self):
        """Whether the network fits one chip."""
        return self.tiles_needed <= self.geometry.tiles

    @property
    def chips(self):
        """Chips (or programming passes of one chip) the placement uses."""
        return 1 + max((t.chip for t in self.tiles), default=0)

    def chip_tiles(self, chip):
        """Assignments placed on chip ``chip``, in slot order."""
        check_int("chip", chip, 0, self.chips - 1)
        return [t for t in self.tiles if t.chip == chip]

    def tile(self, n):
        """The assignment of tile ``n``; ValueError naming the valid range otherwise."""
        check_int("tile", n, 0, self.tiles_needed - 1)
        return self.tiles[n]

    def layer_tiles(self, name):
        """Assignments of the layer called ``name``, in tile order."""
        out = [t for t in self.tiles if t.layer == name]
        if not out:
            raise ValueError(f"layer must be one of {[l['name'] for l in self.layers]}, got {name!r}")
        return out

    def reduction_group(self, n):
        """Tiles whose accumulators are added together with tile ``n``'s (its layer's tiles in its column block)."""
        a = self.tile(n)
        return [t.tile for t in self.tiles if t.layer == a.layer and t.col_block == a.col_block]

    def table(self):
        """The mapping table as text: one line per tile (with its chip and slot when there are several chips), then
        the chips' use."""
        many = self.chips > 1
        width = max([10] + [len(t.layer) for t in self.tiles])
        lines = [("chip.slot  " if many else "") + f"{'tile':>4}  {'layer':<{width}} {'rows':>11} {'columns':>9} "
                 f"{'MVMs/img':>8} {'util':>6}"]
        lines.append("-" * len(lines[0]))
        for t in self.tiles:
            split = f" (rows {t.row_block + 1}/{self._blocks(t.layer)[0]})" if self._blocks(t.layer)[0] > 1 else ""
            place = f"{t.chip:>4}.{t.slot:<5} " if many else ""
            lines.append(f"{place}{t.tile:>4}  {t.layer:<{width}} {t.row_start:>4}..{t.row_stop - 1:<5} "
                         f"{t.col_start:>3}..{t.col_stop - 1:<4} {t.mvms_per_image:>8} "
                         f"{100 * t.utilisation:>5.1f}%{split}")
        lines.append(lines[1])
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self):
        """One line (per chip when there are several): tiles used and mean utilisation."""
        used = sum(t.utilisation for t in self.tiles)
        text = (f"{self.tiles_needed} of {self.geometry.tiles} tiles used; mean utilisation of used tiles "
                f"{100 * used / max(1, self.tiles_needed):.1f}%")
        if self.fits:
            return text
        text = (f"{self.tiles_needed} tiles needed, the chip has {self.geometry.tiles}: DOES NOT FIT one chip; placed "
                f"on {self.chips} chips, or {self.chips} programming passes of one chip (each pass one chip's share); "
                f"mean utilisation of used tiles {100 * used / self.tiles_needed:.1f}%")
        for c in range(self.chips):
            ts = self.chip_tiles(c)
            util = sum(t.utilisation for t in ts)
            text += (f"\n  chip {c}: {len(ts)} of {self.geometry.tiles} tiles ({ts[0].layer} .. {ts[-1].layer}), "
                     f"device utilisation {100 * util / len(ts):.1f}% of used tiles, "
                     f"{100 * util / self.geometry.tiles:.1f}% of the chip")
        return text

    def _blocks(self, name):
        layer = next(l for l in self.layers if l["name"] == name)
        return layer["row_blocks"], layer["col_blocks"]

    def to_dict(self):
        return {"geometry": asdict(self.geometry), "tiles_needed": self.tiles_needed, "fits": self.fits,
                "chips": self.chips, "layers": self.layers,
                "tiles": [{**asdict(t), "rows": t.rows, "columns": t.columns} for t in self.tiles]}

    def write_json(self, path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path


def _check_layers(layers):
    names = set()
    out = []
    for i, entry in enumerate(layers):
        if len(entry) != 4:
            raise ValueError(f"layers[{i}] must be (name, fan_in, fan_out, mvms_per_image), got {entry!r}")
        name, fan_in, fan_out, mvms = entry
        if not isinstance(name, str) or not name or name in names:
            raise ValueError(f"layers[{i}] name must be a unique non-empty string, got {name!r}")
        names.add(name)
        out.append((name, check_int(f"layers[{i}] ({name}) fan_in", fan_in, 1, None),
                    check_int(f"layers[{i}] ({name}) fan_out", fan_out, 1, None),
                    check_int(f"layers[{i}] ({name}) mvms_per_image", mvms, 1, None)))
    if not out:
        raise ValueError("layers must hold at least one layer")
    return out


def plan(layers, geometry=ChipGeometry()):
    """Map ``layers``, a list of (name, fan_in, fan_out, MVMs per image), whatever the number of tiles needed; tiles
    beyond one chip go to further chips, a reduction group never split between two. A layer whose reduction group
    would hold more tiles than the chip's reducer adds (``geometry.group_limit``) is refused: ValueError naming it."""
    tiles, summary = [], []
    g = geometry
    chip, slot = 0, 0
    for li, (name, fan_in, fan_out, mvms) in enumerate(_check_layers(layers)):
        work = LayerWork(name, fan_in, fan_out, mvms, _blocks(fan_in, g.rows), _blocks(fan_out, g.columns))
        if len(work.row_blocks) > g.group_limit:
            raise ValueError(f"layer {name}: fan-in {fan_in} needs a reduction group of {len(work.row_blocks)} tiles "
                             f"of {g.rows} rows; the chip's reducer adds at most {g.group_limit}")
        first = len(tiles)
        for c, c0 in enumerate(range(0, fan_out, g.columns)):
            c1 = c0 + work.col_blocks[c]
            if slot + len(work.row_blocks) > g.tiles:
                chip, slot = chip + 1, 0
            for r, r0 in enumerate(range(0, fan_in, g.rows)):
                r1 = r0 + work.row_blocks[r]
                tiles.append(TileAssignment(len(tiles), name, li, r, c, r0, r1, c0, c1, mvms,
                                            (r1 - r0) * (c1 - c0) / (g.rows * g.columns), chip, slot))
                slot += 1
        summary.append({"name": name, "fan_in": fan_in, "fan_out": fan_out, "mvms_per_image": mvms,
                        "row_blocks": len(work.row_blocks), "col_blocks": len(work.col_blocks),
                        "tiles": list(range(first, len(tiles))), "weights": work.weights, "macs_per_image": work.macs})
    return Mapping(geometry, tiles, summary)


def _blocks(n, size):
    """Contiguous blocks of at most ``size`` covering ``n`` (the first ones full): their sizes."""
    return tuple(min(size, n - start) for start in range(0, n, size))


def map_layers(layers, geometry=ChipGeometry()):
    """Like :func:`plan`, but a network that does not fit raises ValueError with the numbers."""
    m = plan(layers, geometry)
    if not m.fits:
        worst = sorted(m.layers, key=lambda l: -len(l["tiles"]))[:3]
        detail = ", ".join(f"{l['name']}: {count_text(len(l['tiles']), 'tile')} ({l['fan_in']}x{l['fan_out']})"
                           for l in worst)
        raise ValueError(f"network needs {m.tiles_needed} tiles of {geometry.rows}x{geometry.columns} but the chip "
                         f"has {geometry.tiles} (largest layers: {detail})")
    return m


def map_network(net=None, geometry=ChipGeometry(), strict=True):
    """Mapping of a network: a quantised network (model/quantise.py ``QuantNetwork``), a list of
    :class:`model.network.Layer` objects, or None for the shipped digits CNN. ``strict``: raise when it does not fit
    one chip (:func:`map_layers`), else place it on several (:func:`plan`)."""
    from neurophase.model.network import REFERENCE_NET, layer_shapes
    layers = net.layer_shapes() if hasattr(net, "layer_shapes") else layer_shapes(REFERENCE_NET if net is None
                                                                                  else net)
    return (map_layers if strict else plan)(layers, geometry)
