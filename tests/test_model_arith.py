"""Integer periphery (docs/architecture.md §4, decision D4): corner cases of model/arith.py, with expectations
worked by hand or by a plain-Python restatement of D4."""

import numpy as np
import pytest

from neurophase.model.arith import (BnRegisters, PeripheryFormat, accumulate, bit_planes, bn_requantise,
                                    read_window, reduce_partial_sums, saturate, shift_and_add, wordline_pulses)
from neurophase.model.checks import signed_range
from neurophase.model.interface import InputEncoding


def shift_and_add_reference(column, acc_bits):
    """D4 in plain Python integers: acc <- sat(2 acc + code), MSB plane first; returns (acc, saturated steps)."""
    lo, hi = signed_range(acc_bits)
    acc = sats = 0
    for code in column:
        acc = 2 * acc + int(code)
        if not lo <= acc <= hi:
            acc, sats = min(max(acc, lo), hi), sats + 1
    return acc, sats


def test_bit_planes_are_msb_first():
    planes = bit_planes(np.array([[0, 255, 128, 1, 0b10100101]]), 8)
    assert planes.shape == (8, 1, 5) and planes.dtype == np.uint8
    np.testing.assert_array_equal(planes[:, 0, 0], 0)
    np.testing.assert_array_equal(planes[:, 0, 1], 1)
    np.testing.assert_array_equal(planes[:, 0, 2], [1, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(planes[:, 0, 3], [0, 0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(planes[:, 0, 4], [1, 0, 1, 0, 0, 1, 0, 1])


def test_bit_planes_of_wide_activations():
    x = np.array([0, 1, (1 << 12) - 1, 0b101100111000])
    planes = bit_planes(x, 12)
    np.testing.assert_array_equal((planes.astype(np.int64) << np.arange(11, -1, -1)[:, None]).sum(0), x)


def test_pwm_drives_one_read_whose_pulse_lengths_are_the_activations_in_a_window_of_the_longest_pulse():
    x = np.array([[0, 255, 128, 1], [7, 0, 3, 200]])
    pulses = wordline_pulses(x, InputEncoding.PWM, 8)
    assert pulses.shape == (1, 2, 4) and pulses.dtype == np.uint8
    np.testing.assert_array_equal(pulses[0], x)
    assert wordline_pulses(np.array([4095]), "pwm", 12).dtype == np.uint16
    np.testing.assert_array_equal(wordline_pulses(x, "bit-serial", 8), bit_planes(x, 8))
    assert (read_window("bit-serial", 8), read_window("pwm", 8), read_window("pwm", 4)) == (1, 255, 15)


def test_the_pwm_accumulator_is_the_sign_extended_code():
    codes = np.array([[-128, -1, 0, 1, 127]])
    for acc_bits in (9, 20):
        acc, sats = accumulate(codes, PeripheryFormat(acc_bits=acc_bits), InputEncoding.PWM)
        np.testing.assert_array_equal(acc, codes[0])
        assert sats == 0
    bit_serial = np.random.default_rng(3).integers(-128, 128, (8, 20))
    for a, b in zip(accumulate(bit_serial, PeripheryFormat(), "bit-serial"),
                    shift_and_add(bit_serial, PeripheryFormat())):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("acc_bits", [20, 16, 15])
def test_shift_and_add_without_saturation_is_the_weighted_sum(acc_bits):
    # 16 bits still hold 128 * 255 (fast path); 15 bits take the step-by-step path on codes that fit anyway.
    fmt = PeripheryFormat(acc_bits=acc_bits)
    codes = np.random.default_rng(1).integers(-64, 64, (8, 50, 7))
    acc, sats = shift_and_add(codes, fmt)
    assert sats == 0
    np.testing.assert_array_equal(acc, (codes * (1 << np.arange(7, -1, -1))[:, None, None]).sum(0))


def test_all_max_and_all_min_codes_fill_a_default_accumulator_without_saturating():
    fmt = PeripheryFormat()
    codes = np.broadcast_to(np.array([127, -128]), (8, 3, 2))
    acc, sats = shift_and_add(codes, fmt)
    np.testing.assert_array_equal(acc, np.broadcast_to([127 * 255, -128 * 255], (3, 2)))
    assert sats == 0


def test_narrow_accumulator_saturates_at_every_step_past_its_range():
    fmt = PeripheryFormat(acc_bits=10)
    # All +127: 127, 381, 889 -> 511, then 1022 + 127 -> 511 for each remaining plane: 6 saturated steps.
    acc, sats = shift_and_add(np.full((8, 1), 127), fmt)
    assert (int(acc[0]), sats) == (511, 6)
    acc, sats = shift_and_add(np.full((8, 1), -128), fmt)
    assert (int(acc[0]), sats) == (-512, 6)
    codes = np.random.default_rng(2).integers(-128, 128, (8, 400))
    acc, sats = shift_and_add(codes, fmt)
    ref = [shift_and_add_reference(codes[:, j], 10) for j in range(codes.shape[1])]
    np.testing.assert_array_equal(acc, [a for a, _ in ref])
    assert sats == sum(s for _, s in ref) > 0


def test_partial_sums_saturate_after_each_addition_in_tile_order():
    fmt = PeripheryFormat()
    top = (1 << 19) - 1
    total, sats = reduce_partial_sums(np.array([[top], [1], [-5]]), fmt)
    # top + 1 clamps to top, then -5: saturation after each add, not once at the end (which would give top - 4).
    assert (int(total[0]), sats) == (top - 5, 1)
    total, sats = reduce_partial_sums(np.array([[-top - 1], [-1], [-1], [3]]), fmt)
    assert (int(total[0]), sats) == (-top - 1 + 3, 2)
    total, sats = reduce_partial_sums(np.array([[100, -7], [23, 7], [-3, 0]]), fmt)
    np.testing.assert_array_equal(total, [120, 0])
    assert sats == 0


@pytest.mark.parametrize("z, shift, expected", [
    (3, 1, 2), (-3, 1, -1), (-1, 1, 0), (1, 1, 1), (5, 2, 1), (6, 2, 2), (-6, 2, -1), (-7, 2, -2), (7, 0, 7)])
def test_bn_rounds_half_up_with_an_arithmetic_shift(z, shift, expected):
    # (z + 2^(r-1)) >>> r: halves round towards +inf, negative values shift arithmetically (floor).
    fmt = PeripheryFormat()
    y, sats = bn_requantise(np.array([z]), np.array([1]), np.array([0]), shift, fmt, relu=False, last=True)
    assert (int(y[0]), sats) == (expected, 0)


def test_bn_scale_bias_relu_and_hidden_layer_clamp():
    fmt = PeripheryFormat()
    acc = np.array([[10, -10, 1000, 3]])
    scale, bias = np.array([3, 3, 3, -5]), np.array([4, 4, 4, 100])
    # acc * s + b = 34, -26, 3004, 85; >>> 2 with rounding: 9, -6, 751, 21; ReLU; clamp to [0, 255].
    y, sats = bn_requantise(acc, scale, bias, 2, fmt, relu=True)
    np.testing.assert_array_equal(y, [[9, 0, 255, 21]])
    assert sats == 1                       # the clamp at 255 counts; ReLU zeroing does not
    y, sats = bn_requantise(acc, scale, bias, 2, fmt, relu=False)
    np.testing.assert_array_equal(y, [[9, 0, 255, 21]])
    assert sats == 2                       # without ReLU the hidden-layer clamp at 0 is a saturation


def test_bn_registers_apply_bn_requantise_and_state_their_real_affine_map():
    fmt = PeripheryFormat()
    scale, bias = np.array([3, 3, 3, -5]), np.array([4, 4, 4, 100])
    regs = BnRegisters(scale, bias, 2)
    acc = np.array([[10, -10, 1000, 3]])
    y, sats = regs.requantise(acc, fmt, relu=False)
    want, want_sats = bn_requantise(acc, scale, bias, 2, fmt, relu=False)
    np.testing.assert_array_equal(y, want)
    assert sats == want_sats and regs.channels == 4
    np.testing.assert_array_equal(regs.multiplier, [0.75, 0.75, 0.75, -1.25])
    np.testing.assert_array_equal(regs.offset, [1, 1, 1, 25])
    scale[0] = 99                          # the registers keep their own read-only copy
    assert regs.scale[0] == 3 and not regs.scale.flags.writeable


def test_bn_registers_count_the_values_that_differ():
    a = BnRegisters(np.array([1, 2]), np.array([3, 4]), 5)
    assert a.mismatches(a) == 0
    assert a.mismatches(BnRegisters(np.array([1, 0]), np.array([0, 4]), 6)) == 3
    assert a.mismatches(BnRegisters(np.array([1, 2, 3]), np.array([3, 4, 5]), 5)) == 7   # different widths: all


@pytest.mark.parametrize("scale, bias, shift, msg", [
    (np.array([1.5]), np.array([0]), 0, "BN scale must be an array of integers, got dtype float64"),
    (np.array([1, 2]), np.array([0]), 0, r"BN scale and bias must be 1-D arrays of one length \(a value per channel\), "
                                         r"got shapes \(2,\) and \(1,\)"),
    (np.array([1]), np.array([0]), -1, r"BN shift must be an integer in \[0, inf\], got -1"),
])
def test_bn_registers_reject_what_no_register_holds(scale, bias, shift, msg):
    with pytest.raises(ValueError, match=msg):
        BnRegisters(scale, bias, shift)


def test_bn_last_layer_clamps_to_signed_output_width():
    fmt = PeripheryFormat(out_bits=8)
    y, sats = bn_requantise(np.array([200, -200, 127, -128]), np.array([1] * 4), np.array([0] * 4), 0, fmt,
                            relu=False, last=True)
    np.testing.assert_array_equal(y, [127, -128, 127, -128])
    assert sats == 2


def test_bn_extremes_fit_the_int64_datapath():
    fmt = PeripheryFormat()
    acc_max, s_min, b_min = (1 << 19) - 1, -(1 << 15), -(1 << 31)
    y, sats = bn_requantise(np.array([acc_max, -acc_max - 1]), np.array([s_min, s_min]),
                            np.array([b_min, b_min]), 31, fmt, relu=False, last=True)
    np.testing.assert_array_equal(y, [(acc_max * s_min + b_min + (1 << 30)) >> 31,
                                      ((-acc_max - 1) * s_min + b_min + (1 << 30)) >> 31])
    assert sats == 0


def test_saturate_counts_clamped_entries():
    y, n = saturate(np.array([-200, -128, 0, 127, 128, 10 ** 12]), 8)
    np.testing.assert_array_equal(y, [-128, -128, 0, 127, 127, 127])
    assert n == 3
