"""Device and line faults (docs/architecture.md D13): stuck devices stay stuck, dead lines carry no current, the
defects are drawn at manufacture from their own seeds and kept when a chip is saved."""

import numpy as np
import pytest

from neurophase.model.adc_errors import AdcErrors
from neurophase.model.arith import bit_planes
from neurophase.model.chip import Chip, ChipConfig
from neurophase.model.device import STUCK_RESET, STUCK_SET, PcmModel
from neurophase.model.faults import FaultConfig, LineFaults, manufacture_rng
from neurophase.model.interface import InputEncoding
from neurophase.model.tile import CrossbarTile, TileConfig


def test_a_stuck_device_stays_stuck_when_reprogrammed_and_none_is_added():
    pcm = PcmModel(p_stuck_set=0.05, p_stuck_reset=0.05)
    g = np.full((200, 200), 10e-6)
    devices = pcm.program(g, np.random.default_rng(0))
    stuck = devices.stuck.copy()
    assert 0.04 < np.mean(stuck == STUCK_SET) < 0.06 and 0.04 < np.mean(stuck == STUCK_RESET) < 0.06
    devices.reprogram(pcm, np.ones(g.shape, bool), np.random.default_rng(1), 100.0)
    np.testing.assert_array_equal(devices.stuck, stuck)
    assert np.all(devices.g_prog[stuck == STUCK_SET] == pcm.g_max)
    assert np.all(devices.g_prog[stuck == STUCK_RESET] == 0.0)
    assert np.all(devices.nu[stuck != 0] == 0.0)
    fine = stuck == 0
    assert np.all((devices.g_prog[fine] > 0) & (devices.g_prog[fine] < pcm.g_max))


@pytest.mark.parametrize("encoding", list(InputEncoding), ids=lambda e: e.label)
def test_dead_lines_carry_no_current(encoding):
    config = TileConfig(rows=16, bitlines=12)
    rng = np.random.default_rng(2)
    tile = CrossbarTile.program(rng.uniform(-1, 1, (16, 6)), seed=3, config=config, pcm=PcmModel().ideal())
    tile.line_faults = LineFaults(dead_wordlines=(4, 9), dead_bitlines=(3,))
    x = rng.integers(0, 256, (6, 16))
    g = tile.devices.g_prog.copy()
    g[[4, 9]] = 0.0
    g[:, 3] = 0.0
    got = tile.bitline_currents(x, 0.0, rng, encoding=encoding)
    if encoding is InputEncoding.BIT_SERIAL:
        want = config.v_read * bit_planes(x, 8).astype(float) @ (g[:, 0::2] - g[:, 1::2])
    else:
        want = config.v_read * x[None].astype(float) @ (g[:, 0::2] - g[:, 1::2]) / 255
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-12)
    # Bitline 3 is column 1's G-: the column reads only its G+ device.
    assert np.all(got[..., 1] >= 0) and np.any(got[..., 1] > 0)


def test_line_faults_are_drawn_among_used_lines_seeded_and_nested():
    a = FaultConfig(dead_wordlines=2, dead_bitlines=3).draw(9, 32, manufacture_rng(5, 0, 2))
    b = FaultConfig(dead_wordlines=2, dead_bitlines=3).draw(9, 32, manufacture_rng(5, 0, 2))
    c = FaultConfig(dead_wordlines=4, dead_bitlines=6).draw(9, 32, manufacture_rng(5, 0, 2))
    assert a == b and len(a.dead_wordlines) == 2 and len(a.dead_bitlines) == 3
    assert all(r < 9 for r in c.dead_wordlines) and all(bl < 32 for bl in c.dead_bitlines)
    assert set(a.dead_wordlines) <= set(c.dead_wordlines) and set(a.dead_bitlines) <= set(c.dead_bitlines)
    assert FaultConfig(dead_wordlines=2).draw(9, 32, manufacture_rng(6, 0, 2)) != a


def test_bad_line_faults_raise():
    tile = CrossbarTile.program(np.ones((2, 2)), seed=0, config=TileConfig(rows=4, bitlines=8))
    with pytest.raises(ValueError, match=r"line_faults must name wordlines < 4 and bitlines < 8"):
        tile.line_faults = LineFaults(dead_wordlines=(4,))
    with pytest.raises(ValueError, match=r"dead_bitlines must be an integer in \[0, 4096\], got -1"):
        FaultConfig(dead_bitlines=-1)


def test_a_chip_keeps_its_defects_when_saved_and_loaded(tmp_path):
    config = ChipConfig(pcm=PcmModel(p_stuck_set=0.01), faults=FaultConfig(1, 1),
                        adc_errors=AdcErrors(offset_lsb=0.5, gain_sigma=0.02, comparator_lsb=0.3),
                        tile=TileConfig(r_wordline=0.5, r_bitline=0.5))
    chip = Chip.program(seed=4, config=config)
    for a in chip.mapping.tiles:
        faults = chip.tiles[a.tile].line_faults
        assert faults.dead_wordlines[0] < a.rows and faults.dead_bitlines[0] < 2 * a.columns
    chip.save(tmp_path / "chip.npz")
    loaded = Chip.load(tmp_path / "chip.npz")
    assert loaded.config == config
    for n, tile in chip.tiles.items():
        other = loaded.tiles[n]
        assert other.line_faults == tile.line_faults
        np.testing.assert_array_equal(other.devices.stuck, tile.devices.stuck)
        np.testing.assert_array_equal(other.column_adc.offset_lsb, tile.column_adc.offset_lsb)
        np.testing.assert_array_equal(other.column_adc.gain, tile.column_adc.gain)
    x = chip.network.test.x
    np.testing.assert_array_equal(chip.run(x[:8], 60.0, seed=1), loaded.run(x[:8], 60.0, seed=1))
