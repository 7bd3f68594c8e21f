# Ref: docs/architecture.md §4 step 2 and decision D3 (SAR thresholds, tie rule); §5 (RTL periphery).
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from neurophase.model.checks import check_int
from neurophase.rtl.params import validating

__all__ = ["SarAdcArray"]


class SarAdcArray(wiring.Component):
    """SAR controllers of a tile's logical columns: one successive-approximation step per ADC per clock.

    Behaviour: a ``start`` pulse while idle starts a conversion of every column. The array has
    ``n_adc = columns // columns_per_adc`` SAR controllers; controller ``k`` converts columns
    ``k * columns_per_adc + col_sel`` for ``col_sel = 0 .. columns_per_adc - 1`` in turn (a column mux when an ADC is
    shared). For each column the controller drives the offset-binary trial code ``dac_code`` (MSB trial
    ``2^(b_adc-1)`` first), samples ``comparator`` at the next clock edge and keeps the trial bit when the comparator
    says 1 (``i_code >= sar_threshold(dac_code)``, model/adc.py), then tries the next lower bit. After ``b_adc``
    steps the column's signed ``code`` is ``u - 2^(b_adc-1)`` (the offset-binary MSB inverted), bit for bit
    :func:`neurophase.model.adc.convert_sar`. The analog side must hold the column currents stable from ``start``
    to ``done``.

    ``done`` pulses for one cycle when every ``code`` is valid; codes, ``rail_low`` and ``rail_high`` then hold until
    the next ``start``. A column is *at a rail* when its code is the lowest or the highest code
    (:func:`neurophase.model.adc.rail_hits`): the SAR cannot tell a current just inside the range from one beyond
    it, so the rails are the saturation the RTL can see. A ``start`` while ``busy`` is not obeyed: it raises
    ``start_err`` for one cycle (the tile controller latches it into its error register) and the running
    conversion carries on.

    Latency: ``columns_per_adc * b_adc + 1`` cycles from the ``start`` cycle to the ``done`` cycle (:attr:`latency`):
    the edge that samples ``start`` puts the first trial code on ``dac_code``, and each of the next
    ``columns_per_adc * b_adc`` edges samples one comparator decision per ADC. Throughput: a new ``start`` is
    accepted in the ``done`` cycle, so back-to-back conversions also take :attr:`latency` cycles each.

    Parameters
    ----------
    columns : logical columns (1..256).
    columns_per_adc : columns sharing one ADC through the column mux (1..columns, divides ``columns``).
    b_adc : signed output code width (2..12).

    Members
    -------
    start : In(1)
        One-cycle pulse: convert every column.
    busy : Out(1)
        A conversion is running.
    done : Out(1)
        One-cycle pulse: every ``code`` is valid.
    start_err : Out(1)
        One-cycle pulse, the cycle after a ``start`` that arrived while ``busy`` (ignored start).
    dac_code : Out(ArrayLayout(unsigned(b_adc), n_adc))
        Offset-binary trial code of each ADC (zero while idle).
    col_sel : Out(range(columns_per_adc))
        Only when ``columns_per_adc > 1``: the column of each group being converted.
    comparator : In(n_adc)
        Comparator decision of each ADC for the current ``dac_code`` and ``col_sel`` (combinational analog side).
    code : Out(ArrayLayout(signed(b_adc), columns))
        Signed conversion results.
    rail_low : Out(columns)
        Per column: ``code`` is the lowest code ``-2^(b_adc-1)``.
    rail_high : Out(columns)
        Per column: ``code`` is the highest code ``2^(b_adc-1) - 1``.
    """

    def __init__(self, *, columns=128, columns_per_adc=1, b_adc=8):
        with validating(self):
            self._columns = check_int("columns", columns, 1, 256)
            self._cpa = check_int("columns_per_adc", columns_per_adc, 1, columns)
            if columns % columns_per_adc:
                raise ValueError(f"columns_per_adc must divide columns={columns}, got {columns_per_adc}")
            self._b_adc = check_int("b_adc", b_adc, 2, 12)
        self._n_adc = columns // columns_per_adc
        members = {
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "start_err": Out(1),
            "dac_code": Out(data.ArrayLayout(unsigned(b_adc), self._n_adc)),
            "comparator": In(self._n_adc),
            "code": Out(data.ArrayLayout(signed(b_adc), columns)),
            "rail_low": Out(columns),
            "rail_high": Out(columns),
        }
        if columns_per_adc > 1:
            members["col_sel"] = Out(range(columns_per_adc))
        super().__init__(members)

    @property
    def n_adc(self):
        return self._n_adc

    @property
    def latency(self):
        """Cycles from the ``start`` cycle to the ``done`` cycle; also the back-to-back conversion period."""
        return self._cpa * self._b_adc + 1

    def elaborate(self, platform):
        m = Module()
        b = self._b_adc
        msb = Const(1 << (b - 1), b)
        # One-hot marker of the bit under trial, shared by every ADC (bit 0 set: last step of a column).
        trial_bit = Signal(b)
        last_step = trial_bit[0]
        shared = self._cpa > 1
        if shared:
            # The column of each group is kept one-hot (decoding needs no comparators); col_sel is its binary code.
            col_hot = Signal(self._cpa, init=1)
            last_col = col_hot[-1]
            m.d.comb += self.col_sel.eq(Cat(Cat(col_hot[c] for c in range(self._cpa) if c >> i & 1).any()
                                            for i in range(len(self.col_sel))))

        m.d.sync += [self.done.eq(0), self.start_err.eq(self.start & self.busy)]
        with m.If(~self.busy & self.start):
            m.d.sync += [self.busy.eq(1), trial_bit.eq(msb)]
            m.d.sync += [self.dac_code[k].eq(msb) for k in range(self._n_adc)]
            if shared:
                m.d.sync += col_hot.eq(1)
        with m.Elif(self.busy):
            m.d.sync += trial_bit.eq(Cat(trial_bit[1:], last_step))   # rotate right: back to the MSB at the end
            for k in range(self._n_adc):
                trial = self.dac_code[k]
                kept = Signal(b, name=f"kept{k}")
                m.d.comb += kept.eq(trial & ~(trial_bit & ~self.comparator[k].replicate(b)))
                m.d.sync += self.dac_code[k].eq(kept | trial_bit[1:])
                with m.If(last_step):
                    result = Cat(kept[:-1], ~kept[-1]).as_signed()
                    if shared:
                        for c in range(self._cpa):
                            with m.If(col_hot[c]):
                                m.d.sync += self.code[k * self._cpa + c].eq(result)
                        # The next column of the group starts from the MSB trial; after the last, the DAC idles at 0.
                        m.d.sync += self.dac_code[k].eq(Mux(last_col, 0, msb))
                    else:
                        m.d.sync += [self.code[k].eq(result), self.dac_code[k].eq(0)]
            with m.If(last_step):
                if shared:
                    with m.If(last_col):
                        m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                    with m.Else():
                        m.d.sync += col_hot.eq(Cat(0, col_hot[:-1]))
                else:
                    m.d.sync += [self.busy.eq(0), self.done.eq(1)]

        # Rails by bit pattern: 100..0 is the lowest code, 011..1 the highest.
        codes = [self.code[j] for j in range(self._columns)]
        m.d.comb += [self.rail_low.eq(Cat(c[-1] & ~c[:-1].any() for c in codes)),
                     self.rail_high.eq(Cat(~c[-1] & c[:-1].all() for c in codes))]
        return m
