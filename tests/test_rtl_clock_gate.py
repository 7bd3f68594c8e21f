"""rtl/clock_gate.py and the tile's ``active``: the gate passes exactly the edges it should, and a tile clocked through
it answers cycle for cycle as a tile clocked on every edge under random register traffic, input beats, comparator
decisions, back-pressure and resets (Amaranth's simulator, the gate's real ``gclk``; formal/clock_gate.py proves the
same at a bounded depth)."""

import random

import pytest
from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, Elaboratable, Module, ResetSignal, Signal

from neurophase.formal.clock_gate import TILE_INPUTS, TILE_OUTPUTS, tile_port
from neurophase.model.arith import PeripheryFormat
from neurophase.model.interface import InputEncoding, TileReg
from neurophase.rtl.clock_gate import ClockGate
from neurophase.rtl.tile import Tile
from neurophase.rtl.tile_ctrl import SETTLE_CYCLES
from neurophase.tb.amaranth_sim import simulate

ROWS, COLUMNS = 4, 2
FMT = PeripheryFormat(b_in=2, b_adc=2, acc_bits=6, scale_bits=3, bias_bits=5, shift_max=3, out_bits=3)


class GatedPair(Elaboratable):
    """A reference tile on the clock and the same tile on a :class:`ClockGate`'s ``gclk`` woken by its ``active``;
    both take the inputs ``ins`` and the reset ``rst``."""

    def __init__(self, hold):
        self.ref = Tile(rows=ROWS, columns=COLUMNS, fmt=FMT, acts_per_beat=2, range_bits=2, adc_range_init=1)
        self.dut = Tile(rows=ROWS, columns=COLUMNS, fmt=FMT, acts_per_beat=2, range_bits=2, adc_range_init=1)
        self.gate = ClockGate(hold=hold)
        self.ins = {p: Signal(len(tile_port(self.ref, p)), name=p.replace(".", "_")) for p in TILE_INPUTS}
        self.rst = Signal()

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain()
        # As in the chip (rtl/chip.py): each tile's reset is the reset registered on the tile's clock.
        for name, clock in (("ref", ClockSignal()), ("gated", self.gate.gclk)):
            rst = Signal(init=1, name=f"{name}_rst")
            m.domains += [ClockDomain(name), ClockDomain(f"{name}_rst", reset_less=True)]
            m.d.comb += [ClockSignal(name).eq(clock), ClockSignal(f"{name}_rst").eq(clock), ResetSignal(name).eq(rst)]
            m.d[f"{name}_rst"] += rst.eq(ResetSignal())
        m.d.comb += self.gate.wake.eq(self.dut.active)
        m.submodules.gate = self.gate
        m.submodules.ref = DomainRenamer("ref")(self.ref)
        m.submodules.dut = DomainRenamer("gated")(self.dut)
        for p, sig in self.ins.items():
            m.d.comb += [tile_port(self.ref, p).eq(sig), tile_port(self.dut, p).eq(sig)]
        m.d.comb += ResetSignal().eq(self.rst)
        return m


def _word(rng, bits):
    """A random signed ``bits``-bit value as a 32-bit register word."""
    return rng.randint(-(1 << bits - 1), (1 << bits - 1) - 1) & 0xFFFF_FFFF


def _host_program(rng, cycles):
    """Per cycle, the inputs of a host driving the tile as the chip does, in random order and with random gaps:
    configuration writes, BN parameter writes, input beats followed by START, register reads, idle stretches and
    resets (some while a BN parameter write is on its way to the memory). Yields (bus access or None, beat offered,
    reset)."""
    def writes(*pairs):
        for reg, value in pairs:
            yield (reg, value, True), False, False
            for _ in range(rng.randint(0, 2)):
                yield None, False, False

    emitted = 0
    while emitted < cycles:
        kind = rng.choice(["config", "bn", "bn", "mvm", "mvm", "mvm", "read", "gap"])
        if kind == "config":
            mode = rng.randrange(4) | rng.choice(list(InputEncoding)) << 2
            steps = writes((TileReg.MODE, mode), (TileReg.ROWS_USED, rng.randint(1, ROWS)),
                           (TileReg.COLS_USED, rng.randint(1, COLUMNS)), (TileReg.ADC_RANGE, rng.randint(1, 3)),
                           (TileReg.BN_CTRL, rng.randint(0, FMT.shift_max) | rng.randrange(4) << 8))
        elif kind == "bn":
            steps = writes((TileReg.BN_CHANNEL, rng.randrange(COLUMNS)), (TileReg.BN_SCALE, _word(rng, FMT.scale_bits)),
                           (TileReg.BN_BIAS, _word(rng, FMT.bias_bits)))
        elif kind == "mvm":
            beats = [(None, True, False)] * rng.randint(1, 2 * ROWS // 2)
            steps = [*beats, *writes((TileReg.CTRL, rng.choice([1, 1, 1, 2, 4])))]
        elif kind == "read":
            steps = [((rng.choice(list(TileReg)), 0, False), False, False)]
        else:
            steps = [(None, False, False)] * rng.randint(1, 40)
        for step in steps:
            access, beat, _ = step
            reset = rng.random() < 0.002
            yield access, beat, reset
            emitted += 1
            if access and access[2] and access[0] == TileReg.BN_BIAS and rng.random() < 0.2:
                # a reset while the BN parameter write is on its way to the memory
                yield None, False, False
                yield None, False, True
                emitted += 2


def _run_pair(hold, seed, cycles):
    """The host program of ``seed`` on both tiles; returns (first (cycle, output) that differed or None, cycles the
    gate was closed, MVMs completed)."""
    pair = GatedPair(hold)
    rng = random.Random(seed)
    result = dict(first=None, gated=0, mvms=0)

    async def testbench(ctx):
        ctx.set(pair.rst, 1)
        await ctx.tick()
        for cycle, (access, beat, reset) in enumerate(_host_program(rng, cycles)):
            ctx.set(pair.ins["bus.we"], bool(access and access[2]))
            ctx.set(pair.ins["bus.re"], bool(access and not access[2]))
            if access:
                ctx.set(pair.ins["bus.addr"], access[0])
                ctx.set(pair.ins["bus.wdata"], access[1])
            ctx.set(pair.ins["act.valid"], beat)
            ctx.set(pair.ins["act.payload"], rng.randrange(1 << 4))
            ctx.set(pair.ins["out.ready"], rng.random() < 0.8)
            ctx.set(pair.ins["comparator"], rng.randrange(1 << COLUMNS))
            ctx.set(pair.rst, reset)
            for p in TILE_OUTPUTS:
                if ctx.get(tile_port(pair.ref, p)) != ctx.get(tile_port(pair.dut, p)) and result["first"] is None:
                    result["first"] = (cycle, p)
            result["gated"] += not ctx.get(pair.gate.enable)
            result["mvms"] += ctx.get(pair.ref.done)
            await ctx.tick()

    simulate(pair, testbench)
    return result["first"], result["gated"], result["mvms"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_gated_tile_answers_as_an_ungated_one(seed):
    first, gated, mvms = _run_pair(SETTLE_CYCLES, seed, 3000)
    assert first is None, f"output {first[1]} differed first in cycle {first[0]}"
    # The program exercised the gate: closed often, and MVMs ran between the closures.
    assert gated > 300 and mvms > 20, (gated, mvms)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_without_its_settling_edges_the_gated_tile_goes_wrong(seed):
    # With no edge held after the tile's last active cycle, a reset that comes while the tile idles is taken into
    # the tile's reset register but reaches the tile only at its next wake-up, whose own work it then discards; and
    # a BN_BIAS write staged for the parameter memory (rtl/bn_regs.py, rtl/bn_unit.py) is lost to such a reset.
    first, _, _ = _run_pair(0, seed, 3000)
    assert first is not None, "a gate without SETTLE_CYCLES edges went undetected"


def _edges(hold, wake, rst=()):
    """The cycles whose ending edge ``gclk`` passed, for ``wake`` high in the cycles listed."""
    gate = ClockGate(hold=hold)
    m = Module()
    m.submodules.gate = gate
    edges = Signal(16)
    m.domains.sync = sync = ClockDomain()
    m.domains.gated = ClockDomain()
    m.d.comb += ClockSignal("gated").eq(gate.gclk)
    m.d.gated += edges.eq(edges + 1)
    passed = []

    async def testbench(ctx):
        for cycle in range(12):
            ctx.set(gate.wake, cycle in wake)
            ctx.set(sync.rst, cycle in rst)
            before = ctx.get(edges)
            await ctx.tick()
            if ctx.get(edges) != before:
                passed.append(cycle)

    simulate(m, testbench)
    return passed


@pytest.mark.parametrize("hold, wake, rst, expect", [
    (0, {3, 4, 8}, (), [3, 4, 8]),
    (2, {3}, (), [3, 4, 5]),
    (2, {3, 6}, (), [3, 4, 5, 6, 7, 8]),
    (0, set(), (5,), [5]),
])
def test_the_gate_passes_the_edges_of_wake_cycles_and_the_hold_after(hold, wake, rst, expect):
    # After the simulator's start the hold counter starts full: skip its first edges with cycles from 3 on.
    assert [c for c in _edges(hold, wake, rst) if c >= 3] == expect


def test_a_bad_hold_is_rejected():
    with pytest.raises(ValueError, match="hold must be"):
        ClockGate(hold=16)
