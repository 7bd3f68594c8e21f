# Ref: docs/architecture.md §4 step 4 and D4 (partial sums added in tile order, saturating after every add), D7.
"""Formal properties of rtl/reducer.py at reduced widths: a group's partial sum is D4's saturating sum of its tiles'
accumulators in tile order for every route and every accumulator, and a group's beats are taken together."""

from amaranth.hdl import Array, Assume, Cat, Elaboratable, Module, Mux

from neurophase.formal.bn_unit import FMT
from neurophase.formal.probe import free, open_block
from neurophase.formal.sby import Mutant, Proof, Properties
from neurophase.model.checks import signed_range
from neurophase.rtl.reducer import Reducer

__all__ = ["FormalReducer", "PROOFS", "MUTANTS", "saturating_sum"]

TILES, COLUMNS, MAX_GROUP, FIFO_DEPTH = 3, 2, 3, 4


def saturating_sum(values, size, bits):
    """D4's partial-sum reduction as a reference expression: ``values[0] + values[1] + ...`` over the first ``size``
    values in order, clamped to signed ``bits`` after every add (model/arith.py ``reduce_partial_sums``)."""
    lo, hi = signed_range(bits)
    total = values[0]
    for g, v in enumerate(values[1:], 1):
        s = total + v
        total = Mux(size > g, Mux(s > hi, hi, Mux(s < lo, lo, s)), total)
    return total


class FormalReducer(Elaboratable):
    """Reducer(tiles=3, columns=2, max_group=3) at reduced widths with free tile beats, routes, enable and FIFO level
    (the routes the command decoder allows: 1..max_group tiles, within the chip), beside :func:`saturating_sum`."""

    def __init__(self, mutant=None):
        self.mutant = mutant

    def elaborate(self, platform):
        m = Module()
        self.props = props = Properties(m)
        dut = Reducer(tiles=TILES, columns=COLUMNS, fmt=FMT, max_group=MAX_GROUP, fifo_depth=FIFO_DEPTH)
        blk = open_block(dut, platform)
        if self.mutant:
            MUTANTS[self.mutant].apply(blk, dut)
        m.submodules.dut = blk.module
        free(m, *(p for t in dut.tiles for p in (t.valid, t.payload)), dut.tile_done, dut.route_base, dut.route_size,
             dut.enable, dut.fifo_level)
        # The routes the command decoder sets: 1..MAX_GROUP tiles from route_base, within the chip; a FIFO level at
        # most its depth.
        m.d.comb += Assume((dut.route_size >= 1) & (dut.route_size <= MAX_GROUP) &
                           (dut.route_base + dut.route_size <= TILES) & (dut.fifo_level <= FIFO_DEPTH))
        bits = FMT.acc_bits
        accs = Array(t.payload.data[:bits].as_signed() for t in dut.tiles)
        bn = blk.submodules["bn"]
        with m.If(bn.i_valid):
            # A group's partial sum is its tiles' accumulators added in tile order, saturating after every add.
            props.check("partial_sum", bn.i_acc == saturating_sum(
                [accs[dut.route_base + g] for g in range(MAX_GROUP)], dut.route_size, bits))
        valid, ready = Array(t.valid for t in dut.tiles), Array(t.ready for t in dut.tiles)
        in_group = [dut.route_size > g for g in range(MAX_GROUP)]
        taken = [ready[dut.route_base + g] for g in range(MAX_GROUP)]
        # A group's beats are taken together, only when every tile of the group offers one, and no other tile's.
        props.check("together", Cat(~used | (r == taken[0]) for r, used in zip(taken, in_group)).all() &
                    (~taken[0] | Cat(~u | valid[dut.route_base + g] for g, u in enumerate(in_group)).all()) &
                    (sum(ready) == Mux(taken[0], dut.route_size, 0)))
        return m


def _wraps(blk, dut):
    """The second add wraps around instead of saturating."""
    blk.module.d.comb += blk["psum1_sat"].eq(blk["psum1"][:FMT.acc_bits])


def _extra_ready(blk, dut):
    """Tile 1 is told its beat was taken whenever tile 0's is, in a group or not."""
    with blk.module.If(dut.tiles[0].ready):
        blk.module.d.comb += dut.tiles[1].ready.eq(1)


PROOFS = [Proof("reducer", FormalReducer, {
    "partial_sum": "a group's partial sum entering the BN unit is D4's sum of its tiles' accumulators in tile order, "
                   "saturating after every add, for every route and every accumulator",
    "together": "a group's beats are taken together, only when every tile of the group offers one, and no other "
                "tile's"},
    mode="prove", depth=2, why="both properties are combinational: 1-induction closes")]

MUTANTS = {m.name: m for m in [
    Mutant("wraps", "reducer", _wraps.__doc__, ("partial_sum",), _wraps, depth=2),
    Mutant("extra_ready", "reducer", _extra_ready.__doc__, ("together",), _extra_ready, depth=2)]}
