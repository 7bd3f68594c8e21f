# Ref: docs/architecture.md §5 (tile controller: output stream, back-pressure; no BN result is ever lost).
"""Formal properties of rtl/out_queue.py: beats issued into a pipeline of fixed latency leave in issue order, each
exactly once, the ring never overflows or underflows, and the credits bound the beats in flight, under any
back-pressure and any reset (proved by induction, with the queue's bookkeeping as the strengthening invariant)."""

from amaranth.hdl import Assume, Elaboratable, Module, Mux, Signal
from amaranth.lib import data

from neurophase.formal.probe import free, open_block
from neurophase.formal.sby import Mutant, Proof, Properties
from neurophase.rtl.out_queue import OutputQueue

__all__ = ["FormalOutputQueue", "PROOFS", "MUTANTS"]

DEPTH, LATENCY, TAG_BITS = 3, 2, 4      # the tile's queue is bn_latency + 2 deep behind the BN pipeline


class FormalOutputQueue(Elaboratable):
    """OutputQueue(depth=3) behind a 2-cycle pipeline model; every issued beat carries its issue number (mod 16) as
    its payload, so the order and count of the beats that leave can be checked."""

    def __init__(self, mutant=None):
        self.mutant = mutant

    def elaborate(self, platform):
        m = Module()
        self.props = props = Properties(m, invariants=self.mutant is None)
        dut = OutputQueue(layout=data.StructLayout({"tag": TAG_BITS}), depth=DEPTH)
        blk = open_block(dut, platform)
        if self.mutant:
            MUTANTS[self.mutant].apply(blk, dut)
        m.submodules.dut = blk.module
        free(m, dut.issue, dut.out.ready)
        m.d.comb += Assume(~dut.issue | dut.credit)          # the producer issues only with a credit
        issued, written, taken = (Signal(TAG_BITS, name=n) for n in ("issued", "written", "taken"))
        # The pipeline: an issued beat, tagged with its issue number, arrives LATENCY cycles later.
        valid = [Signal(name=f"pipe_valid{k}") for k in range(LATENCY)]
        tag = [Signal(TAG_BITS, name=f"pipe_tag{k}") for k in range(LATENCY)]
        m.d.sync += [valid[0].eq(dut.issue), tag[0].eq(issued)]
        m.d.sync += [v.eq(u) for v, u in zip(valid[1:], valid)] + [t.eq(u) for t, u in zip(tag[1:], tag)]
        m.d.comb += [dut.w_en.eq(valid[-1]), dut.w_data.tag.eq(tag[-1])]
        popped = dut.out.valid & dut.out.ready
        m.d.sync += [issued.eq(issued + dut.issue), written.eq(written + dut.w_en), taken.eq(taken + popped)]

        with m.If(popped):
            # Beats leave in issue order, each exactly once: no beat is dropped or duplicated.
            props.check("in_order", dut.out.payload.tag == taken)
        # A beat is offered exactly when one was written and not yet taken: the ring never underflows.
        props.check("no_underflow", dut.out.valid == (written != taken))
        # A beat arriving from the pipeline always finds a free slot: the ring never overflows.
        props.check("no_overflow", ~dut.w_en | (blk["count"] < DEPTH))
        # The credits bound the beats issued and not yet taken to the depth, and ``draining`` says some are.
        in_flight = (issued - taken)[:TAG_BITS]
        props.check("credits", (in_flight <= DEPTH) & (dut.credit == (in_flight < DEPTH)) &
                    (dut.draining == (in_flight != 0)))
        self._bookkeeping(props, blk, valid, tag, written, taken, in_flight)
        return m

    @staticmethod
    def _bookkeeping(props, blk, valid, tag, written, taken, in_flight):
        """The strengthening invariant that makes the properties inductive: the queue's count, pointers and occupied
        slots hold exactly the beats written and not yet taken, and the pipeline the beats issued after them."""
        count, rp, wp = blk["count"], blk["rp"], blk["wp"]
        wrapped = Mux(rp + count >= DEPTH, rp + count - DEPTH, rp + count)
        ok = (count == (written - taken)[:TAG_BITS]) & (blk["pending"] == in_flight) & (wp == wrapped)
        for k in range(DEPTH):
            offset = Mux(k >= rp, k - rp, k + DEPTH - rp)
            ok &= (offset >= count) | (blk[f"slot{k}"][:TAG_BITS] == (taken + offset)[:TAG_BITS])
        ahead = written
        for v, t in zip(reversed(valid), reversed(tag)):
            ok &= ~v | (t == ahead)
            ahead = (ahead + v)[:TAG_BITS]
        props.check("bookkeeping", ok & ((ahead - taken)[:TAG_BITS] == in_flight) & (rp < DEPTH) & (wp < DEPTH),
                    invariant=True)


def _extra_credit(blk, dut):
    """One credit too many: a beat may be issued with the queue's every slot spoken for."""
    blk.module.d.comb += dut.credit.eq(blk["pending"] <= DEPTH)


def _replays_slot0(blk, dut):
    """Taking the beat in slot 0 does not advance the read pointer: that beat leaves twice."""
    with blk.module.If(blk["popped"] & (blk["rp"] == 0)):
        blk.module.d.sync += blk["rp"].eq(0)


PROOFS = [Proof("out_queue", FormalOutputQueue, {
    "in_order": "beats leave in issue order, each exactly once: none is dropped or duplicated",
    "no_underflow": "a beat is offered exactly when one was written and not yet taken",
    "no_overflow": "a beat arriving from the pipeline always finds a free slot",
    "credits": "the beats issued and not yet taken never exceed the depth; credit and draining say how many",
    "bookkeeping": "(strengthening invariant) the count, pointers and occupied slots hold exactly the beats written "
                   "and not yet taken"},
    mode="prove", depth=3, why="with the bookkeeping invariant, induction closes at k = 3 (the pipeline's latency "
                               "plus one)")]

MUTANTS = {m.name: m for m in [
    Mutant("extra_credit", "out_queue", _extra_credit.__doc__, ("no_overflow", "credits"), _extra_credit, depth=10),
    Mutant("replays_slot0", "out_queue", _replays_slot0.__doc__, ("in_order",), _replays_slot0, depth=8)]}
