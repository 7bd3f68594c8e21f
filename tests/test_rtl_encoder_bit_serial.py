"""rtl/encoder_bit_serial.py: one read per bit-plane, MSB first, each read's wordlines held from its pulse to the
ADC's done, the input-encoder slot's handshake (rtl/input_encoder.py)."""

import random

import numpy as np
import pytest

from neurophase.model.arith import bit_planes
from neurophase.model.interface import InputEncoding
from neurophase.rtl.encoder_bit_serial import BitSerialEncoder
from neurophase.tb.amaranth_sim import record_encoder

ROWS = 12


@pytest.mark.parametrize("b_in, adc_latency", [(8, 9), (4, 2), (1, 3)])
def test_each_bit_plane_is_one_read_msb_first(b_in, adc_latency):
    rng = random.Random(b_in)
    x = [rng.randrange(1 << b_in) for _ in range(ROWS)]
    planes = bit_planes(np.array(x), b_in)                     # the golden model's planes, MSB first
    dut = BitSerialEncoder(rows=ROWS, b_in=b_in)
    trace = record_encoder(dut, adc_latency, x)
    assert dut.reads == b_in == InputEncoding.BIT_SERIAL.reads(b_in)
    per_read = dut.read_cycles(adc_latency)
    for cycles, wl_after in trace:
        assert len(cycles) == b_in * per_read == b_in * (adc_latency + 1)
        for b in range(b_in):
            read = cycles[b * per_read:(b + 1) * per_read]
            want = int("".join(str(int(bit)) for bit in planes[b][::-1]), 2)
            assert all(c["wl"] == want for c in read), f"plane {b}: wordlines held for the whole read"
            assert [c["pulse"] for c in read] == [1] + [0] * adc_latency
            assert [c["adc_start"] for c in read] == [c["pulse"] for c in read]
            assert [c["code_valid"] for c in read] == [0] * adc_latency + [1]
            assert (read[-1]["first"], read[-1]["last"]) == (b == 0, b == b_in - 1)
        assert wl_after == 0, "no wordline is driven after the last read"


def test_bit_serial_encoder_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"b_in must be an integer in \[1, 16\], got 0"):
        BitSerialEncoder(rows=4, b_in=0)
