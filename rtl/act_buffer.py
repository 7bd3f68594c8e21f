# Ref: docs/architecture.md §2 (tile inputs), §5 (tile controller: activation buffer).
from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from neurophase.model.checks import check_int
from neurophase.rtl.params import validating

__all__ = ["ActivationBuffer"]


class ActivationBuffer(wiring.Component):
    """The tile's input vector: ``rows`` unsigned ``b_in``-bit activations filled from the ``act`` stream, held
    stable for an input encoder while an MVM reads them.

    Behaviour: beats of ``acts_per_beat`` activations arrive on ``act``, row 0 first; lane ``l`` of beat ``k`` is
    row ``k * acts_per_beat + l``. Rows at or past ``rows_used`` are dropped (the last beat's spare lanes). ``fill``
    counts the activations taken (``acts_per_beat`` per beat) and ``full`` is high once it reaches ``rows_used``;
    ``act.ready`` is low while ``full`` or ``hold``. ``consume`` (the MVM took the vector) empties the buffer for the
    next vector: ``fill`` and the beat count return to 0 while ``x`` keeps its rows until they are overwritten, so
    ``x`` stays stable while ``hold`` keeps new beats out. Rows at or past ``rows_used`` keep whatever they held:
    ``in_use`` marks the rows below ``rows_used``, for the wordline drivers to mask.

    Latency: a beat taken in cycle t is in ``x`` and counted in ``fill`` from cycle t + 1.
    Throughput: one beat per cycle.

    Parameters
    ----------
    rows : wordlines (1..4096).
    b_in : activation bits (1..16).
    acts_per_beat : activations per beat (1..rows).

    Members
    -------
    act : In(stream.Signature(ArrayLayout(unsigned(b_in), acts_per_beat)))
        Input activations.
    rows_used : In(range(rows + 1))
        Activations per vector (ROWS_USED).
    hold : In(1)
        Take no beat (an encoder is reading ``x``).
    consume : In(1)
        The vector has been taken: start the next one.
    x : Out(ArrayLayout(unsigned(b_in), rows))
        The buffered activations.
    in_use : Out(rows)
        Rows below ``rows_used``.
    fill : Out(range(rows + acts_per_beat + 1))
        Activations taken since the last ``consume`` (STATUS.buffered).
    full : Out(1)
        ``fill >= rows_used``: the vector is complete.
    """

    def __init__(self, *, rows=256, b_in=8, acts_per_beat=16):
        with validating(self):
            self._rows = check_int("rows", rows, 1, 4096)
            self._b_in = check_int("b_in", b_in, 1, 16)
            self._apb = check_int("acts_per_beat", acts_per_beat, 1, rows)
        super().__init__({
            "act": In(stream.Signature(data.ArrayLayout(unsigned(b_in), acts_per_beat))),
            "rows_used": In(range(rows + 1)),
            "hold": In(1),
            "consume": In(1),
            "x": Out(data.ArrayLayout(unsigned(b_in), rows)),
            "in_use": Out(rows),
            "fill": Out(range(rows + acts_per_beat + 1)),
            "full": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rows, apb = self._rows, self._apb
        beat = Signal(range(rows // apb + 2))
        accept = Signal()
        m.d.comb += [self.in_use.eq(Cat(Const(i, range(rows + 1)) < self.rows_used for i in range(rows))),
                     self.full.eq(self.fill >= self.rows_used),
                     self.act.ready.eq(~self.full & ~self.hold),
                     accept.eq(self.act.valid & self.act.ready)]
        with m.If(self.consume):
            m.d.sync += [self.fill.eq(0), beat.eq(0)]
        with m.Elif(accept):
            m.d.sync += [self.fill.eq(self.fill + apb), beat.eq(beat + 1)]
        for i in range(rows):
            with m.If(accept & (beat == i // apb) & self.in_use[i]):
                m.d.sync += self.x[i].eq(self.act.payload[i % apb])
        return m
