"""rtl/bn_regs.py: the BN register bank of a tile and of the chip's reducer: configuration, staged scale, the bias
write that stores (scale, bias) for the channel and steps it, read-back values and legal values."""

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurophase.model.arith import PeripheryFormat
from neurophase.model.interface import BN_CTRL, TileReg
from neurophase.rtl.bn_regs import BnRegisterBank
from neurophase.tb.amaranth_sim import simulate

FMT = PeripheryFormat(scale_bits=12, bias_bits=16, shift_max=20)
U32 = 0xFFFF_FFFF


async def _write(ctx, dut, name, value):
    ctx.set(dut.wdata, value & U32)
    ctx.set(dut.write[name], 1)
    await ctx.tick()
    ctx.set(dut.write[name], 0)


def test_bias_write_stores_scale_and_bias_for_the_channel_and_steps_it():
    dut = BnRegisterBank(channels=4, fmt=FMT)
    bn = dut.bn

    async def testbench(ctx):
        await _write(ctx, dut, "bn_ctrl", BN_CTRL.encode(shift=17, relu=1, last=0))
        assert (ctx.get(bn.shift), ctx.get(bn.relu), ctx.get(bn.last)) == (17, 1, 0)
        assert ctx.get(dut.read.bn_ctrl) == BN_CTRL.encode(shift=17, relu=1, last=0)
        await _write(ctx, dut, "bn_channel", 2)
        await _write(ctx, dut, "bn_scale", -3)
        assert ctx.get(dut.read.bn_scale) == -3 & U32, "the staged scale reads back sign-extended"
        assert not ctx.get(bn.param_we), "staging the scale writes nothing"
        stored = []
        for bias in (-7, 1000, 5):
            await _write(ctx, dut, "bn_bias", bias)
            # The parameter port carries the write in the cycle after the strobe, for one cycle.
            assert ctx.get(bn.param_we) == 1
            stored.append((ctx.get(bn.param_channel), ctx.get(bn.param_scale), ctx.get(bn.param_bias)))
            assert ctx.get(dut.read.bn_bias) == bias & U32, "BN_BIAS reads the last bias written"
        await ctx.tick()
        assert ctx.get(bn.param_we) == 0
        assert stored == [(2, -3, -7), (3, -3, 1000), (0, -3, 5)], "the channel steps and wraps"
        assert ctx.get(dut.read.bn_channel) == 1

    simulate(dut, testbench)


class _Checks(wiring.Component):
    """A bank and its value checks of one word, one output per register that has a check."""

    def __init__(self, bank):
        self._bank, self._checks = bank, bank.value_checks()
        super().__init__({"w": In(32), **{r.name.lower(): Out(1) for r in self._checks}})

    def elaborate(self, platform):
        m = Module()
        m.submodules.bank = self._bank
        m.d.comb += [getattr(self, r.name.lower()).eq(check(self.w)) for r, check in self._checks.items()]
        return m


@pytest.mark.parametrize("reg, good, bad", [
    (TileReg.BN_CTRL, [BN_CTRL.encode(shift=20, relu=1, last=1), 0], [21, 1 << 6, 1 << 10, 1 << 31]),
    (TileReg.BN_CHANNEL, [0, 3], [4, 1 << 31]),
    (TileReg.BN_SCALE, [2047, -2048], [2048, -2049]),
    (TileReg.BN_BIAS, [32767, -32768], [32768, -32769]),
])
def test_value_checks_accept_the_registers_ranges_only(reg, good, bad):
    dut = _Checks(BnRegisterBank(channels=4, fmt=FMT))

    async def testbench(ctx):
        for word, rejected in [(w, 0) for w in good] + [(w, 1) for w in bad]:
            ctx.set(dut.w, word & U32)
            assert ctx.get(getattr(dut, reg.name.lower())) == rejected, (reg.name, word)

    simulate(dut, testbench)


def test_a_full_word_scale_or_bias_has_no_check():
    dut = _Checks(BnRegisterBank(channels=4, fmt=PeripheryFormat(scale_bits=20, bias_bits=32)))
    assert set(dut._checks) == {TileReg.BN_CTRL, TileReg.BN_CHANNEL, TileReg.BN_SCALE}

    async def testbench(ctx):
        ctx.set(dut.w, U32)
        assert ctx.get(dut.bn_scale) == 0, "-1 is a 20-bit scale"

    simulate(dut, testbench)


@pytest.mark.parametrize("kw, msg", [
    (dict(channels=0), r"channels must be an integer in \[1, 256\], got 0"),
    (dict(fmt=PeripheryFormat(bias_bits=40)), r"fmt.bias_bits must be an integer in \[2, 32\], got 40"),
    (dict(fmt=None), r"fmt must be a PeripheryFormat, got None"),
])
def test_bn_register_bank_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        BnRegisterBank(**kw)
