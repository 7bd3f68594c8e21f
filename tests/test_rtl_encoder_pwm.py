"""rtl/encoder_pwm.py: one read per MVM, each wordline driven for its first x * lsb_cycles cycles of a window of
(2^b_in - 1) * lsb_cycles cycles, ``pulse`` in the window's first cycle, then ``adc_start`` with the wordlines off and
the one conversion ending the MVM (docs/architecture.md D8; the slot's handshake: rtl/input_encoder.py)."""

import random

import pytest
from amaranth.hdl import Cat

from neurophase.model.interface import InputEncoding
from neurophase.rtl.encoder_pwm import PwmEncoder
from neurophase.tb.amaranth_sim import record_encoder

ROWS = 12


def _check_read(cycles, wl_after, x, b_in, lsb_cycles, adc_latency):
    """The D8 timing contract on one recorded MVM; an AssertionError names the first violation."""
    window = ((1 << b_in) - 1) * lsb_cycles
    assert len(cycles) == window + adc_latency + 1, f"read of {len(cycles)} cycles"
    assert [c["pulse"] for c in cycles] == [1] + [0] * (len(cycles) - 1), "pulse only in the window's first cycle"
    assert [c["adc_start"] for c in cycles] == [0] * window + [1] + [0] * adc_latency, "adc_start after the window"
    assert [c["code_valid"] for c in cycles] == [0] * (len(cycles) - 1) + [1]
    assert (cycles[-1]["first"], cycles[-1]["last"]) == (1, 1), "the one read is the MVM's first and last"
    for i, xi in enumerate(x):
        row = [(c["wl"] >> i) & 1 for c in cycles]
        width = xi * lsb_cycles
        assert row == [1] * width + [0] * (len(cycles) - width), f"row {i} (x = {xi}): wordline {row}"
    assert wl_after == 0, "no wordline is driven after the read"


CASES = [(8, 1, 9), (4, 3, 2), (1, 2, 3)]      # (b_in, lsb_cycles, adc_latency)


@pytest.mark.parametrize("b_in, lsb_cycles, adc_latency", CASES)
def test_each_wordline_pulse_lasts_its_activation_then_one_conversion(b_in, lsb_cycles, adc_latency):
    rng = random.Random(b_in)
    top = (1 << b_in) - 1
    x = [0, top] + [rng.randrange(top + 1) for _ in range(ROWS - 2)]     # never driven, and the whole window
    dut = PwmEncoder(rows=ROWS, b_in=b_in, lsb_cycles=lsb_cycles)
    assert dut.reads == 1 == InputEncoding.PWM.reads(b_in)
    assert dut.window == top * lsb_cycles
    assert dut.read_cycles(adc_latency) == dut.window + adc_latency + 1
    for cycles, wl_after in record_encoder(dut, adc_latency, x):
        _check_read(cycles, wl_after, x, b_in, lsb_cycles, adc_latency)


class _OneLsbTooLong(PwmEncoder):
    def _wordlines(self, units):
        return Cat(self.x[i] >= units for i in range(self._rows))


class _ConvertsOneCycleEarly(PwmEncoder):
    def _window_ends(self, units, phase):          # lsb_cycles = 2: the window's second-to-last cycle
        return (units == (1 << self._b_in) - 2) & (phase == 0)


@pytest.mark.parametrize("broken", [_OneLsbTooLong, _ConvertsOneCycleEarly])
def test_the_timing_check_fails_a_broken_encoder(broken):
    b_in, lsb_cycles, adc_latency = 4, 2, 3
    x = [0, 15, 7, 1, 3, 9, 2, 4, 5, 6, 11, 8]
    dut = broken(rows=ROWS, b_in=b_in, lsb_cycles=lsb_cycles)
    cycles, wl_after = record_encoder(dut, adc_latency, x, mvms=1)[0]
    with pytest.raises(AssertionError):
        _check_read(cycles, wl_after, x, b_in, lsb_cycles, adc_latency)


@pytest.mark.parametrize("kw, msg", [
    (dict(b_in=0), r"b_in must be an integer in \[1, 16\], got 0"),
    (dict(rows=0), r"rows must be an integer in \[1, 4096\], got 0"),
    (dict(lsb_cycles=0), r"lsb_cycles must be an integer in \[1, 256\], got 0"),
])
def test_pwm_encoder_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        PwmEncoder(**kw)
