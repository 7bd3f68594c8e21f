# Ref: docs/architecture.md §5 (chip top: a tile's clock runs only while the tile has work), D17.
from amaranth.hdl import ClockDomain, ClockSignal, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurophase.model.checks import check_int
from neurophase.rtl.params import validating

__all__ = ["ClockGate"]


class ClockGate(wiring.Component):
    """A block's clock gate: ``gclk`` repeats the domain's clock while the block is awake and stays low otherwise.

    Behaviour: the rising edge of the clock that ends cycle t reaches ``gclk`` when ``wake`` or the domain's reset
    was high in cycle t, or ``wake`` was high in one of the ``hold`` cycles before it; so a block clocked by ``gclk``
    sees exactly the edges of an ungated clock at which its state can change, provided it raises ``wake`` whenever
    its state can change and its pipelines settle within ``hold`` edges after ``wake`` falls. The enable is
    registered on the falling edge of the clock and ANDed with it (the integrated clock gate of a standard-cell
    library, with a flop in place of its latch): ``gclk`` never glitches, and each of its rising edges is a rising
    edge of the clock, in the same time step, so the gated block and the rest of the domain sample each other's
    registers as if they shared the clock.

    Why: in the digits network one tile or two work at a time while the others wait; a simulator such as Verilator
    evaluates a register's logic on every edge of its clock, so without the gate every tile costs simulation time on
    every cycle (docs/chip_speed.md). Real chips gate idle blocks' clocks to save their clock power.

    Latency: none; ``gclk`` edges coincide with the clock's. An edge is let through from the cycle ``wake`` rises.

    Parameters
    ----------
    hold : clock edges let through after the last cycle with ``wake`` high (0..15).

    Members
    -------
    wake : In(1)
        The block's state can change at the next clock edge.
    enable : Out(1)
        The edge that ends this cycle reaches ``gclk`` (the enable before its falling-edge register).
    gclk : Out(1)
        The gated clock.
    """

    def __init__(self, *, hold=0):
        with validating(self):
            self.hold = check_int("hold", hold, 0, 15)
        super().__init__({"wake": In(1), "enable": Out(1), "gclk": Out(1)})

    def elaborate(self, platform):
        m = Module()
        enable = self.enable
        if self.hold:
            # Cycles of clock still owed after the last wake-up; reset leaves a full hold.
            owed = Signal(range(self.hold + 1), init=self.hold)
            with m.If(self.wake):
                m.d.sync += owed.eq(self.hold)
            with m.Elif(owed != 0):
                m.d.sync += owed.eq(owed - 1)
            m.d.comb += enable.eq(self.wake | (owed != 0) | ResetSignal())
        else:
            m.d.comb += enable.eq(self.wake | ResetSignal())
        # The enable, taken when the clock falls: stable through the high phase that follows.
        m.domains.gate_fall = fall = ClockDomain("gate_fall", clk_edge="neg", reset_less=True, local=True)
        enable_q = Signal(init=1)
        m.d.comb += fall.clk.eq(ClockSignal())
        m.d.gate_fall += enable_q.eq(enable)
        m.d.comb += self.gclk.eq(ClockSignal() & enable_q)
        return m
