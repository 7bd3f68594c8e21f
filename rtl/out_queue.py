# Ref: docs/architecture.md §5 (tile controller: output stream, back-pressure).
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from neurophase.model.checks import check_int
from neurophase.rtl.params import validating

__all__ = ["OutputQueue"]


class OutputQueue(wiring.Component):
    """Credit-counted output queue: beats are issued into a pipeline of known latency and leave on ``out`` in order,
    none lost under back-pressure.

    Behaviour: the producer raises ``issue`` for a beat it sends into its pipeline (the BN unit, or nothing in RAW
    mode), only while ``credit`` is high; the beat arrives later on ``w_en``/``w_data`` and waits in a ring of
    ``depth`` registers until ``out`` takes it, head first. An issued beat holds a credit until ``out`` accepts it,
    so at most ``depth`` beats are in the pipeline or the ring and a written beat always has a free slot:
    ``credit = pending < depth``. With ``depth`` = pipeline latency + 2 (issue, pipeline, ring write) the queue
    passes one beat per cycle while ``out.ready`` stays high.

    Latency: a beat written in cycle t is on ``out`` from cycle t + 1 (the head is read combinationally).
    Throughput: one beat per cycle in and out.

    Parameters
    ----------
    layout : the payload shape (a ``data`` layout).
    depth : slots and credits (1..64).

    Members
    -------
    issue : In(1)
        A beat was issued into the pipeline this cycle (only with ``credit`` high).
    credit : Out(1)
        Fewer than ``depth`` beats are issued and not yet accepted: one more may be issued.
    draining : Out(1)
        Some issued beat has not been accepted on ``out`` yet.
    w_en : In(1), w_data : In(layout)
        A beat arrives from the pipeline.
    out : Out(stream.Signature(layout))
        The beats, in order.
    """

    def __init__(self, *, layout, depth):
        with validating(self):
            self._depth = check_int("depth", depth, 1, 64)
            if not isinstance(layout, data.Layout):
                raise ValueError(f"layout must be an amaranth.lib.data layout, got {layout!r}")
        super().__init__({
            "issue": In(1),
            "credit": Out(1),
            "draining": Out(1),
            "w_en": In(1),
            "w_data": In(layout),
            "out": Out(stream.Signature(layout)),
        })

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        layout = self.w_data.shape()
        slots = [Signal(layout, name=f"slot{k}") for k in range(depth)]
        wp, rp = Signal(range(depth), name="wp"), Signal(range(depth), name="rp")
        count = Signal(range(depth + 1))
        pending = Signal(range(depth + 1))   # beats issued and not yet accepted on `out`
        popped = Signal()
        for k, slot in enumerate(slots):
            with m.If(self.w_en & (wp == k)):
                m.d.sync += slot.eq(self.w_data)
        head = slots[0]
        for k, slot in enumerate(slots[1:], 1):
            head = Mux(rp == k, slot, head)
        m.d.comb += [self.out.valid.eq(count != 0), self.out.payload.eq(head),
                     popped.eq(self.out.valid & self.out.ready),
                     self.credit.eq(pending < depth), self.draining.eq(pending != 0)]
        with m.If(self.w_en):
            m.d.sync += wp.eq(Mux(wp == depth - 1, 0, wp + 1))
        with m.If(popped):
            m.d.sync += rp.eq(Mux(rp == depth - 1, 0, rp + 1))
        m.d.sync += [count.eq(count + self.w_en - popped), pending.eq(pending + self.issue - popped)]
        return m
