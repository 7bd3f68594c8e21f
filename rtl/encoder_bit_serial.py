# Ref: docs/architecture.md §2 (bit-serial inputs, one read per bit-plane), §5 (tile controller).
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring

from neurophase.model.checks import check_int
from neurophase.model.interface import InputEncoding
from neurophase.rtl.input_encoder import InputEncoderSignature
from neurophase.rtl.params import validating

__all__ = ["BitSerialEncoder"]


class BitSerialEncoder(wiring.Component):
    """Bit-serial input encoder: one read per bit-plane of the activations, most significant plane first.

    Behaviour (the slot's contract: :class:`~neurophase.rtl.input_encoder.InputEncoderSignature`): after ``start``,
    plane b = ``b_in - 1`` down to 0 is one read. ``wl`` carries bit b of every activation for the whole read;
    ``pulse`` and ``adc_start`` are high together in its first cycle; the read ends in the ``adc_done`` cycle
    (``code_valid``; ``first`` on the MSB plane, ``last`` on the LSB plane), and the next plane's read begins in the
    cycle after. After the last read ``wl`` is 0. Every wordline whose activation bit is 1 is driven, so the owner
    masks the rows it does not use.

    Latency and throughput: ``reads = b_in`` reads of ``read_cycles(adc_latency) = adc_latency + 1`` cycles (the
    pulse cycle, then the conversion up to ``done``), ``b_in * (adc_latency + 1)`` cycles from the cycle after
    ``start`` to the last ``code_valid``; ``start`` may come again in the cycle after the last ``code_valid``.

    Parameters
    ----------
    rows : wordlines (1..4096).
    b_in : activation bits (1..16).

    Members
    -------
    As :class:`~neurophase.rtl.input_encoder.InputEncoderSignature`.
    """

    encoding = InputEncoding.BIT_SERIAL

    def __init__(self, *, rows=256, b_in=8):
        with validating(self):
            self._rows = check_int("rows", rows, 1, 4096)
            self._b_in = check_int("b_in", b_in, 1, 16)
        super().__init__(InputEncoderSignature(rows, b_in))

    @property
    def reads(self):
        """Reads per MVM."""
        return self.encoding.reads(self._b_in)

    @staticmethod
    def read_cycles(adc_latency):
        """Cycles of one read: the pulse cycle, then ``adc_latency`` cycles to the ADCs' ``done``."""
        return adc_latency + 1

    def _plane(self, b):
        """Bit b of every activation."""
        return Cat(self.x[i][b] for i in range(self._rows))

    def elaborate(self, platform):
        m = Module()
        b_in = self._b_in
        plane = Signal(range(b_in))              # reads done so far in this MVM: plane b_in - 1 - plane is driven
        reading = Signal()
        next_read = Signal()
        m.d.comb += [self.adc_start.eq(self.pulse), self.code_valid.eq(reading & self.adc_done),
                     self.first.eq(plane == 0), self.last.eq(plane == b_in - 1)]
        m.d.sync += self.pulse.eq(self.start | next_read)
        # `wl` is a register loaded at each read's start from a constant bit selection of `x`: nothing is recomputed
        # in the cycles between (the simulators evaluate it once per plane, not once per clock).
        with m.If(self.start):
            m.d.sync += [reading.eq(1), plane.eq(0), self.wl.eq(self._plane(b_in - 1))]
        with m.Elif(self.code_valid):
            with m.If(self.last):                # the LSB plane: the MVM's reads have ended
                m.d.sync += reading.eq(0)
            with m.Else():
                m.d.sync += plane.eq(plane + 1)
                m.d.comb += next_read.eq(1)
            with m.Switch(plane):
                for p in range(b_in - 1):
                    with m.Case(p):
                        m.d.sync += self.wl.eq(self._plane(b_in - 2 - p))
                with m.Default():
                    m.d.sync += self.wl.eq(0)
        return m
