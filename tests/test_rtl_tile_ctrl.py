"""rtl/tile_ctrl.py in Amaranth's simulator: the input-encoder slot (MODE.encoding selects among the encoders the
tile implements; others are a bad value) and the wordline mask of the rows in use. The controller's registers, MVMs
and streams against the golden model: tests/test_rtl_tile.py (cocotb, both simulators)."""

import pytest

from neurophase.model.interface import TILE_MODE, InputEncoding, TileCtrl, TileErr, TileReg
from neurophase.rtl.tile_ctrl import TileController
from neurophase.tb.amaranth_sim import bus_read, bus_write, simulate, stream_put

ROWS, ADC_LATENCY = 4, 3


async def _mvm(ctx, dut, x):
    """Stream ``x``, let the armed tile run its reads against an ADC of ADC_LATENCY cycles and read out (RAW);
    returns the wordlines of each read (sampled at its pulse)."""
    await stream_put(ctx, dut.act, x)
    ctx.set(dut.out.ready, 1)
    reads, done_in = [], None
    while not ctx.get(dut.done):
        if ctx.get(dut.pulse):
            reads.append(ctx.get(dut.wl))
        if ctx.get(dut.adc_start):
            done_in = ADC_LATENCY
        ctx.set(dut.adc_done, done_in == 0)
        done_in = None if done_in in (None, 0) else done_in - 1
        await ctx.tick()
    await ctx.tick()
    return reads


def _controller(encodings=(InputEncoding.BIT_SERIAL,)):
    return TileController(rows=ROWS, columns=2, acts_per_beat=ROWS, encodings=encodings)


def test_mode_selects_the_input_encoder_among_those_the_tile_implements():
    dut = _controller(encodings=(InputEncoding.BIT_SERIAL, InputEncoding.PWM))
    x = [3, 0, 1, 2]

    async def testbench(ctx):
        await bus_write(ctx, dut.bus, TileReg.MODE, TILE_MODE.encode(raw=1, autostart=1))
        assert await _mvm(ctx, dut, x) == [0] * 6 + [0b1001, 0b0101], "bit-serial: one read per plane, MSB first"
        await bus_write(ctx, dut.bus, TileReg.MODE, TILE_MODE.encode(raw=1, autostart=1, encoding=InputEncoding.PWM))
        assert await bus_read(ctx, dut.bus, TileReg.MODE) == TILE_MODE.encode(raw=1, autostart=1, encoding=1)
        assert await _mvm(ctx, dut, x) == [0b1101], "PWM: one read, every row with a nonzero activation driven"
        await bus_write(ctx, dut.bus, TileReg.MODE, TILE_MODE.encode(encoding=2))
        assert await bus_read(ctx, dut.bus, TileReg.ERRORS) == TileErr.BAD_VALUE
        assert await bus_read(ctx, dut.bus, TileReg.MODE) == TILE_MODE.encode(raw=1, autostart=1, encoding=1)

    simulate(dut, testbench)


def test_a_mode_write_of_an_encoding_the_tile_does_not_implement_is_a_bad_value():
    dut = _controller()

    async def testbench(ctx):
        await bus_write(ctx, dut.bus, TileReg.MODE, TILE_MODE.encode(autostart=1, encoding=InputEncoding.PWM))
        assert await bus_read(ctx, dut.bus, TileReg.ERRORS) == TileErr.BAD_VALUE
        assert await bus_read(ctx, dut.bus, TileReg.MODE) == 0, "MODE keeps its value"

    simulate(dut, testbench)


def test_wordlines_stay_within_the_rows_in_use_when_rows_used_shrinks():
    dut = _controller()

    async def testbench(ctx):
        await bus_write(ctx, dut.bus, TileReg.MODE, TILE_MODE.encode(raw=1))
        await bus_write(ctx, dut.bus, TileReg.CTRL, TileCtrl.START)
        assert await _mvm(ctx, dut, [255] * ROWS) == [0b1111] * 8
        await bus_write(ctx, dut.bus, TileReg.ROWS_USED, 2)
        await bus_write(ctx, dut.bus, TileReg.CTRL, TileCtrl.START)
        # Rows 2 and 3 still hold 255 from the last vector; only rows 0 and 1 are in use.
        assert await _mvm(ctx, dut, [128, 1, 0, 0]) == [0b01] + [0] * 6 + [0b10]
        assert await bus_read(ctx, dut.bus, TileReg.ERRORS) == 0

    simulate(dut, testbench)


@pytest.mark.parametrize("encodings, msg", [
    ((), r"encodings must list different input encodings among \['bit-serial', 'pwm'\], got \[\]"),
    ((InputEncoding.PWM, InputEncoding.PWM), r"encodings must list different input encodings among "
                                             r"\['bit-serial', 'pwm'\], got \[<InputEncoding.PWM: 1>, "
                                             r"<InputEncoding.PWM: 1>\]"),
    ((InputEncoding.BIT_SERIAL, 2), r"encodings must list different input encodings among "
                                    r"\['bit-serial', 'pwm'\], got \[<InputEncoding.BIT_SERIAL: 0>, 2\]"),
])
def test_tile_controller_rejects_encodings_it_has_no_encoder_for(encodings, msg):
    with pytest.raises(ValueError, match=msg):
        _controller(encodings)
