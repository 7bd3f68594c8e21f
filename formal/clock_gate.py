# Ref: docs/architecture.md §5 (chip top: tile clock gating), D17.
"""Formal property of the tile clock gating (rtl/clock_gate.py and the tile's ``active``, rtl/tile_ctrl.py): a tile
that sees only the clock edges its gate lets through answers, cycle for cycle, as a tile clocked on every edge, for
any register accesses, activations, comparator decisions, output back-pressure and resets (bounded model check).

The gated tile's registers and memory update only when the gate's ``enable`` was high in the cycle (Amaranth's
``EnableInserter``): that is what the gate's clock does in the chip, whose ``gclk`` rises exactly at the clock's
rising edges that end such cycles (rtl/clock_gate.py); the chip runs in simulation bit for bit against the golden
model with the gates in place (tests/test_rtl_chip.py)."""

from amaranth.hdl import (Cat, ClockDomain, ClockSignal, DomainRenamer, Elaboratable, EnableInserter, Module,
                          ResetSignal, Signal, Value)

from neurophase.formal.probe import free, open_block
from neurophase.formal.sby import Mutant, Proof, Properties
from neurophase.model.arith import PeripheryFormat
from neurophase.rtl.clock_gate import ClockGate
from neurophase.rtl.tile import Tile
from neurophase.rtl.tile_ctrl import SETTLE_CYCLES

__all__ = ["FormalGatedTile", "PROOFS", "MUTANTS", "DEPTH", "TILE_INPUTS", "TILE_OUTPUTS", "tile_port"]

ROWS, COLUMNS, ACTS_PER_BEAT = 2, 1, 2
FMT = PeripheryFormat(b_in=1, b_adc=2, acc_bits=3, scale_bits=3, bias_bits=5, shift_max=3, out_bits=3)
# Cycles checked: a BN parameter write, a reset and a whole bit-serial MVM (one beat, one read of a 3-cycle ADC, the
# readout through the BN unit), or register accesses and idle gaps; about 30 s of CPU (16 cycles: 136 s).
DEPTH = 14
# The tile's ports (Tile's Members): inputs both tiles share, outputs compared.
TILE_INPUTS = ("bus.addr", "bus.wdata", "bus.we", "bus.re", "act.valid", "act.payload", "out.ready", "comparator")
TILE_OUTPUTS = ("bus.rdata", "act.ready", "out.valid", "out.payload", "done", "error", "active", "wl", "pulse",
                "adc_range", "dac_code")


def tile_port(tile, path):
    """The tile's port ``path`` as one value (a port array's elements concatenated)."""
    value = tile
    for name in path.split("."):
        value = getattr(value, name)
    return Cat(*value) if isinstance(value, (list, tuple)) else Value.cast(value)


def _tile():
    return Tile(rows=ROWS, columns=COLUMNS, fmt=FMT, acts_per_beat=ACTS_PER_BEAT, range_bits=2, adc_range_init=1)


class FormalGatedTile(Elaboratable):
    """Two small tiles (2 rows, 1 column, 1-bit activations, 2-bit codes) given the same free inputs and reset: a
    reference clocked on every edge, and one whose clock is gated by a :class:`ClockGate` on its own ``active``
    (holding ``SETTLE_CYCLES`` edges, as in the chip)."""

    def __init__(self, mutant=None):
        self.mutant = mutant

    def elaborate(self, platform):
        m = Module()
        props = Properties(m)
        ref, dut = _tile(), _tile()
        blk = open_block(dut, platform)
        if self.mutant:
            MUTANTS[self.mutant].apply(blk, dut)
        m.submodules.gate = gate = ClockGate(hold=getattr(dut, "formal_hold", SETTLE_CYCLES))
        m.d.comb += gate.wake.eq(dut.active)
        # Each tile's reset is the free reset registered on the tile's clock, as in the chip (rtl/chip.py).
        ref_rst, dut_rst = Signal(init=1, name="ref_rst"), Signal(init=1, name="dut_rst")
        m.d.sync += ref_rst.eq(ResetSignal())
        with m.If(gate.enable):
            m.d.sync += dut_rst.eq(ResetSignal())
        for name, rst in (("ref", ref_rst), ("dut", dut_rst)):
            m.domains += ClockDomain(name, local=True)
            m.d.comb += [ClockSignal(name).eq(ClockSignal()), ResetSignal(name).eq(rst)]
        m.submodules.ref = DomainRenamer("ref")(ref)
        m.submodules.dut = EnableInserter({"dut": gate.enable})(DomainRenamer("dut")(blk.module))
        for path in TILE_INPUTS:
            free(m, tile_port(ref, path))
            m.d.comb += tile_port(dut, path).eq(tile_port(ref, path))
        same = [tile_port(ref, path) == tile_port(dut, path) for path in TILE_OUTPUTS]
        # Every output of the gated tile equals the reference's in every cycle.
        props.check("same_outputs", Cat(*same).all())
        self.props = props
        return m


def _deaf_to_beats(blk, dut):
    """The tile does not wake for an input beat: a beat offered to an idle tile is acknowledged but not stored."""
    blk.module.d.comb += dut.active.eq(dut.ctrl.active & ~dut.act.valid)


def _deaf_to_reads(blk, dut):
    """The tile does not wake for a register read: an idle tile's read data is the previous read's."""
    blk.module.d.comb += dut.active.eq(dut.ctrl.active & ~dut.bus.re)


def _no_settle(blk, dut):
    """The gate holds no edge after the tile's last active cycle: a reset while the tile idles reaches the tile (its
    reset registered on its clock) only at its next wake-up, whose work it discards."""
    dut.formal_hold = 0


PROOFS = [
    Proof("clock_gate", FormalGatedTile, {
        "same_outputs": "a tile clocked only on the edges its gate lets through (its active output, held "
                        f"{SETTLE_CYCLES} edges) drives every output as a tile clocked on every edge, in every cycle"},
        mode="bmc", depth=DEPTH, why="an equivalence of two tiles whose idle registers may differ where no output "
                                    "reads them, so their state equality is no invariant to induct on; the depth "
                                    "holds a BN write, a reset and a whole bit-serial MVM")]

MUTANTS = {m.name: m for m in [
    Mutant("deaf_to_beats", "clock_gate", _deaf_to_beats.__doc__, ("same_outputs",), _deaf_to_beats, depth=8),
    Mutant("deaf_to_reads", "clock_gate", _deaf_to_reads.__doc__, ("same_outputs",), _deaf_to_reads, depth=6),
    Mutant("no_settle", "clock_gate", _no_settle.__doc__, ("same_outputs",), _no_settle, depth=8)]}
