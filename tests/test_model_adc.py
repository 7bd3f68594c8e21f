"""Column ADC: the closed form equals the bit-by-bit SAR reference, and saturations are counted (decision D3)."""

import numpy as np
import pytest

from neurophase.model.adc import AdcConfig, convert, convert_sar, current_code, sar_threshold

CONFIGS = [AdcConfig(), AdcConfig(bits=4, i_fs=3e-6, frac_bits=3), AdcConfig(bits=10, i_fs=40e-6, frac_bits=1)]


def currents_with_ties(cfg, rng, n=10_000):
    """Random currents over 1.5x the full scale on both sides (so both saturation sides occur), plus currents whose
    current code lands exactly on every SAR threshold and one below it (the comparator's tie)."""
    rand = rng.uniform(-1.5 * cfg.i_fs, 1.5 * cfg.i_fs, n)
    thresholds = sar_threshold(np.arange(1 << cfg.bits), cfg)
    tie_codes = np.concatenate([thresholds, thresholds - 1])
    # Mid-way inside a current-code step, so the float product floors to exactly that code.
    ties = (tie_codes + 0.5) * cfg.i_lsb / (1 << cfg.frac_bits)
    assert np.array_equal(current_code(ties, cfg), tie_codes)
    return np.concatenate([rand, ties, [0.0, cfg.i_fs, -cfg.i_fs, 1e3, -1e3]])


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"B{c.bits}F{c.frac_bits}")
def test_closed_form_equals_bit_by_bit_sar(cfg):
    i = currents_with_ties(cfg, np.random.default_rng(1))
    closed = convert(i, cfg)
    sar, decisions = convert_sar(i, cfg)
    np.testing.assert_array_equal(closed, sar)
    # The comparator decisions, MSB first, are the bits of the offset-binary code.
    u = closed + (1 << (cfg.bits - 1))
    for step, k in enumerate(range(cfg.bits - 1, -1, -1)):
        np.testing.assert_array_equal(decisions[step], (u >> k) & 1)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"B{c.bits}F{c.frac_bits}")
def test_saturations_are_counted_on_each_side(cfg):
    i = currents_with_ties(cfg, np.random.default_rng(2))
    codes, (low, high) = convert(i, cfg, return_saturations=True)
    icode = current_code(i, cfg)
    half = 1 << (cfg.frac_bits - 1)
    # Round half up in current-code units: the code exceeds the top when i_code >= (code_max + 1/2) 2^F.
    expect_high = np.count_nonzero(icode >= (cfg.code_max << cfg.frac_bits) + half)
    expect_low = np.count_nonzero(icode < (cfg.code_min << cfg.frac_bits) - half)
    assert (low, high) == (expect_low, expect_high)
    assert low > 100 and high > 100
    assert np.count_nonzero(codes == cfg.code_max) >= high and np.count_nonzero(codes == cfg.code_min) >= low


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"B{c.bits}F{c.frac_bits}")
def test_unsaturated_codes_round_to_nearest_lsb(cfg):
    i = np.random.default_rng(3).uniform(-cfg.i_fs, cfg.i_fs, 10_000) * (1 - 2 / (1 << cfg.bits))  # +-(2^(B-1) - 1) LSB
    codes, sats = convert(i, cfg, return_saturations=True)
    assert sats == (0, 0)
    # The comparator resolves 2^-F LSB, so the rounding error is at most half an LSB plus one comparator step.
    assert np.max(np.abs(codes - i / cfg.i_lsb)) <= 0.5 + 2.0 ** -cfg.frac_bits


def test_half_lsb_ties_round_up():
    cfg = AdcConfig()
    step = cfg.i_lsb / (1 << cfg.frac_bits)
    # Exactly +-1/2 LSB (plus a quarter current-code step so the float product is inside the code).
    i = np.array([0.5 * cfg.i_lsb + step / 4, 0.5 * cfg.i_lsb - step * 0.75,
                  -0.5 * cfg.i_lsb + step / 4, -0.5 * cfg.i_lsb - step * 0.75])
    np.testing.assert_array_equal(convert(i, cfg), [1, 0, 0, -1])
