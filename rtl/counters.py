# Ref: docs/architecture.md §5 (the tile's saturation and activity counters), D7 (the chip's event counters).
from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from neurophase.model.checks import check_int
from neurophase.model.interface import WORD_BITS
from neurophase.rtl.adder_tree import add_narrow
from neurophase.rtl.params import validating

__all__ = ["EventCounters"]


class EventCounters(wiring.Component):
    """Saturating WORD_BITS-bit event counters, each adding an increment every cycle.

    Behaviour: counter ``name`` adds ``inc.<name>`` (unsigned, its own width) every cycle and stops at
    ``2^WORD_BITS - 1`` (a count that would pass it stays there). ``clear`` zeroes every counter at the end of its
    cycle and drops that cycle's increments, so a cleared counter counts from the cycle after the clear.

    With ``registered`` the increments pass through a register first (the chip's counters: the event logic of many
    tiles then ends in a flop, not in the counter's adder): an increment is counted one cycle after its event, and
    ``clear`` also drops the registered one. Without it (the tile's counters) it is added in its own cycle.

    Latency: a count includes the increments of the cycles up to the previous one (``registered``: up to the one
    before that). Throughput: every cycle.

    Parameters
    ----------
    increments : ``{name: width}``, the counters and the widths of their increments (1..WORD_BITS bits).
    registered : register the increments before adding them.

    Members
    -------
    inc : In(StructLayout({name: unsigned(width)}))
        This cycle's increments.
    clear : In(1)
        Zero every counter.
    count : Out(StructLayout({name: unsigned(WORD_BITS)}))
        The counts.
    """

    def __init__(self, increments, *, registered=False):
        with validating(self):
            increments = dict(increments)
            if not increments or not all(isinstance(name, str) and name.isidentifier() for name in increments):
                raise ValueError(f"increments must map one or more counter names to widths, got {increments!r}")
            for name, width in increments.items():
                check_int(f"width of {name}", width, 1, WORD_BITS)
        self._increments, self._registered = increments, bool(registered)
        super().__init__({
            "inc": In(data.StructLayout({name: unsigned(w) for name, w in increments.items()})),
            "clear": In(1),
            "count": Out(data.StructLayout(dict.fromkeys(increments, unsigned(WORD_BITS)))),
        })

    @property
    def latency(self):
        """Cycles from an event to the count that includes it."""
        return 2 if self._registered else 1

    def elaborate(self, platform):
        m = Module()
        for name, width in self._increments.items():
            count = Signal(WORD_BITS, name=name)
            inc = self.inc[name]
            if self._registered:
                inc_r = Signal(width, name=f"{name}_inc_r")
                with m.If(self.clear):
                    m.d.sync += inc_r.eq(0)
                with m.Else():
                    m.d.sync += inc_r.eq(inc)
                inc = inc_r
            total = Signal(WORD_BITS + 1, name=f"{name}_next")
            m.d.comb += [total.eq(add_narrow(m, count, inc)),      # the carry is the saturation flag
                         self.count[name].eq(count)]
            with m.If(self.clear):
                m.d.sync += count.eq(0)
            with m.Else():
                m.d.sync += count.eq(Mux(total[WORD_BITS], (1 << WORD_BITS) - 1, total[:WORD_BITS]))
        return m
