# Ref: docs/architecture.md D8 (PWM inputs: one read per MVM, its charge converted once), §5 (tile controller).
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring

from neurophase.model.checks import check_int
from neurophase.model.interface import PWM_LSB_CYCLES, InputEncoding
from neurophase.rtl.input_encoder import InputEncoderSignature
from neurophase.rtl.params import validating

__all__ = ["PwmEncoder"]


class PwmEncoder(wiring.Component):
    """Pulse-width-modulated input encoder: one read per MVM, each wordline driven for its activation's length.

    Behaviour (the slot's contract: :class:`~neurophase.rtl.input_encoder.InputEncoderSignature`): after ``start``
    the MVM's one read begins with an integration window of ``window = (2^b_in - 1) * lsb_cycles`` cycles, in which
    wordline i is driven for its first ``x_i * lsb_cycles`` cycles (never for ``x_i = 0``); ``pulse`` is high in
    the window's first cycle. In the cycle after the window the wordlines are off and ``adc_start`` rises: the ADCs
    convert the integrated charge once (the integrator holds it). The read ends in the ``adc_done`` cycle
    (``code_valid``, with ``first`` and ``last`` both high: the shift-and-add's first-plane clear makes the
    accumulator the sign-extended code). ``wl`` is 0 outside the window. Every wordline with a nonzero activation is
    driven, so the owner masks the rows it does not use.

    The window counts activation LSBs (``units``, 0 .. 2^b_in - 2) and the cycles within one (``phase``, 0 ..
    lsb_cycles - 1); a wordline is ``x_i > units``: one comparator per row against the shared count, as a
    PWM input stage would build it.

    Latency and throughput: ``reads = 1`` read of ``read_cycles(adc_latency) = window + adc_latency + 1`` cycles
    (the window, then the conversion from ``adc_start`` to ``done``), from the cycle after ``start`` to the
    ``code_valid``; ``start`` may come again in the cycle after ``code_valid``.

    Parameters
    ----------
    rows : wordlines (1..4096).
    b_in : activation bits (1..16).
    lsb_cycles : clock cycles of one activation LSB (1..256; default model/interface.py ``PWM_LSB_CYCLES``, which the
        cycle model reads too).

    Members
    -------
    As :class:`~neurophase.rtl.input_encoder.InputEncoderSignature`.
    """

    encoding = InputEncoding.PWM

    def __init__(self, *, rows=256, b_in=8, lsb_cycles=PWM_LSB_CYCLES):
        with validating(self):
            self._rows = check_int("rows", rows, 1, 4096)
            self._b_in = check_int("b_in", b_in, 1, 16)
            self._lsb_cycles = check_int("lsb_cycles", lsb_cycles, 1, 256)
        super().__init__(InputEncoderSignature(rows, b_in))

    @property
    def reads(self):
        """Reads per MVM."""
        return self.encoding.reads(self._b_in)

    @property
    def window(self):
        """Cycles of the integration window: ``(2^b_in - 1) * lsb_cycles``."""
        return ((1 << self._b_in) - 1) * self._lsb_cycles

    def read_cycles(self, adc_latency):
        """Cycles of the read: the window, the ``adc_start`` cycle, then ``adc_latency`` cycles to the ADCs' ``done``
        (the ``adc_start`` cycle is the conversion's first)."""
        return self.window + adc_latency + 1

    def _wordlines(self, units):
        """Wordline enables in a window cycle ``units`` LSBs in: row i while its activation is longer."""
        return Cat(self.x[i] > units for i in range(self._rows))

    def _window_ends(self, units, phase):
        """The window's last cycle (``phase`` is None when an LSB is one cycle)."""
        last_unit = units == (1 << self._b_in) - 2
        return last_unit if phase is None else last_unit & (phase == self._lsb_cycles - 1)

    def elaborate(self, platform):
        m = Module()
        units = Signal(self._b_in, name="units")         # activation LSBs of the window elapsed
        # Cycles into the current LSB; none when an LSB is one cycle.
        phase = Signal(range(self._lsb_cycles), name="phase") if self._lsb_cycles > 1 else None
        window, converting = Signal(name="window"), Signal(name="converting")
        ends = self._window_ends(units, phase)
        m.d.comb += [self.wl.eq(Cat(self._wordlines(units)) & window.replicate(self._rows)),
                     self.code_valid.eq(converting & self.adc_done),
                     self.first.eq(converting), self.last.eq(converting)]
        m.d.sync += [self.pulse.eq(self.start), self.adc_start.eq(window & ends)]
        with m.If(self.start):
            m.d.sync += [window.eq(1), units.eq(0)]
            if phase is not None:
                m.d.sync += phase.eq(0)
        with m.Elif(window):
            with m.If(ends):
                m.d.sync += [window.eq(0), converting.eq(1)]
            if phase is None:
                with m.Else():
                    m.d.sync += units.eq(units + 1)
            else:
                with m.Elif(phase == self._lsb_cycles - 1):
                    m.d.sync += [phase.eq(0), units.eq(units + 1)]
                with m.Else():
                    m.d.sync += phase.eq(phase + 1)
        with m.If(self.code_valid):
            m.d.sync += converting.eq(0)
        return m
