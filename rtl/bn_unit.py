# Ref: docs/architecture.md §4 step 5 and decision D4 (BN / affine unit, requantisation, saturation).
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int, signed_range
from neurophase.model.interface import BN_LATENCY
from neurophase.rtl.params import validating

__all__ = ["BnUnit"]


class BnUnit(wiring.Component):
    """Batch-norm / affine unit with requantisation, time-multiplexed over the output channels.

    Behaviour: for every input with ``i_valid`` it computes, bit for bit
    :func:`neurophase.model.arith.bn_requantise`,
    ``z = (i_acc * scale[c] + bias[c] + round) >>> shift`` with ``round = 2^(shift-1)`` (0 when ``shift`` is 0) and
    ``c = i_channel``; then zeroes a negative ``z`` when ``relu``; then clamps to the next layer's unsigned
    ``fmt.b_in``-bit activations ``[0, 2^b_in - 1]`` (hidden layer) or, when ``last``, to signed ``fmt.out_bits``.
    ``o_saturated`` marks an output that the clamp changed (ReLU zeroing is not a saturation). ``shift``, ``relu`` and
    ``last`` are sampled together with each input, so a configuration change takes effect from the next input.

    The per-channel ``scale`` and ``bias`` live in a memory written through the parameter port: a write in cycle t
    is seen by inputs from cycle t + 1 (an input in the same cycle as a write to its channel gets the old value).
    Reset clears the pipeline, not the parameter memory (a write or an input in a cycle with reset high is dropped).

    Latency: 3 cycles from an input's cycle to its output's cycle (parameter read, product, sum-shift-clamp;
    :attr:`latency`).
    Throughput: one channel per cycle, fully pipelined; 128 channels take 128 cycles plus the latency.

    Parameters
    ----------
    channels : output channels held in the parameter memory (a power of two, 1..256).
    fmt : :class:`neurophase.model.arith.PeripheryFormat`, the widths (needs ``out_bits > b_in``, so a hidden
        layer's unsigned result fits the signed ``o_y``).

    Members
    -------
    param_we : In(1)
        Write ``param_scale`` and ``param_bias`` of channel ``param_channel`` this cycle.
    param_channel : In(range(channels))
        Channel of the parameter write.
    param_scale : In(signed(fmt.scale_bits))
        BN scale s of the channel (signed fixed point).
    param_bias : In(signed(fmt.bias_bits))
        BN bias b of the channel.
    shift : In(range(fmt.shift_max + 1))
        Right shift r.
    relu : In(1)
        Apply ReLU before the clamp.
    last : In(1)
        Last layer: clamp to signed ``fmt.out_bits`` instead of unsigned ``fmt.b_in``.
    i_valid : In(1)
        ``i_channel`` and ``i_acc`` hold an input this cycle.
    i_channel : In(range(channels))
        Channel of the input.
    i_acc : In(signed(fmt.acc_bits))
        Accumulator (after shift-and-add and partial-sum reduction).
    o_valid : Out(1)
        ``o_channel``, ``o_y`` and ``o_saturated`` hold a result this cycle.
    o_channel : Out(range(channels))
        Channel of the result.
    o_y : Out(signed(fmt.out_bits))
        Result: in ``[0, 2^b_in - 1]`` for a hidden layer, signed ``out_bits`` for the last layer.
    o_saturated : Out(1)
        The clamp changed this result.
    """

    def __init__(self, *, channels=128, fmt=PeripheryFormat()):
        with validating(self):
            self._channels = check_int("channels", channels, 1, 256)
            if channels & (channels - 1):
                raise ValueError(f"channels must be a power of two in [1, 256], got {channels}")
            if not isinstance(fmt, PeripheryFormat):
                raise ValueError(f"fmt must be a PeripheryFormat, got {fmt!r}")
            if fmt.out_bits <= fmt.b_in:
                raise ValueError(f"fmt.out_bits must be > fmt.b_in={fmt.b_in} so a hidden layer's activations fit "
                                 f"the signed output, got {fmt.out_bits}")
        self._fmt = fmt
        super().__init__(self.signature_for(channels, fmt))

    @staticmethod
    def config_signature_for(channels, fmt):
        """The parameter-write and configuration ports (``param_*``, ``shift``, ``relu``, ``last``) for ``channels``
        channels and the widths of ``fmt``, unchecked: what a BN register bank
        (:class:`~neurophase.rtl.bn_regs.BnRegisterBank`) drives, as ``In(BnUnit.config_signature_for(...))``."""
        return wiring.Signature({
            "param_we": In(1),
            "param_channel": In(range(channels)),
            "param_scale": In(signed(fmt.scale_bits)),
            "param_bias": In(signed(fmt.bias_bits)),
            "shift": In(range(fmt.shift_max + 1)),
            "relu": In(1),
            "last": In(1),
        })

    @staticmethod
    def signature_for(channels, fmt):
        """The unit's ports (the Members above) for ``channels`` channels and the widths of ``fmt``, unchecked.

        The one definition of the BN ports: the unit uses it, and a controller that drives a unit takes
        ``In(BnUnit.signature_for(...))`` (the same members, flipped) and is joined to it with ``wiring.connect``.
        """
        return wiring.Signature({
            **BnUnit.config_signature_for(channels, fmt).members,
            "i_valid": In(1),
            "i_channel": In(range(channels)),
            "i_acc": In(signed(fmt.acc_bits)),
            "o_valid": Out(1),
            "o_channel": Out(range(channels)),
            "o_y": Out(signed(fmt.out_bits)),
            "o_saturated": Out(1),
        })

    @property
    def latency(self):
        """Cycles from an input to its result: the interface's ``BN_LATENCY``, which the stages below make."""
        return BN_LATENCY

    def elaborate(self, platform):
        m = Module()
        fmt = self._fmt
        params = data.StructLayout({"scale": signed(fmt.scale_bits), "bias": signed(fmt.bias_bits)})
        m.submodules.params = mem = Memory(shape=params, depth=self._channels, init=[])
        # The write is registered into the port, and the read address is a register; an asynchronous read then
        # gives the parameters of the stage-1 input. Port signals that are registers (not aliases of our inputs)
        # carry logic rather than being left as unused debug copies in the Verilog.
        wr = mem.write_port()
        rd = mem.read_port(domain="comb")
        m.d.sync += [wr.en.eq(self.param_we), wr.addr.eq(self.param_channel),
                     wr.data.scale.eq(self.param_scale), wr.data.bias.eq(self.param_bias)]

        # Stage 1: the input's channel addresses the parameters; the input and its configuration ride along.
        valid1, relu1, last1 = Signal(name="valid1"), Signal(name="relu1"), Signal(name="last1")
        acc1, shift1 = Signal.like(self.i_acc, name="acc1"), Signal.like(self.shift, name="shift1")
        m.d.sync += [valid1.eq(self.i_valid), rd.addr.eq(self.i_channel), acc1.eq(self.i_acc),
                     shift1.eq(self.shift), relu1.eq(self.relu), last1.eq(self.last)]

        # Stage 2: product and sign-extended bias, w bits (w holds the product, the bias and the rounding
        # constant), and the round-half-up constant 2^(shift-1), w + 1 bits like their sum, so the stage-3 adds
        # have exact operand widths.
        w = max(fmt.acc_bits + fmt.scale_bits, fmt.bias_bits, fmt.shift_max)
        valid2, relu2, last2 = Signal(name="valid2"), Signal(name="relu2"), Signal(name="last2")
        channel2, shift2 = Signal.like(self.i_channel, name="channel2"), Signal.like(shift1, name="shift2")
        product2, bias2 = Signal(signed(w), name="product2"), Signal(signed(w), name="bias2")
        round2 = Signal(signed(w + 1))
        m.d.sync += [valid2.eq(valid1), channel2.eq(rd.addr), relu2.eq(relu1), last2.eq(last1),
                     product2.eq(acc1 * rd.data.scale), bias2.eq(rd.data.bias), shift2.eq(shift1)]
        with m.Switch(shift1):
            for r in range(fmt.shift_max + 1):
                with m.Case(r):
                    m.d.sync += round2.eq((1 << r) >> 1)

        # Stage 3: sum, arithmetic shift, ReLU and clamp. Sized to the exact expression widths: the sum cannot
        # overflow and nothing is truncated.
        total_expr = product2 + bias2 + round2
        total = Signal(total_expr.shape())
        z_expr = total >> shift2
        z = Signal(z_expr.shape())
        m.d.comb += [total.eq(total_expr), z.eq(z_expr)]

        neg = z[-1]
        # Hidden layer: clamp to [0, 2^b_in - 1]; negative values either ReLU to 0 or saturate to 0.
        hidden_over = ~neg & z[fmt.b_in:].any()
        hidden_y = Mux(neg, 0, Mux(hidden_over, (1 << fmt.b_in) - 1, z[:fmt.b_in]))
        hidden_sat = hidden_over | (neg & ~relu2)
        # Last layer: signed out_bits; overflow when the bits above the output's sign bit are not all the sign.
        top = z[fmt.out_bits - 1:]
        last_over, last_under = ~neg & top.any(), neg & ~relu2 & ~top.all()
        out_max = signed_range(fmt.out_bits)[1]
        last_y = Mux(neg & relu2, 0,
                     Mux(last_over, out_max, Mux(last_under, -out_max - 1, z[:fmt.out_bits].as_signed())))
        m.d.sync += [self.o_valid.eq(valid2), self.o_channel.eq(channel2),
                     self.o_y.eq(Mux(last2, last_y, hidden_y)),
                     self.o_saturated.eq(valid2 & Mux(last2, last_over | last_under, hidden_sat))]
        return m
