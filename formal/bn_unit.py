# Ref: docs/architecture.md §4 step 5 and D4 (BN: z = (acc s + b + round) >>> r, ReLU, clamp; a clamp saturates).
"""Formal properties of rtl/bn_unit.py at reduced widths: every output equals D4's reference expression of its input
and its channel's parameters, for every input, parameter and configuration (an equivalence proof by induction)."""

from amaranth.hdl import Array, Const, Elaboratable, Module, Mux, ResetSignal, Signal, signed

from neurophase.formal.probe import free, open_block
from neurophase.formal.sby import Mutant, Proof, Properties
from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import signed_range
from neurophase.rtl.bn_unit import BnUnit

__all__ = ["FormalBnUnit", "PROOFS", "MUTANTS", "bn_reference"]

CHANNELS = 2
FMT = PeripheryFormat(b_in=2, b_adc=2, acc_bits=4, scale_bits=3, bias_bits=5, shift_max=3, out_bits=3)


def bn_reference(acc, scale, bias, shift, relu, last, fmt):
    """D4's BN and requantisation as one reference expression: ``(y, clamped)`` with ``z = (acc scale + bias +
    2^(shift-1)) >>> shift`` (round 0 for shift 0), ReLU when ``relu``, then the clamp to ``[0, 2^b_in - 1]`` or,
    for the ``last`` layer, to signed ``out_bits`` (model/arith.py ``bn_requantise``)."""
    rnd = (Const(1, 1) << shift) >> 1
    z = (acc * scale + bias + rnd) >> shift
    z = Mux(relu & (z < 0), 0, z)
    out_lo, out_hi = signed_range(fmt.out_bits)
    lo, hi = Mux(last, out_lo, 0), Mux(last, out_hi, (1 << fmt.b_in) - 1)
    y = Mux(z > hi, hi, Mux(z < lo, lo, z))
    return y, (z > hi) | (z < lo)


class FormalBnUnit(Elaboratable):
    """BnUnit(channels=2) at reduced widths with free parameter writes, inputs, configuration and reset, beside a
    reference copy of its parameter memory and :func:`bn_reference` of every input, delayed by the unit's latency."""

    def __init__(self, mutant=None):
        self.mutant = mutant

    def _reference_memory(self, m, dut):
        """The parameters as the unit's memory holds them: a write strobed in cycle t (not in reset) lands at the end
        of cycle t + 1 (the unit registers the write once)."""
        scale = Array(Signal(signed(FMT.scale_bits), name=f"ref_scale{c}", reset_less=True) for c in range(CHANNELS))
        bias = Array(Signal(signed(FMT.bias_bits), name=f"ref_bias{c}", reset_less=True) for c in range(CHANNELS))
        we, ch = Signal(name="ref_we", reset_less=True), Signal(range(CHANNELS), name="ref_ch", reset_less=True)
        s, b = Signal.like(dut.param_scale, name="ref_s"), Signal.like(dut.param_bias, name="ref_b")
        m.d.sync += [we.eq(dut.param_we & ~ResetSignal()), ch.eq(dut.param_channel), s.eq(dut.param_scale),
                     b.eq(dut.param_bias)]
        with m.If(we):
            m.d.sync += [scale[ch].eq(s), bias[ch].eq(b)]
        return scale, bias

    def elaborate(self, platform):
        m = Module()
        self.props = props = Properties(m)
        dut = BnUnit(channels=CHANNELS, fmt=FMT)
        blk = open_block(dut, platform)
        if self.mutant:
            MUTANTS[self.mutant].apply(blk, dut)
        m.submodules.dut = blk.module
        free(m, dut.param_we, dut.param_channel, dut.param_scale, dut.param_bias, dut.shift, dut.relu, dut.last,
             dut.i_valid, dut.i_channel, dut.i_acc)
        scale, bias = self._reference_memory(m, dut)
        mem = blk.submodules["params"]
        for c in range(CHANNELS):
            view = mem.read_port(domain="comb")
            m.d.comb += view.addr.eq(c)
            # The parameter memory holds every channel's last written scale and bias (reset does not clear it).
            props.check("parameters", (view.data.scale == scale[c]) & (view.data.bias == bias[c]))

        # Stage 1 as the unit's: the input and its configuration, then the parameters of its channel.
        names = ("valid", "channel", "acc", "shift", "relu", "last")
        ports = (dut.i_valid, dut.i_channel, dut.i_acc, dut.shift, dut.relu, dut.last)
        s1 = {n: Signal.like(p, name=f"in_{n}") for n, p in zip(names, ports)}
        m.d.sync += [s1[n].eq(p) for n, p in zip(names, ports)]
        y, clamped = bn_reference(s1["acc"], scale[s1["channel"]], bias[s1["channel"]], s1["shift"], s1["relu"],
                                  s1["last"], FMT)
        want = {"valid": s1["valid"], "channel": s1["channel"], "y": y, "sat": clamped}
        for stage in (2, 3):
            nxt = {k: Signal.like(dut.o_y if k == "y" else Signal() if k == "sat" else s1[k], name=f"want{stage}_{k}")
                   for k in want}
            m.d.sync += [nxt[k].eq(v) for k, v in want.items()]
            want = nxt
        # An output appears exactly BN_LATENCY cycles after each input (none after an input in reset).
        props.check("latency", dut.o_valid == want["valid"])
        with m.If(want["valid"]):
            # Every output is D4's value of its input with its channel's parameters when it entered the unit.
            props.check("output", (dut.o_y == want["y"]) & (dut.o_channel == want["channel"]))
            # The saturation flag is high exactly when the clamp changed the value (ReLU zeroing is not a clamp).
            props.check("saturation_flag", dut.o_saturated == want["sat"])
        return m


def _no_rounding(blk, dut):
    """The round-half-up constant is dropped: the shift truncates toward minus infinity."""
    blk.module.d.sync += blk["round2"].eq(0)


def _relu_clamp_flag(blk, dut):
    """A negative hidden-layer value zeroed by ReLU is counted as a saturation."""
    with blk.module.If(blk["valid2"] & ~blk["last2"] & blk["relu2"]):
        blk.module.d.sync += dut.o_saturated.eq(dut.o_saturated | blk["z"][-1])


PROOFS = [Proof("bn_unit", FormalBnUnit, {
    "parameters": "the parameter memory holds every channel's last written scale and bias",
    "latency": "an output appears exactly BN_LATENCY cycles after each input, and never after an input in reset",
    "output": "every output equals D4's (acc s + b + round) >>> r, ReLU, clamp of its input and its channel's "
              "parameters, for every input, parameter, shift, ReLU and last-layer setting",
    "saturation_flag": "the saturation flag is high exactly when the clamp changed the value"},
    mode="prove", depth=4, why="k = 4 covers the three pipeline stages; the memory is tied to its reference copy")]

MUTANTS = {m.name: m for m in [
    Mutant("no_rounding", "bn_unit", _no_rounding.__doc__, ("output",), _no_rounding, depth=8),
    Mutant("relu_flag", "bn_unit", _relu_clamp_flag.__doc__, ("saturation_flag",), _relu_clamp_flag, depth=8)]}
