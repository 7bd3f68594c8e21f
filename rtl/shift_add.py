# Ref: docs/architecture.md §4 step 3 (shift-and-add); §5 (RTL periphery).
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from neurophase.model.checks import check_int, signed_range
from neurophase.rtl.params import validating

__all__ = ["ShiftAdd"]


class ShiftAdd(wiring.Component):
    """Shift-and-add of bit-plane ADC codes, one lane per logical column, saturating.

    Behaviour: every cycle with ``valid`` high, each lane computes ``acc <- sat(2 * acc + code)``; ``clear`` zeroes
    the accumulators first, so ``clear`` together with ``valid`` starts a new accumulation with this plane's code
    (back-to-back MVMs need no idle cycle). Planes arrive MSB first. ``sat`` is the saturation clamp, to the signed
    ``acc_bits`` range, applied after every step exactly as :func:`neurophase.model.arith.shift_and_add`.

    Latency: 1 cycle from ``valid`` to the updated ``acc``. Throughput: one bit-plane per cycle.

    Parameters
    ----------
    lanes : number of parallel columns (1..256).
    b_adc : signed ADC code width (2..12).
    acc_bits : signed accumulator width (b_adc + 1 .. 40).

    Members
    -------
    code : In(ArrayLayout(signed(b_adc), lanes))
        ADC codes of the current bit-plane.
    valid : In(1)
        ``code`` holds a plane to accumulate this cycle.
    clear : In(1)
        Zero every accumulator (before accumulating ``code`` when ``valid`` is also high).
    acc : Out(ArrayLayout(signed(acc_bits), lanes))
        Accumulators.
    saturated : Out(lanes)
        One bit per lane, high for one cycle after a step that clamped that lane.
    """

    def __init__(self, *, lanes=128, b_adc=8, acc_bits=20):
        with validating(self):
            self._lanes = check_int("lanes", lanes, 1, 256)
            self._b_adc = check_int("b_adc", b_adc, 2, 12)
            self._acc_bits = check_int("acc_bits", acc_bits, b_adc + 1, 40)
        super().__init__({
            "code": In(data.ArrayLayout(signed(b_adc), lanes)),
            "valid": In(1),
            "clear": In(1),
            "acc": Out(data.ArrayLayout(signed(acc_bits), lanes)),
            "saturated": Out(lanes),
        })

    @property
    def latency(self):
        return 1

    def elaborate(self, platform):
        m = Module()
        hi = signed_range(self._acc_bits)[1]
        lo = -(1 << (self._acc_bits - 1))
        sat_bits = []
        for lane in range(self._lanes):
            base = Mux(self.clear, 0, self.acc[lane])
            total_expr = base * 2 + self.code[lane]
            # Exactly the sum's width: the Verilog then computes into `total` instead of leaving it an unused copy.
            total = Signal(total_expr.shape(), name=f"total{lane}")
            m.d.comb += total.eq(total_expr)
            over, under = total > hi, total < lo
            sat_bits.append(over | under)
            with m.If(self.valid):
                m.d.sync += self.acc[lane].eq(Mux(over, hi, Mux(under, lo, total[:self._acc_bits].as_signed())))
            with m.Elif(self.clear):
                m.d.sync += self.acc[lane].eq(0)
        m.d.sync += self.saturated.eq(Mux(self.valid, Cat(*sat_bits), 0))
        return m
