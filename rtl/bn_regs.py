# Ref: docs/architecture.md §4 step 5 and D4 (BN parameters), §5 (tile registers), D7 (the reducer's RED_BN_*).
from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int
from neurophase.model.interface import BN_CTRL, RED_BN_REGS, WORD_BITS
from neurophase.rtl.bn_unit import BnUnit
from neurophase.rtl.layouts import view
from neurophase.rtl.params import validating
from neurophase.rtl.regfile import not_signed, outside, reserved_set

__all__ = ["BnRegisterBank"]

# The bank's registers, named as the tile's (the chip's RED_BN_* registers map onto them through RED_BN_REGS).
_REGISTERS = tuple(RED_BN_REGS.values())


class BnRegisterBank(wiring.Component):
    """The BN registers of a tile (BN_CTRL, BN_CHANNEL, BN_SCALE, BN_BIAS) or of the chip's reducer (RED_BN_*): one
    bank, driving a :class:`~neurophase.rtl.bn_unit.BnUnit`'s parameter and configuration ports.

    Behaviour
    ---------
    The owner's register file decodes the accesses; on a write strobe (``write.<name>``, the lower-case name of the
    tile's register) the bank takes ``wdata``:

    * ``bn_ctrl``: the BN unit's ``shift``, ``relu`` and ``last`` from the fields of
      :data:`~neurophase.model.interface.BN_CTRL`;
    * ``bn_channel``: the channel of the next parameter write;
    * ``bn_scale``: the staged scale s (the low ``scale_bits`` bits);
    * ``bn_bias``: the bias b (the low ``bias_bits`` bits); in the next cycle (s, b) are written into the unit's
      parameter memory for the channel, and the channel steps on (wrapping from ``channels - 1`` to 0), so a block
      of (scale, bias) pairs loads consecutive channels.

    ``read.<name>`` gives each register's value as the register bus reads it: BN_CTRL's fields, the channel, the
    staged scale and the last bias written, both sign-extended. :meth:`value_checks` gives the values each register
    accepts, for the owner's register file.

    Latency: configuration and registers from the cycle after the strobe; the parameter memory is written at the end
    of the cycle after a ``bn_bias`` strobe (the BN unit registers the write once more: see its docstring).

    Parameters
    ----------
    channels : channels of the unit (BN_CHANNEL takes 0..channels-1; 1..256).
    fmt : :class:`neurophase.model.arith.PeripheryFormat` (scale_bits and bias_bits 2..WORD_BITS, shift_max up to the
        BN_CTRL shift field's maximum).

    Members
    -------
    write : In(StructLayout({bn_ctrl, bn_channel, bn_scale, bn_bias: 1}))
        Write strobes of the four registers.
    wdata : In(WORD_BITS)
        The word written.
    read : Out(StructLayout({bn_ctrl, bn_channel, bn_scale, bn_bias: unsigned(WORD_BITS)}))
        The registers' read values.
    bn : In(BnUnit.config_signature_for(2^ceil(log2(channels)), fmt))
        The BN unit's ``param_*``, ``shift``, ``relu`` and ``last`` inputs, driven from the registers.
    """

    def __init__(self, *, channels=128, fmt=PeripheryFormat()):
        with validating(self):
            self._channels = check_int("channels", channels, 1, 256)
            if not isinstance(fmt, PeripheryFormat):
                raise ValueError(f"fmt must be a PeripheryFormat, got {fmt!r}")
            check_int("fmt.scale_bits", fmt.scale_bits, 2, WORD_BITS)
            check_int("fmt.bias_bits", fmt.bias_bits, 2, WORD_BITS)
            check_int("fmt.shift_max", fmt.shift_max, 0, (1 << BN_CTRL.fields["shift"][1]) - 1)
        self._fmt = fmt
        names = [r.name.lower() for r in _REGISTERS]
        super().__init__({
            "write": In(data.StructLayout(dict.fromkeys(names, 1))),
            "wdata": In(WORD_BITS),
            "read": Out(data.StructLayout(dict.fromkeys(names, unsigned(WORD_BITS)))),
            "bn": In(BnUnit.config_signature_for(1 << ceil_log2(channels), fmt)),
        })

    @staticmethod
    def registers():
        """The tile registers the bank holds, in the order BN_CTRL, BN_CHANNEL, BN_SCALE, BN_BIAS."""
        return _REGISTERS

    def value_checks(self):
        """``{tile register: check(wdata)}`` of the values the registers accept, for
        :class:`~neurophase.rtl.regfile.RegisterFile` (a WORD_BITS-wide scale or bias takes every word, so it has no
        check that would only be constant logic)."""
        ctrl, channel, scale, bias = _REGISTERS
        fmt = self._fmt
        checks = {ctrl: lambda w: (view(BN_CTRL, w).shift > fmt.shift_max) | reserved_set(w, BN_CTRL),
                  channel: lambda w: outside(w, 0, self._channels - 1)}
        for reg, bits in ((scale, fmt.scale_bits), (bias, fmt.bias_bits)):
            if bits < WORD_BITS:
                checks[reg] = lambda w, bits=bits: not_signed(w, bits)
        return checks

    def elaborate(self, platform):
        m = Module()
        bn, w = self.bn, self.wdata
        write, read = self.write, self.read
        channel = Signal(range(self._channels), name="channel")
        ctrl = view(BN_CTRL, w)
        with m.If(write.bn_ctrl):
            m.d.sync += [bn.shift.eq(ctrl.shift), bn.relu.eq(ctrl.relu), bn.last.eq(ctrl.last)]
        with m.If(write.bn_channel):
            m.d.sync += channel.eq(w)
        with m.If(write.bn_scale):
            m.d.sync += bn.param_scale.eq(w)
        m.d.sync += bn.param_we.eq(write.bn_bias)
        with m.If(write.bn_bias):
            # The parameter memory is written in the next cycle, from these registers.
            m.d.sync += [bn.param_bias.eq(w), bn.param_channel.eq(channel),
                         channel.eq(Mux(channel == self._channels - 1, 0, channel + 1))]

        ctrl_word = view(BN_CTRL, read.bn_ctrl)
        m.d.comb += [ctrl_word.shift.eq(bn.shift), ctrl_word.relu.eq(bn.relu), ctrl_word.last.eq(bn.last),
                     read.bn_channel.eq(channel),
                     read.bn_scale.eq(bn.param_scale.as_signed()), read.bn_bias.eq(bn.param_bias.as_signed())]
        return m
