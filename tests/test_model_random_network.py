"""Constrained-random networks (model/random_network.py): one network per seed, fitting the regression chip, and
together covering what the compiler emits; the chip's largest reduction group sized for ResNet-50."""

import numpy as np
import pytest

from neurophase.model.random_network import RegressionChip, network_features, random_chip, random_network


def test_a_seed_names_one_network():
    a, b = random_network(3), random_network(3)
    assert [ql.name for ql in a.layers] == [ql.name for ql in b.layers]
    assert all(np.array_equal(x.w_int, y.w_int) for x, y in zip(a.layers, b.layers))
    assert np.array_equal(a.test.x, b.test.x)
    assert [ql.layer.fan_in for ql in random_network(4).layers] != [ql.layer.fan_in for ql in a.layers]


@pytest.fixture(scope="module")
def features():
    return [network_features(random_chip(seed)) for seed in range(12)]


def test_random_networks_fit_one_regression_chip(features):
    rc = RegressionChip()
    assert all(f["tiles"] <= rc.tiles and f["max_group"] <= rc.max_group for f in features)


def test_random_networks_span_fractions_of_a_tile_to_reduction_groups_column_blocks_adds_and_pools(features):
    rows = RegressionChip().rows
    assert min(min(f["fan_ins"]) for f in features) < rows // 4
    assert max(f["max_group"] for f in features) >= 5
    assert max(f["max_col_blocks"] for f in features) >= 3
    assert sum(f["residual_adds"] > 0 for f in features) >= 3
    assert sum(f["pools"] > 0 for f in features) >= 3
    assert {f["layers"] for f in features} >= {2, 3, 5}


def test_each_layer_reads_bit_serially_or_by_pwm_as_its_seed_draws_giving_bit_serial_pwm_and_mixed_chips(features):
    from neurophase.model.interface import InputEncoding
    pwm = [(f["pwm_layers"], f["layers"]) for f in features]
    assert any(n == 0 for n, _ in pwm) and any(n == k for n, k in pwm) and any(0 < n < k for n, k in pwm)
    a, b = random_chip(0), random_chip(0)
    assert [a.encoding(t.tile) for t in a.mapping.tiles] == [b.encoding(t.tile) for t in b.mapping.tiles]
    # The draw is apart from the network's: another share keeps the network and changes only the encodings.
    bit_serial = random_chip(0, RegressionChip(pwm_share=0))
    assert [ql.layer.fan_in for ql in bit_serial.network.layers] == [ql.layer.fan_in for ql in a.network.layers]
    assert {bit_serial.encoding(t.tile) for t in bit_serial.mapping.tiles} == {InputEncoding.BIT_SERIAL}


@pytest.mark.parametrize("kw, msg", [
    (dict(tiles=4, max_group=5), r"max_group must be an integer in \[1, 4\], got 5"),
    (dict(rows=2), r"rows must be an integer in \[4, 256\], got 2"),
    (dict(pwm_share=1.5), r"pwm_share must be a probability in \[0, 1\], got 1.5"),
])
def test_regression_chip_rejects_bad_sizes(kw, msg):
    with pytest.raises(ValueError, match=msg):
        RegressionChip(**kw)


def test_a_seed_that_never_fits_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"seed 1: no network in 50 draws fits RegressionChip\(tiles=1, "):
        random_network(1, RegressionChip(tiles=1, max_group=1))


def test_the_chips_largest_reduction_group_is_resnet50s():
    from neurophase.model.interface import CHIP_MAX_GROUP
    from neurophase.model.resnet50 import resnet50_layers
    assert max(-(-layer.fan_in // 256) for layer in resnet50_layers()) == CHIP_MAX_GROUP == 18
