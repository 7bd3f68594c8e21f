# Ref: docs/architecture.md §2 (bit-serial inputs), §5 (tile controller); model/interface.py InputEncoding.
"""The tile controller's input-encoder slot: the ports every input encoder has, so an encoder is added (one line in
``ENCODERS`` of rtl/tile_ctrl.py) without touching the rest of the controller."""

from amaranth.hdl import unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["InputEncoderSignature"]


class InputEncoderSignature(wiring.Signature):
    """The ports of an input encoder for ``rows`` wordlines and ``b_in``-bit activations (the encoder's side).

    The contract. An MVM consists of the encoder's *reads*: a read drives the wordlines from the activations, has
    the ADCs convert the bitline charge once, and ends in the ADCs' ``done`` cycle, when the codes enter the
    shift-and-add. An encoder states its reads per MVM (``reads``) and the cycles of one read
    (``read_cycles(adc_latency)``) in its docstring and as properties.

    * ``start`` (one cycle, while no read is running) begins an MVM; the activations ``x`` must hold their values
      from that cycle until the MVM's last read has ended (the activation buffer's ``hold``).
    * From the cycle after ``start`` the encoder drives ``wl`` (wordline enables; all 0 between MVMs) and ``pulse``,
      high in the first cycle of each read (the analog side's strobe: from then on it presents the read's bitline
      currents), and ``adc_start`` when the ADCs are to convert; it follows ``adc_done``.
    * ``code_valid`` is high in the ``adc_done`` cycle of each read: the ADC codes are valid. ``first`` and
      ``last`` say whether this read is the MVM's first (the shift-and-add starts from zero) and last (the MVM's
      reads have ended: the sequencer moves on). The shift-and-add adds every read's codes as ``acc <- 2 acc +
      code``, so a one-read encoder's accumulator is its code.

    Members (encoder's side)
    ------------------------
    start : In(1); x : In(ArrayLayout(unsigned(b_in), rows)); adc_done : In(1)
    wl : Out(rows); pulse : Out(1); adc_start : Out(1); code_valid : Out(1); first : Out(1); last : Out(1)
    """

    def __init__(self, rows, b_in):
        super().__init__({
            "start": In(1),
            "x": In(data.ArrayLayout(unsigned(b_in), rows)),
            "wl": Out(rows),
            "pulse": Out(1),
            "adc_start": Out(1),
            "adc_done": In(1),
            "code_valid": Out(1),
            "first": Out(1),
            "last": Out(1),
        })
