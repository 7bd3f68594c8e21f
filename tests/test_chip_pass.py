"""Layer-by-layer passes (model/chip_pass.py) against Chip.run, and the BN recalibration and reference built on them
against their definition with whole-network runs (docs/architecture.md D6)."""

import copy

import numpy as np
import pytest

from neurophase.model.chip import Chip, ChipConfig
from neurophase.model.chip_pass import LayerPass
from neurophase.model.drift import (CALIBRATION_SEED, calibration_images, channel_stats, recalibrate_bn,
                                    recalibrate_layer, record_reference)
from neurophase.model.interface import InputEncoding

YEAR = 365.25 * 86_400.0


@pytest.fixture(scope="module", params=list(InputEncoding), ids=lambda e: e.label)
def chip(request):
    chip = Chip.program(seed=11, config=ChipConfig(encoding=request.param))
    for tile in chip.tiles.values():
        tile.threads = 1
    return chip


@pytest.mark.parametrize("images", [1, 32, 45])
def test_a_layer_pass_gives_the_logits_of_a_chip_run(chip, images):
    """Same chunks, padding and read-noise draws as Chip.run: the same logits, whole chunks or a padded last one."""
    x = chip.network.test.x
    want = chip.run(x[:images], 86_400.0, 5)
    np.testing.assert_array_equal(LayerPass(chip, x[:images], 86_400.0, 5).logits(), want)


def test_a_pass_forks_after_a_layer_and_each_branch_runs_with_its_own_registers(chip):
    """Two register sets share the first layer's accumulators: each branch equals a Chip.run with its registers,
    and advancing leaves the pass it came from unchanged."""
    x = chip.network.test.x
    other = {k: type(r)(r.scale, r.bias + (1 << max(r.shift - 1, 0)), r.shift) for k, r in chip.registers.items()}
    shifted = copy.copy(chip)
    shifted.registers = other
    p = LayerPass(chip, x[:40], YEAR, 9)
    acc = p.accumulators()
    before = [x.copy() for _, x in p.requests]
    for registers, reference in ((None, chip), (other, shifted)):
        np.testing.assert_array_equal(p.advance(acc, registers).logits(registers), reference.run(x[:40], YEAR, 9))
    assert p.layer == 0 and all(np.array_equal(a, b) for (_, a), b in zip(p.requests, before))


def test_a_pass_past_the_last_layer_is_an_error(chip):
    p = LayerPass(chip, chip.network.test.x[:2], 0.0, 1)
    for _ in chip.qlayers:
        p = p.advance(p.accumulators())
    with pytest.raises(ValueError, match=r"the pass is past the last layer \(4 layers\)"):
        p.accumulators()


def test_a_pass_needs_an_input(chip):
    with pytest.raises(ValueError, match="x must hold at least one input"):
        LayerPass(chip, np.zeros((0, 1, 8, 8)), 0.0, 1)


def test_recalibration_equals_whole_network_runs_one_per_layer(chip):
    """D6's definition: layer by layer, each measured in a whole-network run on the calibration images (same seed)
    with the earlier layers already recalibrated. recalibrate_bn measures each layer once: same registers, bit for
    bit; so is the reference's statistics recorded at t = 0."""
    reference = record_reference(chip)
    _, trace = chip.run(calibration_images(chip.network), 0.0, CALIBRATION_SEED, record=True)
    for ql in chip.qlayers:
        mean, std = channel_stats(trace.layer_acc[ql.name])
        np.testing.assert_array_equal(reference.mean[ql.name], mean)
        np.testing.assert_array_equal(reference.std[ql.name], std)
    defined = copy.deepcopy(chip)
    defined.registers = dict(reference.registers)
    for ql in chip.qlayers:
        _, trace = defined.run(calibration_images(chip.network), YEAR, CALIBRATION_SEED, record=True)
        defined.registers.update(recalibrate_layer(defined, ql.name, trace.layer_acc[ql.name], reference))
    fast = recalibrate_bn(copy.deepcopy(chip), YEAR, reference)
    assert set(fast) == set(defined.registers)
    assert sum(fast[k].mismatches(defined.registers[k]) for k in fast) == 0
    assert sum(fast[k].mismatches(reference.registers[k]) for k in fast) > 0       # drift did change them


@pytest.mark.parametrize("tiles", [144, 6], ids=["one-chip", "four-chips"])
def test_a_layer_pass_on_an_imported_residual_network_gives_the_outputs_of_a_chip_run(imported, tiles):
    """The host steps between chip layers (residual add of two branches, average pool, flatten) run in each chunk's
    dataflow: row groups, column blocks and several chips give Chip.run's outputs, and a fork after the first layer
    leaves the pass it came from as it was."""
    chip = Chip.program(imported, seed=3, config=ChipConfig(tiles=tiles))
    x = imported.test.x
    p = LayerPass(chip, x, YEAR, 7)
    acc = p.accumulators()
    np.testing.assert_array_equal(p.advance(acc).logits(), chip.run(x, YEAR, 7))
    np.testing.assert_array_equal(p.advance(acc).logits(), chip.run(x, YEAR, 7))


def test_recalibration_on_an_imported_network_equals_whole_network_runs_one_per_layer(imported):
    chip = Chip.program(imported, seed=4, config=ChipConfig())
    reference = record_reference(chip, 40)
    defined = copy.deepcopy(chip)
    defined.registers = dict(reference.registers)
    for ql in chip.qlayers:
        _, trace = defined.run(calibration_images(chip.network, 40), YEAR, CALIBRATION_SEED, record=True)
        defined.registers.update(recalibrate_layer(defined, ql.name, trace.layer_acc[ql.name], reference))
    fast = recalibrate_bn(copy.deepcopy(chip), YEAR, reference)
    assert sum(fast[k].mismatches(defined.registers[k]) for k in fast) == 0
    assert sum(fast[k].mismatches(reference.registers[k]) for k in fast) > 0
