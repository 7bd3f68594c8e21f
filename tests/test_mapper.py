"""Mapper: the reference network's tiles, row and column splits, tile numbering, JSON, and networks too big."""

import json

import pytest

from neurophase.cli import main
from neurophase.model.mapper import ChipGeometry, map_layers, map_network, plan


def test_reference_network_maps_to_five_tiles_with_a_row_split_conv3():
    m = map_network()
    assert [t.tile for t in m.tiles] == list(range(5))
    assert [t.layer for t in m.tiles] == ["conv1", "conv2", "conv3", "conv3", "fc"]
    t2, t3 = m.tile(2), m.tile(3)
    assert (t2.row_start, t2.row_stop, t3.row_start, t3.row_stop) == (0, 256, 256, 288)
    assert (t2.columns, t3.columns) == (64, 64)
    assert m.reduction_group(2) == m.reduction_group(3) == [2, 3]
    assert m.reduction_group(1) == [1]
    assert t2.utilisation == 256 * 64 / (256 * 128) and t3.utilisation == 32 * 64 / (256 * 128)
    assert m.fits and m.tiles_needed == 5


def test_column_split_and_row_split_number_row_blocks_within_column_blocks():
    m = plan([("a", 600, 300, 7), ("b", 10, 5, 1)])
    a = m.layer_tiles("a")
    assert len(a) == 9                                  # 3 row blocks x 3 column blocks
    assert [(t.col_block, t.row_block) for t in a] == [(c, r) for c in range(3) for r in range(3)]
    assert [(t.col_start, t.col_stop) for t in a[::3]] == [(0, 128), (128, 256), (256, 300)]
    assert [(t.row_start, t.row_stop) for t in a[:3]] == [(0, 256), (256, 512), (512, 600)]
    assert m.reduction_group(4) == [3, 4, 5]
    assert m.layer_tiles("b")[0].tile == 9
    assert m.layers[0]["macs_per_image"] == 600 * 300 * 7


def test_mapping_table_and_json(tmp_path):
    m = map_network()
    text = m.table()
    assert "conv3" in text and "(rows 2/2)" in text and "5 of 144 tiles used" in text
    path = m.write_json(tmp_path / "r" / "mapping.json")
    d = json.loads(path.read_text())
    assert d["tiles_needed"] == 5 and d["fits"] and d["geometry"] == {"tiles": 144, "rows": 256, "columns": 128,
                                                                    "max_group": 18}
    assert [t["tile"] for t in d["tiles"]] == list(range(5))
    assert d["tiles"][3]["rows"] == 32 and d["tiles"][3]["layer"] == "conv3"


def test_map_command_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "mapping.json"
    assert main(["map", "--out", str(out)]) == 0
    assert "conv3" in capsys.readouterr().out
    assert json.loads(out.read_text())["tiles_needed"] == 5


def test_network_too_big_raises_with_the_numbers():
    with pytest.raises(ValueError, match=r"network needs 512 tiles of 256x128 but the chip has 144 .*big: 512 tiles "
                                         r"\(4096x4096\)"):
        map_layers([("big", 4096, 4096, 1)])
    with pytest.raises(ValueError, match="network needs 5 tiles of 256x128 but the chip has 4"):
        map_network(geometry=ChipGeometry(tiles=4))


def test_plan_reports_a_network_larger_than_the_chip_without_failing():
    layers = [("conv", 2304, 512, 49), ("fc", 2048, 1000, 1)]       # 9 x 4 + 8 x 8 = 100 tiles
    m = plan([(f"{n}{i}", f, o, k) for i in range(2) for n, f, o, k in layers])
    assert m.tiles_needed == 200 and not m.fits
    assert "200 tiles needed, the chip has 144: DOES NOT FIT one chip; placed on 2 chips, or 2 programming passes" \
        in m.table()
    assert "chip 1: 56 of 144 tiles (fc1 .. fc1)" in m.table()
    assert [(t.chip, t.slot) for t in m.tiles[143:145]] == [(0, 143), (1, 0)]
    assert plan(layers).fits and plan(layers).chips == 1


def test_a_reduction_group_never_spans_two_chips():
    # 140 tiles, then a layer of 3 column blocks of 4 row tiles: its first group would straddle tiles 140..143|144.
    m = plan([("a", 256, 128 * 140, 1), ("b", 1024, 384, 1)])
    b = m.layer_tiles("b")
    assert [(t.chip, t.slot) for t in b[:5]] == [(0, 140), (0, 141), (0, 142), (0, 143), (1, 0)]
    m = plan([("a", 256, 128 * 141, 1), ("b", 1024, 384, 1)])
    assert [(t.chip, t.slot) for t in m.layer_tiles("b")[:4]] == [(1, 0), (1, 1), (1, 2), (1, 3)]
    assert m.chips == 2 and len(m.chip_tiles(0)) == 141
    with pytest.raises(ValueError, match=r"^layer c: fan-in 37120 needs a reduction group of 145 tiles of 256 rows; "
                                         r"the chip's reducer adds at most 18$"):
        plan([("c", 256 * 145, 8, 1)])


def test_a_reduction_group_larger_than_the_reducer_adds_is_refused_naming_the_layer():
    # ResNet-50's largest, 3 x 3 x 512 = 4,608 rows, is 18 tiles: the most the chip's reducer adds.
    assert len(plan([("conv", 4608, 512, 49)]).reduction_group(0)) == 18
    with pytest.raises(ValueError, match=r"^layer fc1: fan-in 4609 needs a reduction group of 19 tiles of 256 rows; "
                                         r"the chip's reducer adds at most 18$"):
        plan([("conv", 4608, 512, 49), ("fc1", 4609, 10, 1)])
    with pytest.raises(ValueError, match=r"^layer fc: fan-in 160 needs a reduction group of 5 tiles of 32 rows; "
                                         r"the chip's reducer adds at most 4$"):
        plan([("fc", 160, 10, 1)], ChipGeometry(rows=32, max_group=4))
    # A chip of fewer tiles than the reducer's largest group adds at most all of them.
    with pytest.raises(ValueError, match=r"^layer fc: fan-in 1280 needs a reduction group of 5 tiles of 256 rows; "
                                         r"the chip's reducer adds at most 4$"):
        plan([("fc", 1280, 10, 1)], ChipGeometry(tiles=4))


@pytest.mark.parametrize("layers, match", [
    ([], "layers must hold at least one layer"),
    ([("a", 0, 3, 1)], r"layers\[0\] \(a\) fan_in must be an integer in \[1, inf\], got 0"),
    ([("a", 3, 3, 1), ("a", 3, 3, 1)], r"layers\[1\] name must be a unique non-empty string"),
    ([("a", 3, 3)], r"layers\[0\] must be \(name, fan_in, fan_out, mvms_per_image\)"),
])
def test_bad_layer_lists_raise(layers, match):
    with pytest.raises(ValueError, match=match):
        plan(layers)


def test_unknown_tile_or_layer_raises_naming_the_range():
    m = map_network()
    with pytest.raises(ValueError, match=r"tile must be an integer in \[0, 4\], got 5"):
        m.tile(5)
    with pytest.raises(ValueError, match=r"layer must be one of \['conv1', 'conv2', 'conv3', 'fc'\], got 'x'"):
        m.layer_tiles("x")
