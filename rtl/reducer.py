# Ref: docs/architecture.md §4 step 4 (partial sums before BN), §5 (chip top), D7 (ROUTE).
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int, signed_range
from neurophase.model.interface import CHIP_STATUS, WORD_BITS
from neurophase.rtl.bn_unit import BnUnit
from neurophase.rtl.mux import one_hot_select
from neurophase.rtl.params import validating
from neurophase.rtl.tile_ctrl import TileController

__all__ = ["Reducer"]

_ROUTE_BITS = CHIP_STATUS.fields["route_base"][1]


class Reducer(wiring.Component):
    """The chip's output routing: the routed tile's output beats pass through, a reduction group's partial sums are
    added and go through the reducer's own BN unit.

    Behaviour
    ---------
    The route is tiles ``route_base`` .. ``route_base + route_size - 1``; slot g is tile ``route_base + g``. A beat
    is *taken* when every slot's tile offers one, ``enable`` is high (MVMs are outstanding and no register read is
    on its way out) and the response FIFO has room for it and every beat still in the BN pipeline (credits:
    ``fifo_level`` + beats in the pipeline + 1 < ``fifo_depth``); the slots' tiles see ``ready`` together.

    * One tile (``route_size`` = 1): the beat's data goes out as it is (``o_valid`` in the cycle it is taken); the
      tile's ``done`` in that cycle delivers its MVM (``delivered`` = 1).
    * A group: the slots' accumulators are added in tile order, saturating to signed ``acc_bits`` after every add
      (model/arith.py ``reduce_partial_sums``), and enter the BN unit, whose result goes out ``bn_latency`` cycles
      later; the group's last beat delivers its ``route_size`` MVMs. Slots whose beats disagree in channel or
      ``last`` flag raise ``mismatch``.

    Widths and saturation (docs/architecture.md D4, D16): ``max_group - 1`` adders in a chain, each ``acc_bits + 1``
    bits wide (exact for two ``acc_bits`` operands) and clamped back to signed ``acc_bits`` (20 bits: -2^19 ..
    2^19 - 1) before the next slot is added, so no width grows with the group: a group of 18 tiles (ResNet-50's
    4,608-row layers) needs no more bits than a group of 2, and a running sum past the accumulator's range saturates
    there, at the add where it leaves it (later partial sums of the other sign then start from the rail, as in
    model/arith.py). The BN unit takes the clamped sum as it takes a tile's accumulator. Route fields, ``beats`` and
    ``psum_adds`` are 8 bits (groups up to 254 tiles).

    Event outputs for the chip's counters: ``beats`` (tile beats taken), ``psum_adds`` (partial-sum additions),
    ``sat_bn`` (a BN result clamped). The BN unit's parameters and configuration come in on ``bn``.

    Latency: a passed-through beat is on ``o_data`` in the cycle it is taken; a reduced one ``BnUnit.latency``
    cycles later. Throughput: one beat per cycle.

    Parameters
    ----------
    tiles : tiles of the chip (1..254).
    columns : columns per tile (1..256); the BN unit has ``2^ceil(log2(columns))`` channels.
    fmt : :class:`neurophase.model.arith.PeripheryFormat`.
    max_group : largest route (1..tiles).
    fifo_depth : depth of the response FIFO the outputs are written to (2..1024).

    Members
    -------
    tiles : In(stream.Signature(tile output layout)).array(tiles)
        Every tile's output stream (:meth:`TileController.output_layout`).
    tile_done : In(tiles)
        Every tile's ``done``.
    route_base, route_size : In(8)
        The route.
    enable : In(1)
        Beats may be taken.
    fifo_level : In(range(fifo_depth + 1))
        Words in the response FIFO.
    o_valid : Out(1); o_data : Out(WORD_BITS)
        An output word (sign-extended) for the response FIFO.
    delivered : Out(17)
        Tile MVMs whose outputs were all delivered this cycle (0..max_group).
    beats, psum_adds : Out(8); sat_bn, mismatch : Out(1)
        Events this cycle.
    bn : Out(BnUnit.config_signature_for(...))
        The BN unit's parameter and configuration inputs.
    """

    def __init__(self, *, tiles, columns=128, fmt=PeripheryFormat(), max_group=4, fifo_depth=8):
        with validating(self):
            self._tiles = check_int("tiles", tiles, 1, 254)
            check_int("columns", columns, 1, 256)
            self._max_group = check_int("max_group", max_group, 1, tiles)
            self._fifo_depth = check_int("fifo_depth", fifo_depth, 2, 1024)
            self._bn = BnUnit(channels=1 << ceil_log2(columns), fmt=fmt)
        self._fmt = fmt
        super().__init__({
            "tiles": In(stream.Signature(TileController.output_layout(columns, fmt))).array(tiles),
            "tile_done": In(tiles),
            "route_base": In(_ROUTE_BITS),
            "route_size": In(_ROUTE_BITS),
            "enable": In(1),
            "fifo_level": In(range(fifo_depth + 1)),
            "o_valid": Out(1),
            "o_data": Out(WORD_BITS),
            # As wide as the decoder's outstanding-MVM arithmetic (lint: operands of one width).
            "delivered": Out(CHIP_STATUS.fields["outstanding"][1] + 1),
            "beats": Out(_ROUTE_BITS),
            "psum_adds": Out(_ROUTE_BITS),
            "sat_bn": Out(1),
            "mismatch": Out(1),
            "bn": Out(BnUnit.config_signature_for(1 << ceil_log2(columns), fmt)),
        })

    def _slots(self, m):
        """Per route slot, the tile's output beat (valid, data, channel, last), and whether the slot is in use."""
        tiles, slots, in_use = self.tiles, [], []
        for g in range(self._max_group):
            # hit[k]: tile k is slot g of the route
            hit = [Signal(name=f"slot{g}_tile{k}") for k in range(self._tiles)]
            m.d.comb += [h.eq(self.route_base + g == k) for k, h in enumerate(hit)]
            slots.append(dict(
                valid=one_hot_select(m, f"slot{g}_valid", [t.valid for t in tiles], hit),
                data=one_hot_select(m, f"slot{g}_data", [t.payload.data for t in tiles], hit).as_signed(),
                channel=one_hot_select(m, f"slot{g}_channel", [t.payload.channel for t in tiles], hit),
                last=one_hot_select(m, f"slot{g}_last", [t.payload.last for t in tiles], hit),
                hit=hit))
            in_use.append(self.route_size > g)
        return slots, in_use

    def _partial_sum(self, m, slots, in_use):
        """The slots' accumulators added in tile order, saturating after each add (model/arith.py
        reduce_partial_sums)."""
        bits = self._fmt.acc_bits
        lo, hi = signed_range(bits)
        total = slots[0]["data"][:bits].as_signed()
        for g in range(1, self._max_group):
            s = Signal(signed(bits + 1), name=f"psum{g}")
            m.d.comb += s.eq(total + slots[g]["data"][:bits].as_signed())
            sat = Signal(signed(bits), name=f"psum{g}_sat")
            m.d.comb += sat.eq(Mux(s > hi, hi, Mux(s < lo, lo, s)))
            total = Mux(in_use[g], sat, total)
        return total

    def elaborate(self, platform):
        m = Module()
        m.submodules.bn = bn = self._bn
        m.d.comb += [getattr(bn, name).eq(getattr(self.bn, name)) for name in self.bn.signature.members]
        slots, in_use = self._slots(m)
        head = slots[0]
        take, direct, issue = Signal(), Signal(), Signal()
        for k, t in enumerate(self.tiles):
            m.d.comb += t.ready.eq(take & Cat(s["hit"][k] & ok for s, ok in zip(slots, in_use)).any())

        # Credits: a beat is taken only when the FIFO has room for it and every beat in the BN pipeline.
        inflight = Signal(range(self._fifo_depth + 1))
        pipe_last = Signal(bn.latency)             # the `last` flags of the beats in the BN pipeline
        reduce = self.route_size > 1
        all_valid = Cat(~ok | s["valid"] for ok, s in zip(in_use, slots)).all()
        m.d.comb += [take.eq(all_valid & (self.fifo_level + inflight + 1 < self._fifo_depth) & self.enable),
                     issue.eq(take & reduce), direct.eq(take & ~reduce),
                     bn.i_valid.eq(issue), bn.i_channel.eq(head["channel"]),
                     bn.i_acc.eq(self._partial_sum(m, slots, in_use))]
        m.d.sync += [inflight.eq(Mux(issue & ~bn.o_valid, inflight + 1,
                                     Mux(bn.o_valid & ~issue, inflight - 1, inflight))),
                     pipe_last.eq(Cat(issue & head["last"], pipe_last[:-1]))]
        if self._max_group > 1:
            agree = Cat(~ok | ((s["channel"] == head["channel"]) & (s["last"] == head["last"]))
                        for ok, s in zip(in_use[1:], slots[1:])).all()
            m.d.comb += self.mismatch.eq(issue & ~agree)

        with m.If(direct):
            m.d.comb += [self.o_valid.eq(1), self.o_data.eq(head["data"])]
            # The routed tile's own done pulse (its last beat accepted) ends the MVM.
            with m.If(self.tile_done.any()):
                m.d.comb += self.delivered.eq(1)
        with m.Elif(bn.o_valid):
            m.d.comb += [self.o_valid.eq(1), self.o_data.eq(bn.o_y), self.sat_bn.eq(bn.o_saturated)]
            with m.If(pipe_last[-1]):
                m.d.comb += self.delivered.eq(self.route_size)
        size_m1 = Signal.like(self.route_size)
        m.d.comb += [size_m1.eq(self.route_size - 1), self.beats.eq(Mux(take, self.route_size, 0)),
                     self.psum_adds.eq(Mux(issue, size_m1, 0))]
        return m
