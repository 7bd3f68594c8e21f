"""The Python side of tb/hdl/pwm_check.v: the PWM read's window as the crossbar stand-ins check it.

Ref: docs/architecture.md D8. A PWM read drives wordline i for its first ``x_i * lsb_cycles`` cycles of a window of
``(2^b_in - 1) * lsb_cycles`` cycles (``lsb_cycles``: model/interface.py ``PWM_LSB_CYCLES``, what the RTL and the
cycle model use). The stand-ins (tb/tile_harness.py, tb/hdl/chip_io.v) count every row's driven cycles in the window
and compare them with the widths given here, and present the read's current code to the comparators only after the
window and the conversion's sampling cycle: until then they present :meth:`PwmWindow.charging_code`, the positive
rail, so an ADC started inside the window decides on the wrong value.
"""

from dataclasses import dataclass

import numpy as np

from neurophase.model.adc import current_code
from neurophase.model.arith import read_window, wordline_pulses
from neurophase.model.checks import check_int
from neurophase.model.interface import PWM_LSB_CYCLES, InputEncoding
from neurophase.tb import HDL_DIR

__all__ = ["PWM_CHECK_V", "PwmWindow"]

PWM_CHECK_V = HDL_DIR / "pwm_check.v"


@dataclass(frozen=True)
class PwmWindow:
    """The window of a PWM read of ``b_in``-bit activations with ``lsb_cycles`` clock cycles per activation LSB."""
    b_in: int
    lsb_cycles: int = PWM_LSB_CYCLES

    def __post_init__(self):
        check_int("b_in", self.b_in, 1, 16)
        check_int("lsb_cycles", self.lsb_cycles, 1, 256)

    @property
    def cycles(self):
        """Cycles of the window."""
        return read_window(InputEncoding.PWM, self.b_in) * self.lsb_cycles

    @property
    def width_bits(self):
        """Bits of a pulse width in cycles (0 .. the window)."""
        return self.cycles.bit_length()

    def width_planes(self, x):
        """The expected pulse widths of activations ``x`` (mvms, rows) bit-sliced, LSB first, as the checker takes
        them: (mvms, width_bits, rows) uint8, plane k holding bit k of every row's width in cycles."""
        widths = wordline_pulses(np.atleast_2d(x), InputEncoding.PWM, self.b_in)[0].astype(np.int64)
        widths *= self.lsb_cycles
        return ((widths[:, None, :] >> np.arange(self.width_bits)[None, :, None]) & 1).astype(np.uint8)

    def checker_parameters(self, rows):
        """Parameters of an ``np_pwm_check`` instance for ``rows`` wordlines (Amaranth ``Instance`` keywords)."""
        return dict(p_ROWS=rows, p_WINDOW=self.cycles, p_WIDTH_BITS=self.width_bits)

    @staticmethod
    def charging_code(adc):
        """The integer current code the comparators see while a window integrates (and in the cycle after): the
        full-scale current's (the ADC's positive rail)."""
        return int(current_code(np.array([adc.i_fs]), adc)[0])
