"""Bad input to the golden model raises ValueError naming the argument and the allowed range."""

import numpy as np
import pytest

from neurophase.model.adc import AdcConfig, convert, current_code
from neurophase.model.arith import (PeripheryFormat, accumulate, bit_planes, bn_requantise, read_window,
                                    reduce_partial_sums, shift_and_add, wordline_pulses)
from neurophase.model.device import PcmModel
from neurophase.model.interface import InputEncoding
from neurophase.model.tile import CrossbarTile, TileConfig


@pytest.fixture(scope="module")
def tile():
    return CrossbarTile.program(np.random.default_rng(0).standard_normal((256, 128)), seed=1)


@pytest.mark.parametrize("shape", [(256,), (2, 256, 128), (257, 128), (256, 129), (0, 5)])
def test_weights_of_wrong_shape(shape):
    with pytest.raises(ValueError, match=r"weights must be a 2-D array of at most 256 rows x 128 columns, "
                                         r"got shape \(" + ", ".join(map(str, shape))):
        CrossbarTile.program(np.ones(shape), seed=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(bad):
    w = np.ones((4, 3))
    w[2, 1] = bad
    with pytest.raises(ValueError, match=r"weights must be finite; entry \(2, 1\) is"):
        CrossbarTile.program(w, seed=0)


def test_unknown_weight_scale():
    with pytest.raises(ValueError, match=r"scale must be 'column', 'tile' or an array of S per weight unit, got 'row'"):
        CrossbarTile.program(np.ones((4, 3)), seed=0, scale="row")


@pytest.mark.parametrize("value, message", [
    (256, r"activations must be unsigned 8-bit integers in \[0, 255\], got 256"),
    (-1, r"activations must be unsigned 8-bit integers in \[0, 255\], got -1"),
    (1.5, r"activations must hold integers \(unsigned 8-bit integers in \[0, 255\]\), got dtype float64"),
    (np.nan, r"activations must hold integers \(unsigned 8-bit integers in \[0, 255\]\), got dtype float64")])
def test_activations_out_of_range(tile, value, message):
    x = np.zeros((2, 256))
    x[1, 7] = value
    with pytest.raises(ValueError, match=message):
        tile.mvm(x, 0.0, np.random.default_rng(0))


@pytest.mark.parametrize("encoding", ["bit-serial", "pwm"])
def test_activations_out_of_range_in_either_encoding(tile, encoding):
    with pytest.raises(ValueError, match=r"activations must be unsigned 8-bit integers in \[0, 255\], got 300"):
        tile.mvm(np.full((1, 256), 300), 0.0, np.random.default_rng(0), encoding=encoding)


def test_unknown_input_encoding(tile):
    with pytest.raises(ValueError, match=r"input encoding must be one of \['bit-serial', 'pwm'\], got 'pulse'"):
        tile.mvm(np.zeros((1, 256), dtype=int), 0.0, np.random.default_rng(0), encoding="pulse")


@pytest.mark.parametrize("shape", [(2, 255), (2, 3, 256), (255,)])
def test_activations_of_wrong_shape(tile, shape):
    with pytest.raises(ValueError, match=r"activations must have shape \(any, 256\), got"):
        tile.bitline_currents(np.zeros(shape, dtype=int), 0.0, np.random.default_rng(0))


@pytest.mark.parametrize("make, message", [
    (lambda: PeripheryFormat(b_in=0), r"b_in must be an integer in \[1, 16\], got 0"),
    (lambda: PeripheryFormat(b_in=17), r"b_in must be an integer in \[1, 16\], got 17"),
    (lambda: PeripheryFormat(b_adc=13), r"b_adc must be an integer in \[2, 12\], got 13"),
    (lambda: PeripheryFormat(acc_bits=8), r"acc_bits must be an integer in \[9, 40\], got 8"),
    (lambda: PeripheryFormat(b_in=2.5), r"b_in must be an integer, not 2.5"),
    (lambda: AdcConfig(bits=1), r"adc bits must be an integer in \[2, 12\], got 1"),
    (lambda: AdcConfig(frac_bits=0), r"frac_bits must be an integer in \[1, 16\], got 0"),
    (lambda: AdcConfig(i_fs=0.0), r"i_fs \(ADC full-scale current, A\) must be a finite number > 0, got 0.0"),
    (lambda: AdcConfig(i_fs=np.nan), r"i_fs \(ADC full-scale current, A\) must be a finite number > 0, got nan"),
    (lambda: TileConfig(rows=0), r"rows must be an integer in \[1, 4096\], got 0"),
    (lambda: TileConfig(bitlines=255), r"bitlines must be even \(differential pairs\), got 255"),
    (lambda: TileConfig(v_read=-0.2), r"v_read \(V\) must be a finite number > 0, got -0.2"),
    (lambda: PcmModel(g_max=0), r"g_max \(S\) must be a finite number > 0, got 0"),
    (lambda: PcmModel(p_stuck_set=1.5), r"p_stuck_set must be a probability in \[0, 1\], got 1.5"),
    (lambda: PcmModel(p_stuck_set=0.6, p_stuck_reset=0.6), r"p_stuck_set \+ p_stuck_reset must be <= 1"),
])
def test_parameters_out_of_range(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_adc_width_must_match_the_periphery_format():
    with pytest.raises(ValueError, match=r"fmt.b_adc \(6\) must equal adc.bits \(8\)"):
        CrossbarTile.program(np.ones((4, 3)), seed=0, fmt=PeripheryFormat(b_adc=6))


@pytest.mark.parametrize("t", [-1.0, np.nan, np.inf, "soon"])
def test_bad_read_times(tile, t):
    with pytest.raises(ValueError, match=r"t \(s\) must be a finite number >= 0, got"):
        tile.mvm(np.zeros((1, 256), dtype=int), t, np.random.default_rng(0))


def test_negative_programming_times():
    with pytest.raises(ValueError, match=r"t_program \(s\) must be a finite number >= 0, got -5"):
        CrossbarTile.program(np.ones((4, 3)), seed=0, t_program=-5)
    with pytest.raises(ValueError, match=r"t_program \(s\) must be a finite number >= 0, got -5"):
        PcmModel().program(np.zeros(3), np.random.default_rng(0), t_program=-5)


def test_reading_before_programming():
    tile = CrossbarTile.program(np.ones((4, 3)), seed=0, t_program=100.0)
    with pytest.raises(ValueError, match=r"t \(s\) must be >= the latest programming time of the devices, "
                                         r"100 s, got 50"):
        tile.mvm(np.zeros((1, 4), dtype=int), 50.0, np.random.default_rng(0))


def test_bad_reprogramming(tile):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"mask must be a boolean array of shape \(256, 256\), got bool \(256, 128\)"):
        tile.reprogram(np.ones((256, 128), dtype=bool), rng, 10.0)
    with pytest.raises(ValueError, match=r"t_now \(s\) must be a finite number >= 0, got -1"):
        tile.reprogram(np.ones((256, 256), dtype=bool), rng, -1)
    later = CrossbarTile.program(np.ones((4, 3)), seed=0, t_program=100.0)
    with pytest.raises(ValueError, match=r"t_now must be >= the last programming time of the masked devices "
                                         r"\(100 s\), got 99"):
        later.reprogram(np.ones((256, 256), dtype=bool), rng, 99.0)


def test_targets_outside_the_conductance_range():
    with pytest.raises(ValueError, match=r"g_target must lie in \[0, g_max=2.5e-05 S\], got \[-1e-06, 0\]"):
        PcmModel().program(np.array([-1e-6, 0.0]), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"g_target \(S\) must be finite"):
        PcmModel().program(np.array([np.nan]), np.random.default_rng(0))


def test_non_finite_currents_into_the_adc():
    for f in (convert, current_code):
        with pytest.raises(ValueError, match=r"current must be finite; entry \(1,\) is nan"):
            f(np.array([0.0, np.nan]), AdcConfig())


def test_integer_periphery_inputs_out_of_range():
    fmt = PeripheryFormat()
    with pytest.raises(ValueError, match=r"codes must be signed 8-bit integers in \[-128, 127\], got 128"):
        shift_and_add(np.full((8, 2), 128), fmt)
    with pytest.raises(ValueError, match=r"codes must have b_in=8 bit-planes on axis 0, got shape \(7, 2\)"):
        shift_and_add(np.zeros((7, 2), dtype=int), fmt)
    with pytest.raises(ValueError, match=r"partials must be signed 20-bit integers in \[-524288, 524287\]"):
        reduce_partial_sums(np.array([[1 << 19]]), fmt)
    with pytest.raises(ValueError, match=r"shift must be an integer in \[0, 31\], got 32"):
        bn_requantise(np.zeros(2, dtype=int), np.ones(2, dtype=int), np.zeros(2, dtype=int), 32, fmt)
    with pytest.raises(ValueError, match=r"scale must be signed 16-bit integers in \[-32768, 32767\], got 32768"):
        bn_requantise(np.zeros(2, dtype=int), np.full(2, 1 << 15), np.zeros(2, dtype=int), 0, fmt)
    with pytest.raises(ValueError, match=r"activations must be unsigned 4-bit integers in \[0, 15\], got 16"):
        bit_planes(np.array([16]), 4)
    with pytest.raises(ValueError, match=r"codes must have 1 read \(PWM\) on axis 0, got shape \(8, 2\)"):
        accumulate(np.zeros((8, 2), dtype=int), fmt, InputEncoding.PWM)
    with pytest.raises(ValueError, match=r"activations must be unsigned 8-bit integers in \[0, 255\], got 256"):
        wordline_pulses(np.array([256]), InputEncoding.PWM, 8)
    with pytest.raises(ValueError, match=r"input encoding must be one of \['bit-serial', 'pwm'\], got 'pulse'"):
        read_window("pulse", 8)


def test_thread_count_out_of_range(tile):
    with pytest.raises(ValueError, match=r"threads must be an integer in \[1, 64\], got 0"):
        tile.threads = 0
