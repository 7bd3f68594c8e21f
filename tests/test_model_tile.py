"""Crossbar tile (docs/architecture.md §2-§4, decisions D2, D3, D5, D8): the fast current-noise path against the
per-device reads for both input encodings, the PWM read against a plain numpy reference of D8, ideal MVM against W x
within the ADC quantisation bound, digital corner cases, persistence, reprogramming.

Statistical tolerances are Z = 5 standard errors of the estimator at the sample size used (two-sided normal tail
5.7e-7 per comparison).
"""

import math

import numpy as np
import pytest

from neurophase.model.adc import AdcConfig, convert
from neurophase.model.arith import PeripheryFormat, shift_and_add, wordline_pulses
from neurophase.model.device import PcmModel
from neurophase.model.interface import InputEncoding
from neurophase.model.tile import CrossbarTile, TileConfig

Z = 5.0
DAY = 86400.0
F32_EPS = 2.0 ** -24          # unit roundoff of float32


@pytest.mark.parametrize("encoding, window", [(InputEncoding.BIT_SERIAL, 1), (InputEncoding.PWM, 255)],
                         ids=["bit-serial", "pwm"])
@pytest.mark.parametrize("t", [60.0, DAY])
def test_fast_current_noise_equals_per_device_reads_in_distribution(t, encoding, window):
    config = TileConfig(rows=16, bitlines=8)
    rng = np.random.default_rng(1)
    tile = CrossbarTile.program(rng.uniform(-1, 1, (16, 4)), seed=2, config=config)
    x = rng.integers(0, 256, 16)
    # Expected (D2, D8), pulse lengths p (the bit-planes, or x for PWM) over a window of W unit times:
    # mean V sum_i p_i (G+ - G-)(t) / W; variance V^2 sum_i p_i^2 ((sigma G+)^2 + (sigma G-)^2) / W^2 (each device's
    # read-noise factor held over its pulse). For PWM, p^2 = x^2 is far from the x of white noise averaged over it.
    pulses = wordline_pulses(x, encoding, 8).astype(np.float64)
    g = tile.pcm.conductance_at(tile.devices, t)
    var_dev = (tile.pcm.read_sigma_of(tile.devices, t) * g) ** 2
    v = config.v_read
    mean = v * pulses @ (g[:, 0::2] - g[:, 1::2]) / window
    var = v ** 2 * pulses ** 2 @ (var_dev[:, 0::2] + var_dev[:, 1::2]) / window ** 2
    assert np.all(var > 0)
    for read_devices, reads in ((False, 20_000), (True, 3_000)):
        i = tile.bitline_currents(np.tile(x, (reads, 1)), t, np.random.default_rng(3), read_devices=read_devices,
                                  encoding=encoding)
        assert i.shape == (len(pulses), reads, 4)
        # Per (plane, column): sample mean and variance of a Gaussian.
        np.testing.assert_array_less(np.abs(i.mean(axis=1) - mean), Z * np.sqrt(var / reads))
        np.testing.assert_array_less(np.abs(i.var(axis=1, ddof=1) - var), Z * var * math.sqrt(2 / (reads - 1)))
        # Pooled over all cells (reads x 4 columns), standardised: much tighter on the variance.
        z = ((i - mean[:, None]) / np.sqrt(var[:, None])).ravel()
        assert abs(z.mean()) <= Z / math.sqrt(z.size)
        assert abs(z.var() - 1) <= Z * math.sqrt(2 / z.size)


def test_pwm_read_noise_of_one_wordline_grows_with_its_pulse_length():
    # D8: a device's read-noise factor is held over its pulse, so its charge error is proportional to the pulse
    # length x: the relative noise of the window's mean current is the device's sigma whatever x (white noise
    # averaged over the pulse would shrink it as 1 / sqrt(x)).
    tile = CrossbarTile.program(np.array([[1.0]]), seed=4, config=TileConfig(rows=1, bitlines=2))
    sigma = tile.pcm.read_sigma_of(tile.devices, DAY)[0, 0]
    n = 20_000
    for x in (1, 15, 255):
        i = tile.bitline_currents(np.full((n, 1), x), DAY, np.random.default_rng(x), encoding="pwm")[0, :, 0]
        rel = i.std(ddof=1) / i.mean()
        assert abs(rel - sigma) <= Z * sigma * math.sqrt(1 / (2 * (n - 1))), x


def integer_conductance_tile(rows, cols, seed):
    """An ideal tile whose V_read (G+ - G-) in nA is an integer weight in [-127, 127] (V_read = 0.25 V, 4 nS per
    weight unit): every float32 sum of the fast path is then exact, so its currents differ from a float64 reference
    only in the last bits."""
    w = np.random.default_rng(seed).integers(-127, 128, (rows, cols)).astype(np.float64)
    tile = CrossbarTile.program(w, seed=seed, scale=np.full(cols, 4e-9), pcm=PcmModel().ideal(),
                                config=TileConfig(v_read=0.25))
    return tile, w


def test_pwm_mvm_equals_a_plain_reference_of_d8_with_noise_off():
    tile, w = integer_conductance_tile(256, 128, 21)
    x = np.random.default_rng(22).integers(0, 256, (48, 256))
    # D8: Q_j = V t_lsb sum_i x_i (G+ - G-)_ij over a window T_int = (2^8 - 1) t_lsb; the ADC converts Q / T_int.
    g = tile.devices.g_target
    t_lsb = 10e-9
    charge = tile.config.v_read * t_lsb * (x @ (g[:256, 0::2] - g[:256, 1::2]))
    current = charge / (255 * t_lsb)
    # ADC_RANGE an odd number of 10 nA steps near the 95th percentile: some codes clip, and no current can sit
    # exactly on a rounding threshold (128 S = 1275 k (2m + 1) has no solution for odd k), so the codes are exact.
    steps = int(np.percentile(np.abs(current), 95) / 10e-9) | 1
    tile = tile.with_adc(AdcConfig(i_fs=steps * 10e-9))
    # D3 in closed form: round half up in LSB, clipped to the signed 8-bit range.
    unclipped = np.floor(current / tile.adc.i_lsb + 0.5)
    codes = np.clip(unclipped, -128, 127).astype(np.int64)
    result = tile.mvm(x, 0.0, np.random.default_rng(23), encoding=InputEncoding.PWM)
    assert result.currents.shape == result.codes.shape == (1, 48, 128) and result.encoding is InputEncoding.PWM
    np.testing.assert_allclose(result.currents[0], current, rtol=0, atol=1e-12 * np.abs(current).max())
    np.testing.assert_array_equal(result.codes[0], codes)
    np.testing.assert_array_equal(result.acc, codes)          # the accumulator is the sign-extended code
    assert result.adc_saturations == (int((unclipped < -128).sum()), int((unclipped > 127).sum()))
    assert min(result.adc_saturations) > 0 and result.acc_saturations == 0


def test_pwm_of_one_bit_activations_is_the_bit_serial_read():
    fmt = PeripheryFormat(b_in=1)
    rng = np.random.default_rng(24)
    tile = CrossbarTile.program(rng.standard_normal((64, 32)), seed=25, fmt=fmt)
    x = rng.integers(0, 2, (40, 64))
    a, b = (tile.mvm(x, DAY, np.random.default_rng(26), encoding=e) for e in InputEncoding)
    for name in ("currents", "codes", "acc"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def ideal_tile(w, scale, rows=256, bitlines=256):
    """A tile with every non-ideality off and an ADC full scale just above the largest possible plane current, so
    nothing saturates: |I_j| <= V_read sum_i |G+ - G-|_ij = V_read Gmax sum_i |w_ij| / max|w| (D5)."""
    pcm = PcmModel().ideal()
    absmax = np.abs(w).max(axis=0) if scale == "column" else np.abs(w).max()
    i_max = TileConfig().v_read * pcm.g_max * (np.abs(w).sum(axis=0) / absmax).max()
    half = 1 << 7
    # A code stays below the top while I < (2^(B-1) - 1/2) I_lsb = i_fs (2^(B-1) - 1/2) / 2^(B-1).
    adc = AdcConfig(i_fs=1.01 * i_max * half / (half - 0.5))
    return CrossbarTile.program(w, seed=0, scale=scale, pcm=pcm, adc=adc,
                                config=TileConfig(rows=rows, bitlines=bitlines)), i_max


@pytest.mark.parametrize("encoding", list(InputEncoding), ids=lambda e: e.label)
@pytest.mark.parametrize("scale", ["column", "tile"])
@pytest.mark.parametrize("shape", [(256, 128), (100, 37)])
def test_ideal_mvm_equals_wx_within_adc_quantisation(scale, shape, encoding):
    rng = np.random.default_rng(4)
    w = rng.standard_normal(shape)
    tile, i_max = ideal_tile(w, scale)
    x = rng.integers(0, 256, (64, shape[0]))
    result = tile.mvm(x, 0.0, rng, encoding=encoding)
    assert result.adc_saturations == (0, 0) and result.acc_saturations == 0
    # Bit-serial: acc = sum_b 2^b code_b and each unsaturated code is within 1/2 LSB of I_b / I_lsb; PWM: acc = code
    # within 1/2 LSB of the window's mean current, a (2^8 - 1)th of the MVM. Either way within 255 / 2 I_lsb of the
    # MVM, plus the float32 front end's rounding: a dot product of n terms is within (n + 1) eps32 sum|terms|
    # <= (n + 1) eps32 i_max per plane, (n + 2) eps32 255 i_max for PWM's pulse lengths and window division.
    per_read_lsb = 0.5 + (shape[0] + 2) * F32_EPS * i_max / tile.adc.i_lsb
    bound = per_read_lsb * 255 * tile.adc.i_lsb / (tile.config.v_read * tile.g_per_weight)
    err = np.abs(tile.to_weight_units(result.acc[:, :shape[1]], encoding) - x @ w)
    assert np.all(err <= bound[:shape[1]])


def test_hot_path_agrees_with_the_reference_adc_and_shift_and_add():
    rng = np.random.default_rng(5)
    tile = CrossbarTile.program(rng.standard_normal((256, 128)), seed=6, pcm=PcmModel(p_stuck_set=0.01))
    result = tile.mvm(rng.integers(0, 256, (32, 256)), DAY, rng)
    codes, sats = convert(result.currents, tile.adc, return_saturations=True)
    np.testing.assert_array_equal(result.codes, codes)
    assert result.adc_saturations == sats and min(sats) > 0
    acc, acc_sats = shift_and_add(codes, tile.fmt)
    np.testing.assert_array_equal(result.acc, acc)
    assert result.acc_saturations == acc_sats


@pytest.mark.parametrize("encoding, batch", [(InputEncoding.BIT_SERIAL, 100), (InputEncoding.PWM, 800)],
                         ids=["bit-serial", "pwm"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_mvm_is_reproducible_for_a_seed(threads, encoding, batch):
    rng = np.random.default_rng(7)
    tile = CrossbarTile.program(rng.standard_normal((256, 128)), seed=8)
    tile.threads = threads
    x = rng.integers(0, 256, (batch, 256))        # reads x batch x 128 = 102,400 noise values: enough for 3 chunks
    a, b, c = (tile.mvm(x, DAY, np.random.default_rng(s), encoding=encoding) for s in (9, 9, 10))
    np.testing.assert_array_equal(a.currents, b.currents)
    np.testing.assert_array_equal(a.acc, b.acc)
    assert not np.array_equal(a.currents, c.currents)


def test_all_zero_inputs_give_zero_current_codes_and_accumulators():
    rng = np.random.default_rng(11)
    tile = CrossbarTile.program(rng.standard_normal((256, 128)), seed=12)
    result = tile.mvm(np.zeros((4, 256), dtype=int), DAY, rng)
    assert not result.currents.any() and not result.codes.any() and not result.acc.any()


def test_all_max_inputs_repeat_one_plane_code_on_an_ideal_tile():
    rng = np.random.default_rng(13)
    w = rng.standard_normal((256, 128))
    tile, _ = ideal_tile(w, "column")
    result = tile.mvm(np.full((3, 256), 255), 0.0, rng)
    np.testing.assert_array_equal(result.codes, np.broadcast_to(result.codes[0], result.codes.shape))
    np.testing.assert_array_equal(result.acc, 255 * result.codes[0])


@pytest.mark.parametrize("sign, code", [(1, 127), (-1, -128)])
def test_full_scale_conductances_saturate_the_adc(sign, code):
    pcm = PcmModel().ideal()
    tile = CrossbarTile.program(np.full((256, 128), sign), seed=0, pcm=pcm)
    np.testing.assert_array_equal(tile.devices.g_target[:, (0 if sign > 0 else 1)::2], pcm.g_max)
    result = tile.mvm(np.full((2, 256), 255), 0.0, np.random.default_rng(0))
    # Every wordline on: I = V_read * 256 * Gmax = 1.28 mA per plane, far past the 10 uA full scale.
    np.testing.assert_allclose(result.currents, sign * 0.2 * 256 * 25e-6, rtol=1e-6)
    np.testing.assert_array_equal(result.codes, code)
    n = result.codes.size
    assert result.adc_saturations == ((0, n) if sign > 0 else (n, 0))
    np.testing.assert_array_equal(result.acc, code * 255)
    assert result.acc_saturations == 0


def test_narrow_accumulator_saturation_is_counted_by_the_tile():
    pcm = PcmModel().ideal()
    tile = CrossbarTile.program(np.ones((256, 4)), seed=0, pcm=pcm, fmt=PeripheryFormat(acc_bits=10))
    result = tile.mvm(np.full((1, 256), 255), 0.0, np.random.default_rng(0))
    # Codes 127 on every plane of the 4 used columns: 127, 381, then 6 saturated steps at 511 (test_model_arith).
    np.testing.assert_array_equal(result.acc[:, :4], 511)
    assert result.acc_saturations == 6 * 4


def test_save_and_load_round_trip_gives_identical_mvm(tmp_path):
    rng = np.random.default_rng(14)
    tile = CrossbarTile.program(rng.standard_normal((200, 100)), seed=15, t_program=5.0,
                                pcm=PcmModel(p_stuck_set=0.002, p_stuck_reset=0.003), adc=AdcConfig(i_fs=20e-6))
    tile.reprogram(rng.random((256, 256)) < 0.1, rng, 100.0)
    path = tmp_path / "tile.npz"
    tile.save(path)
    loaded = CrossbarTile.load(path)
    assert (loaded.pcm, loaded.adc, loaded.fmt, loaded.config, loaded.seed, loaded.weight_shape) == \
        (tile.pcm, tile.adc, tile.fmt, tile.config, tile.seed, tile.weight_shape)
    x = rng.integers(0, 256, (8, 200))
    a, b = (t.mvm(x, DAY, np.random.default_rng(16)) for t in (tile, loaded))
    for name in ("currents", "codes", "acc"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_reprogram_invalidates_cached_conductances():
    rng = np.random.default_rng(17)
    tile = CrossbarTile.program(rng.standard_normal((256, 128)), seed=18)
    other_adc = tile.with_adc(AdcConfig(i_fs=20e-6))          # shares the devices
    x = rng.integers(0, 256, (8, 256))
    before = tile.mvm(x, DAY, np.random.default_rng(19))
    other_adc.mvm(x, DAY, np.random.default_rng(19))           # fills its cache too
    mask = np.zeros((256, 256), dtype=bool)
    mask[:64] = True
    assert tile.reprogram(mask, np.random.default_rng(20), DAY - 3600) == 64 * 256
    fresh = CrossbarTile(tile.devices, tile.weight_shape, tile.g_per_weight, pcm=tile.pcm, adc=tile.adc,
                         fmt=tile.fmt, config=tile.config)
    after, expected = (t.mvm(x, DAY, np.random.default_rng(19)) for t in (tile, fresh))
    np.testing.assert_array_equal(after.currents, expected.currents)
    assert not np.array_equal(after.currents, before.currents)
    fresh_other = fresh.with_adc(other_adc.adc)
    np.testing.assert_array_equal(other_adc.mvm(x, DAY, np.random.default_rng(19)).codes,
                                  fresh_other.mvm(x, DAY, np.random.default_rng(19)).codes)


def test_program_with_a_shared_column_scale_uses_it_and_rejects_weights_beyond_gmax():
    from neurophase.model.tile import CrossbarTile
    w = np.array([[1.0, -2.0], [0.5, 1.0]])
    gpw = np.array([5e-6, 10e-6])
    tile = CrossbarTile.program(w, seed=3, scale=gpw, pcm=PcmModel().ideal())
    assert np.array_equal(tile.g_per_weight, gpw)
    assert np.allclose(tile.devices.g_target[:2, :4], [[5e-6, 0, 0, 20e-6], [2.5e-6, 0, 10e-6, 0]])
    with pytest.raises(ValueError, match="weights x scale must stay within g_max"):
        CrossbarTile.program(w, seed=3, scale=gpw * 2)
    with pytest.raises(ValueError, match=r"scale \(S per weight unit\) must have shape \(2\)"):
        CrossbarTile.program(w, seed=3, scale=gpw[:1])


@pytest.mark.parametrize("encoding", list(InputEncoding), ids=lambda e: e.label)
@pytest.mark.parametrize("threads", [1, 2])
def test_mvm_of_the_used_columns_equals_the_whole_width_mvm_bit_for_bit(encoding, threads):
    """``columns=k`` (the chip model's hot path) returns the first k columns of the whole-width MVM: the same read
    noise (drawn for every column), currents, codes and accumulators, for k below, at and above the
    programmed width and batches that split into thread chunks evenly or not."""
    rng = np.random.default_rng(31)
    tile = CrossbarTile.program(rng.uniform(-1, 1, (144, 32)), seed=32, adc=AdcConfig(8, 2e-6))
    tile.threads = threads
    for batch in (1, 3, 300):
        x = rng.integers(0, 256, (batch, 144)) * (rng.random((batch, 144)) < 0.5)
        whole = tile.mvm(x, DAY, np.random.default_rng(33), encoding=encoding)
        for k in (1, 32, 97, 128):
            part = tile.mvm(x, DAY, np.random.default_rng(33), encoding=encoding, columns=k)
            for name in ("currents", "codes"):
                np.testing.assert_array_equal(getattr(part, name), getattr(whole, name)[..., :k])
            np.testing.assert_array_equal(part.acc, whole.acc[:, :k])


def test_mvm_rejects_a_column_count_outside_the_tile():
    tile = CrossbarTile.program(np.ones((4, 2)), seed=0)
    with pytest.raises(ValueError, match=r"columns must be an integer in \[1, 128\], got 0"):
        tile.mvm(np.zeros((1, 4), int), 0.0, np.random.default_rng(0), columns=0)
