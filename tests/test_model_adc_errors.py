"""Column ADC errors (docs/architecture.md D12): the closed form and the SAR reference agree under comparator noise
for the same draws; offsets, gains and the comparator noise follow their distributions; the tile uses them; the
offset calibration removes what it can. Statistical tolerances: 5 standard errors."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from neurophase.model.adc import AdcConfig, convert, convert_sar, sar_threshold
from neurophase.model.adc_calibration import calibrate_adc_offsets
from neurophase.model.adc_errors import AdcErrors, ColumnAdc, comparator_noise
from neurophase.model.chip import Chip, ChipConfig
from neurophase.model.device import PcmModel
from neurophase.model.interface import InputEncoding
from neurophase.model.tile import CrossbarTile, TileConfig

Z = 5.0
CONFIGS = [AdcConfig(), AdcConfig(bits=4, i_fs=3e-6, frac_bits=3)]


def currents_with_ties(cfg, rng, n=5000):
    """Random currents over 1.5x full scale both sides, plus currents whose current code sits on every threshold."""
    thresholds = sar_threshold(np.arange(1 << cfg.bits), cfg)
    ties = (np.concatenate([thresholds, thresholds - 1]) + 0.5) * cfg.i_lsb / (1 << cfg.frac_bits)
    return np.concatenate([rng.uniform(-1.5 * cfg.i_fs, 1.5 * cfg.i_fs, n), ties])


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"B{c.bits}F{c.frac_bits}")
@pytest.mark.parametrize("sigma_lsb", [0.0, 0.3, 2.0])
def test_closed_form_and_sar_agree_under_comparator_noise_for_the_same_draws(cfg, sigma_lsb):
    rng = np.random.default_rng(1)
    i = currents_with_ties(cfg, rng)
    noise = comparator_noise(rng, i.shape, cfg, sigma_lsb)
    # Every comparison's noise sits on a current-code step: ties between noisy currents and thresholds occur too.
    noise = np.round(noise / cfg.i_lsb * (1 << cfg.frac_bits)) * cfg.i_lsb / (1 << cfg.frac_bits)
    closed, sats = convert(i, cfg, return_saturations=True, comparator_noise=noise)
    sar, decisions = convert_sar(i, cfg, comparator_noise=noise)
    np.testing.assert_array_equal(closed, sar)
    u = closed + (1 << (cfg.bits - 1))
    for step, k in enumerate(range(cfg.bits - 1, -1, -1)):
        np.testing.assert_array_equal(decisions[step], (u >> k) & 1)
    assert sats == (np.count_nonzero(closed == cfg.code_min), np.count_nonzero(closed == cfg.code_max))
    if sigma_lsb == 0:
        np.testing.assert_array_equal(closed, convert(i, cfg))
    else:
        assert np.count_nonzero(closed != convert(i, cfg)) > 0.05 * i.size


def code_distribution(current, cfg, sigma):
    """P(code) of one conversion of ``current`` with comparator noise ``sigma`` (A): the SAR's decisions are
    independent given the path, so P(u) = prod_k P(decision k = bit k of u | the bits above)."""
    u = np.arange(1 << cfg.bits)
    p = np.ones(u.size)
    q = cfg.i_lsb / (1 << cfg.frac_bits)
    for k in range(cfg.bits - 1, -1, -1):
        trial = (u >> (k + 1) << (k + 1)) | (1 << k)
        # Comparator says 1 when floor((I + n) / q) >= threshold, i.e. I + n >= threshold * q.
        p_one = norm.sf((sar_threshold(trial, cfg) * q - current) / sigma)
        p *= np.where((u >> k) & 1, p_one, 1 - p_one)
    return p


def test_comparator_noise_gives_the_analytic_code_distribution():
    cfg = AdcConfig(bits=6, i_fs=1e-6, frac_bits=8)
    n = 200_000
    current = 3.37 * cfg.i_lsb
    rng = np.random.default_rng(2)
    sigma_lsb = 0.8
    i = np.full(n, current)
    codes = convert(i, cfg, comparator_noise=comparator_noise(rng, i.shape, cfg, sigma_lsb))
    hist = np.bincount(codes + (1 << (cfg.bits - 1)), minlength=1 << cfg.bits) / n
    want = code_distribution(current, cfg, sigma_lsb * cfg.i_lsb)
    assert want.sum() == pytest.approx(1.0)
    np.testing.assert_array_less(np.abs(hist - want), Z * np.sqrt(want * (1 - want) / n) + 1e-9)
    # Not simply the code of a noisy current: a SAR's early decisions are not re-examined.
    assert 0.05 < want[(1 << (cfg.bits - 1)) + 3] < 0.6


def test_comparator_noise_draws_are_standard_normals_per_comparison():
    cfg = AdcConfig()
    d = comparator_noise(np.random.default_rng(3), (4000, 16), cfg, 1.0) / cfg.i_lsb
    assert d.shape == (cfg.bits, 4000, 16)
    n = d.size
    assert abs(d.mean()) <= Z / math.sqrt(n)
    assert abs(d.var() - 1) <= Z * math.sqrt(2 / n)
    # Independent from one comparison to the next.
    assert abs(np.mean(d[0] * d[1])) <= Z / math.sqrt(d[0].size)


def test_offsets_and_gains_are_seeded_gaussians_per_column():
    errors = AdcErrors(offset_lsb=0.7, gain_sigma=0.03)
    cols = 100_000
    a = errors.manufacture(cols, np.random.default_rng(4))
    b = errors.manufacture(cols, np.random.default_rng(4))
    np.testing.assert_array_equal(a.offset_lsb, b.offset_lsb)
    np.testing.assert_array_equal(a.gain, b.gain)
    for values, mean, sd in ((a.offset_lsb, 0.0, 0.7), (a.gain, 1.0, 0.03)):
        assert abs(values.mean() - mean) <= Z * sd / math.sqrt(cols)
        assert abs(values.std() - sd) <= Z * sd * math.sqrt(1 / (2 * cols))
    # A sweep of one magnitude keeps the other's draws.
    c = AdcErrors(offset_lsb=1.4, gain_sigma=0.03).manufacture(cols, np.random.default_rng(4))
    np.testing.assert_array_equal(c.gain, a.gain)
    np.testing.assert_allclose(c.offset_lsb, 2 * a.offset_lsb)


def test_the_adc_converts_the_offset_and_gain_referred_current():
    cfg = AdcConfig()
    col = ColumnAdc(np.array([0.4, -1.3, 0.0]), np.array([1.05, 0.9, 1.0]), 0.0)
    i = np.random.default_rng(5).uniform(-cfg.i_fs, cfg.i_fs, (100, 3))
    codes, _ = col.convert(i, cfg, None)
    np.testing.assert_array_equal(codes, convert(i * col.gain + col.offset_lsb * cfg.i_lsb, cfg))


def test_bad_adc_error_statistics_and_noise_shapes_raise():
    with pytest.raises(ValueError, match=r"offset_lsb must be a finite number >= 0, got -1"):
        AdcErrors(offset_lsb=-1)
    cfg = AdcConfig()
    with pytest.raises(ValueError, match=r"comparator_noise must have shape \(bits,\) \+ the currents' shape = "
                                         r"\(8, 3\), got \(3,\)"):
        convert(np.zeros(3), cfg, comparator_noise=np.zeros(3))
    tile = CrossbarTile.program(np.ones((2, 2)), seed=0, config=TileConfig(rows=4, bitlines=8))
    with pytest.raises(ValueError, match=r"column_adc must be None or a ColumnAdc of 4 columns"):
        tile.column_adc = ColumnAdc(np.zeros(3), np.ones(3), 0.0)


@pytest.mark.parametrize("encoding", list(InputEncoding), ids=lambda e: e.label)
def test_tile_codes_are_its_column_adcs_conversion_of_its_currents(encoding):
    config = TileConfig(rows=32, bitlines=16)
    rng = np.random.default_rng(6)
    tile = CrossbarTile.program(rng.uniform(-1, 1, (32, 8)), seed=7, config=config, adc=AdcConfig(i_fs=20e-6))
    tile.column_adc = AdcErrors(offset_lsb=1.5, gain_sigma=0.1).manufacture(8, rng)
    x = rng.integers(0, 256, (50, 32))
    res = tile.mvm(x, 60.0, np.random.default_rng(8), encoding=encoding)
    np.testing.assert_array_equal(res.codes, tile.column_adc.convert(res.currents, tile.adc, None)[0])
    assert np.count_nonzero(res.codes != convert(res.currents, tile.adc)) > 0.3 * res.codes.size
    # With comparator noise the MVM stays reproducible for a seed.
    tile.column_adc = ColumnAdc(tile.column_adc.offset_lsb, tile.column_adc.gain, 0.5)
    a = tile.mvm(x, 60.0, np.random.default_rng(9), encoding=encoding)
    b = tile.mvm(x, 60.0, np.random.default_rng(9), encoding=encoding)
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(a.currents, b.currents)
    quiet = tile.column_adc.convert(a.currents, tile.adc, np.random.default_rng(10))[0]
    assert 0 < np.count_nonzero(a.codes != quiet) < 0.5 * a.codes.size


@pytest.mark.parametrize("encoding", list(InputEncoding), ids=lambda e: e.label)
def test_offset_calibration_moves_the_offsets_into_the_bn_biases(encoding):
    ideal = ChipConfig(pcm=PcmModel().ideal(), encoding=encoding)
    clean = Chip.program(seed=1, config=ideal)
    chip = Chip.program(seed=1, config=ChipConfig(pcm=ideal.pcm, encoding=encoding,
                                                  adc_errors=AdcErrors(offset_lsb=2.0)))
    before = {k: r.bias.copy() for k, r in chip.registers.items()}
    measured = calibrate_adc_offsets(chip)
    planes = (1 << 8) - 1 if encoding is InputEncoding.BIT_SERIAL else 1
    for key, acc0 in measured.items():
        a = chip.mapping.tiles[[t.layer for t in chip.mapping.tiles].index(key[0])]
        offsets = sum(np.rint(chip.tiles[n].column_adc.offset_lsb[:a.columns])
                      for n in chip.mapping.reduction_group(a.tile))
        # No input, no current: each plane converts its rounded offset (row-split groups add theirs).
        np.testing.assert_array_equal(acc0, offsets * planes)
        regs = chip.registers[key]
        np.testing.assert_array_equal(regs.bias, before[key] - np.rint(regs.scale * acc0).astype(np.int64))
    # On the test images the calibrated chip is closer to the offset-free one than the uncalibrated chip.
    x = chip.network.test.x
    ref = clean.run(x[:64], 0.0, seed=2)
    raw = Chip.program(seed=1, config=chip.config).run(x[:64], 0.0, seed=2)
    cal = chip.run(x[:64], 0.0, seed=2)
    assert np.abs(cal - ref).mean() < 0.5 * np.abs(raw - ref).mean()
