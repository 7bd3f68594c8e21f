"""Workloads: the matrices a network applies per image and how a mapping splits them over tiles.

Ref: docs/architecture.md §2, §4 step 4, §7. :class:`MatrixWork` is the one definition of a layer's weights and
multiply-accumulates; :class:`LayerWork` is a layer as the chip runs it (its row and column blocks), what the event
counts (model/events.py), the cycle model (model/cycles.py) and the energy evaluation (model/energy.py) take.
:func:`works_from_mapping` reads them off a mapping's tile assignments (model/mapper.py).
"""

from dataclasses import dataclass

from neurophase.model.checks import check_int

__all__ = ["MatrixWork", "LayerWork", "works_from_mapping"]


class MatrixWork:
    """Weights and multiply-accumulates per image of a layer that applies a ``fan_in x fan_out`` matrix ``mvms``
    times per image: the one definition of both, for a class with ``fan_in``, ``fan_out`` and ``mvms`` attributes
    (:class:`LayerWork`, :class:`neurophase.model.resnet50.ConvLayer`)."""

    @property
    def weights(self):
        return self.fan_in * self.fan_out

    @property
    def macs(self):
        return self.weights * self.mvms


@dataclass(frozen=True)
class LayerWork(MatrixWork):
    """One layer as the chip runs it: its matrix, its MVMs per image, and how a mapping split it over tiles.

    row_blocks : rows used in each row tile (sums to fan_in). col_blocks : logical columns used in each column tile
    (sums to fan_out). last : the layer emits signed ``out_bits`` outputs instead of B_in-bit activations.
    """
    name: str
    fan_in: int
    fan_out: int
    mvms: int
    row_blocks: tuple
    col_blocks: tuple
    last: bool = False

    def __post_init__(self):
        check_int(f"{self.name}: fan_in", self.fan_in, 1)
        check_int(f"{self.name}: fan_out", self.fan_out, 1)
        check_int(f"{self.name}: mvms", self.mvms, 0)
        for what, blocks, total in (("row_blocks", self.row_blocks, self.fan_in),
                                    ("col_blocks", self.col_blocks, self.fan_out)):
            if not blocks or any(check_int(f"{self.name}: {what} entry", b, 1) != b for b in blocks) \
                    or sum(blocks) != total:
                raise ValueError(f"{self.name}: {what} must be positive block sizes summing to {total}, "
                                 f"got {blocks}")

    @property
    def tiles(self):
        return len(self.row_blocks) * len(self.col_blocks)


def works_from_mapping(mapping, wide=None):
    """:class:`LayerWork` list, in layer order, from a :class:`model.mapper.Mapping` (its tile assignments).
    ``wide``: the names of the layers with signed ``out_bits`` outputs (the BN unit's last mode: the network's output
    and a residual branch that only an Add reads; model/chip.py ``Chip.works`` names them); default the final layer
    only."""
    by_layer = {}
    for t in mapping.tiles:
        by_layer.setdefault((t.layer_index, t.layer), []).append(t)
    if not by_layer:
        raise ValueError("mapping must hold at least one tile")
    keys = sorted(by_layer)
    wide = {keys[-1][1]} if wide is None else set(wide)
    works = []
    for key in keys:
        ts, name = by_layer[key], key[1]
        rows = {t.row_block: t.rows for t in ts}
        cols = {t.col_block: t.columns for t in ts}
        works.append(LayerWork(name, sum(rows.values()), sum(cols.values()), ts[0].mvms_per_image,
                               tuple(rows[k] for k in sorted(rows)), tuple(cols[k] for k in sorted(cols)),
                               last=name in wide))
    return works
