# Ref: docs/architecture.md §5 (chip command interface), D7 (command words).
import enum
from types import SimpleNamespace

from amaranth.hdl import Mux, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from neurophase.model.checks import check_int
from neurophase.model.interface import (ACT_ARG, ACT_COUNT_BITS, CHIP_STATUS, CHIP_TARGET, HEADER, REG_ARG,
                                       ROUTE_ARG, TILE_ADDR_BITS, WORD_BITS, Op, acts_per_word)
from neurophase.rtl.layouts import view
from neurophase.rtl.params import validating
from neurophase.rtl.regfile import reserved_set

__all__ = ["CommandDecoder"]

_TILE_BITS = HEADER.fields["tile"][1]
_OUTSTANDING_BITS = CHIP_STATUS.fields["outstanding"][1]


def _named(m, **values):
    """Each value as a signal of its name: an expression used in several branches would be built once per use, and
    the copies Yosys folds away are left as unused temporaries."""
    signals = [Signal(len(value), name=name) for name, value in values.items()]
    m.d.comb += [signal.eq(value) for signal, value in zip(signals, values.values())]
    return signals


class _S(enum.IntEnum):
    """Decoder states."""
    HEADER = 0
    WDATA = 1
    WRITE = 2
    READ = 3
    READ_DATA = 4
    ACT = 5
    SKIP = 6
    ROUTE = 7


class CommandDecoder(wiring.Component):
    """The chip's command decoder: frames the command words, hands register accesses to the tiles or the chip's
    registers, assembles ACT data words into tile input beats, skips the data words of a bad command, and holds the
    route and the count of outstanding MVMs.

    Behaviour
    ---------
    A header word (:data:`~neurophase.model.interface.HEADER`: ``op``, ``tile``, ``arg``) is taken when no input
    beat is waiting; ``sel`` becomes its tile field and ``addr`` its REG_ARG address. Then, by opcode:

    * NOP: nothing. An unknown opcode: ``error.bad_opcode`` (the word is skipped).
    * WRITE: the next word is ``wdata`` (a tile number past ``tiles``: ``error.bad_tile``, done); then a tile
      write strobes ``tile_we`` at once, a chip write ``chip_we`` once ``settled`` (no MVM outstanding, no beat
      waiting), so the reducer's BN registers never change under an MVM in flight.
    * READ: a bad tile flags ``error.bad_tile``; else once settled ``tile_re`` or ``chip_re``, and in the next cycle
      ``read_pending`` (the register's value is on the read data; ``read_from_chip`` says whose).
    * ACT (ACT_ARG ``count`` activations): a bad tile (``error.bad_tile``), a count outside 1..rows or reserved bits
      set (``error.bad_value``), or a tile outside the route (``error.bad_route``: its outputs could never leave)
      skips the command's ``ceil(count / acts_per_word)`` data words. Otherwise the words fill the beat
      (``acts_per_beat / acts_per_word`` words each, word 0 in the low bits) and each full (or the last) beat is
      offered on ``act`` to tile ``sel``; the decoder waits while a beat is offered. The MVM is outstanding from
      the cycle after its last beat is taken until ``delivered`` counts it (``acts`` is the count, in the header's
      cycle).
    * ROUTE (ROUTE_ARG ``size`` tiles from ``tile``): a size outside 1..max_group or reserved bits set
      (``error.bad_value``), or a group past the last tile (``error.bad_tile``), is rejected; otherwise once
      settled ``route_base`` and ``route_size`` take the new group.

    ``idle`` is high in a header cycle with no word and no beat waiting; ``words`` counts every word taken.

    Latency: a WRITE takes 3 cycles (header, data word, the write), a READ 2 plus the wait, a ROUTE 2 plus the wait;
    an ACT of K activations 1 + ceil(K / acts_per_word) cycles plus one per beat handed over. Throughput: one
    command word per cycle.

    Parameters
    ----------
    tiles : tiles of the chip (1..CHIP_TARGET - 1).
    rows : largest ACT count (a tile's rows; 1..2^ACT_COUNT_BITS - 1).
    max_group : largest ROUTE size (1..tiles).
    b_in : activation bits (acts_per_word = WORD_BITS // b_in activations per data word).
    acts_per_beat : activations per tile input beat (a multiple of acts_per_word).

    Members
    -------
    cmd : In(stream.Signature(WORD_BITS))
        Command words.
    act : Out(stream.Signature(acts_per_beat * b_in))
        The assembled input beat, for tile ``sel`` (``ready``: that tile's).
    sel : Out(tile field); addr : Out(TILE_ADDR_BITS); wdata : Out(WORD_BITS)
        Target, register address and data of the current command.
    tile_we, tile_re, chip_we, chip_re : Out(1)
        Register strobes (the tile strobes for tile ``sel``).
    read_pending, read_from_chip : Out(1)
        The register read's data is ready this cycle, from the chip's registers (else tile ``sel``'s).
    route_base, route_size : Out(8)
        The route (reset: tile 0 alone).
    outstanding : Out(16); delivered : In(17)
        MVMs whose inputs were taken and outputs not yet delivered; the MVMs delivered this cycle.
    idle : Out(1); words : Out(1); acts : Out(ACT_COUNT_BITS)
        No command work this cycle; a word was taken; activations of an ACT accepted this cycle.
    error : Out(StructLayout({bad_opcode, bad_tile, bad_value, bad_route: 1}))
        Command errors this cycle.
    """

    def __init__(self, *, tiles, rows, max_group, b_in=8, acts_per_beat=16):
        with validating(self):
            self._tiles = check_int("tiles", tiles, 1, CHIP_TARGET - 1)
            self._rows = check_int("rows", rows, 1, (1 << ACT_COUNT_BITS) - 1)
            self._max_group = check_int("max_group", max_group, 1, tiles)
            self._apw = acts_per_word(b_in)
            if acts_per_beat % self._apw or acts_per_beat < 1:
                raise ValueError(f"acts_per_beat must be a multiple of {self._apw} (activations per command word), "
                                 f"got {acts_per_beat}")
        self._wpb = acts_per_beat // self._apw
        route_bits = CHIP_STATUS.fields["route_base"][1]
        super().__init__({
            "cmd": In(stream.Signature(WORD_BITS)),
            "act": Out(stream.Signature(acts_per_beat * b_in)),
            "sel": Out(_TILE_BITS),
            "addr": Out(TILE_ADDR_BITS),
            "wdata": Out(WORD_BITS),
            "tile_we": Out(1), "tile_re": Out(1), "chip_we": Out(1), "chip_re": Out(1),
            "read_pending": Out(1),
            "read_from_chip": Out(1),
            "route_base": Out(route_bits),
            "route_size": Out(route_bits, init=1),
            "outstanding": Out(_OUTSTANDING_BITS),
            # As wide as the counter's arithmetic (lint: operands of one width); at most max_group.
            "delivered": In(_OUTSTANDING_BITS + 1),
            "idle": Out(1),
            "words": Out(1),
            "acts": Out(ACT_COUNT_BITS),
            "error": Out(data.StructLayout({"bad_opcode": 1, "bad_tile": 1, "bad_value": 1, "bad_route": 1})),
        })

    def _outstanding(self, m, inc):
        """The outstanding MVMs: one more in a cycle with ``inc``, ``delivered`` fewer."""
        out_plus = Signal(_OUTSTANDING_BITS + 1)               # as wide as `delivered`: equal-width operands
        m.d.comb += out_plus.eq(self.outstanding + inc)
        m.d.sync += self.outstanding.eq(out_plus - self.delivered)

    def _header(self, m, state, f):
        """A header word's decode and checks (``f``: its named fields and checks)."""
        err = self.error
        m.d.sync += [self.sel.eq(f.tile), self.addr.eq(f.addr)]
        with m.If(f.op == Op.NOP):
            pass
        with m.Elif(f.op == Op.WRITE):
            m.d.sync += state.eq(_S.WDATA)
        with m.Elif(f.op == Op.READ):
            m.d.sync += state.eq(_S.READ)
        with m.Elif(f.op == Op.ACT):
            m.d.sync += [f.left.eq(f.n_words), f.slot.eq(0)]
            with m.If(~f.tile_ok):
                m.d.comb += err.bad_tile.eq(1)
            with m.Elif(~f.legal_count):
                m.d.comb += err.bad_value.eq(1)
            with m.Elif(~f.routed):
                m.d.comb += err.bad_route.eq(1)
            with m.If(f.tile_ok & f.legal_count & f.routed):
                m.d.comb += self.acts.eq(f.count)
                m.d.sync += state.eq(_S.ACT)
            with m.Elif(f.has_words):
                m.d.sync += state.eq(_S.SKIP)
        with m.Elif(f.op == Op.ROUTE):
            with m.If(~f.legal_size):
                m.d.comb += err.bad_value.eq(1)
            with m.Elif(f.new_end > self._tiles):
                m.d.comb += err.bad_tile.eq(1)
            with m.Else():
                m.d.sync += [f.new_size.eq(f.size), state.eq(_S.ROUTE)]
        with m.Else():
            m.d.comb += err.bad_opcode.eq(1)

    def _fields(self, m):
        """The header word's fields and the checks of an ACT or ROUTE header, as named signals."""
        word = self.cmd.payload
        hdr = view(HEADER, word)
        op, tile, addr = _named(m, op=hdr.op, tile=hdr.tile, addr=view(REG_ARG, hdr.arg).address)
        count, size = _named(m, count=view(ACT_ARG, hdr.arg).count, size=view(ROUTE_ARG, hdr.arg).size)
        new_end, offset = Signal(_TILE_BITS + 1, name="new_end"), Signal(_TILE_BITS, name="offset")
        m.d.comb += [new_end.eq(tile + size), offset.eq(tile - self.route_base)]
        n_words = Signal(ACT_COUNT_BITS, name="n_words")
        m.d.comb += n_words.eq((count + self._apw - 1) >> ceil_log2(self._apw))
        legal_count, tile_ok, routed, has_words, legal_size = _named(
            m, legal_count=count.any() & (count <= self._rows) & ~reserved_set(hdr.arg, ACT_ARG),
            tile_ok=tile < self._tiles, routed=(tile >= self.route_base) & (offset < self.route_size),
            has_words=n_words.any(),
            legal_size=size.any() & (size <= self._max_group) & ~reserved_set(hdr.arg, ROUTE_ARG))
        return dict(op=op, tile=tile, addr=addr, count=count, size=size, new_end=new_end, n_words=n_words,
                    legal_count=legal_count, tile_ok=tile_ok, routed=routed, has_words=has_words,
                    legal_size=legal_size)

    def elaborate(self, platform):
        m = Module()
        cmd, word, act = self.cmd, self.cmd.payload, self.act
        state = Signal(_S)
        f = SimpleNamespace(**self._fields(m), left=Signal(ACT_COUNT_BITS, name="left"),
                            slot=Signal(range(self._wpb), name="slot"),
                            new_size=Signal.like(self.route_size, name="new_size"))
        beat_last = Signal()
        to_chip, bad_tile, settled = _named(
            m, to_chip=self.sel == CHIP_TARGET, bad_tile=(self.sel >= self._tiles) & (self.sel != CHIP_TARGET),
            settled=(self.outstanding == 0) & ~act.valid)
        m.d.comb += self.words.eq(cmd.valid & cmd.ready)
        self._outstanding(m, act.valid & act.ready & beat_last)
        with m.If(act.valid & act.ready):
            m.d.sync += act.valid.eq(0)

        with m.If(state == _S.HEADER):
            m.d.comb += [cmd.ready.eq(~act.valid), self.idle.eq(~act.valid & ~cmd.valid)]
            with m.If(cmd.valid & ~act.valid):
                self._header(m, state, f)
        with m.Elif(state == _S.WDATA):
            m.d.comb += cmd.ready.eq(1)
            with m.If(cmd.valid):
                m.d.sync += [self.wdata.eq(word), state.eq(Mux(bad_tile, _S.HEADER, _S.WRITE))]
                m.d.comb += self.error.bad_tile.eq(bad_tile)
        with m.Elif(state == _S.WRITE):
            with m.If(~to_chip | settled):
                m.d.comb += [self.tile_we.eq(~to_chip), self.chip_we.eq(to_chip)]
                m.d.sync += state.eq(_S.HEADER)
        with m.Elif(state == _S.READ):
            with m.If(bad_tile):
                m.d.comb += self.error.bad_tile.eq(1)
                m.d.sync += state.eq(_S.HEADER)
            with m.Elif(settled):
                m.d.comb += [self.tile_re.eq(~to_chip), self.chip_re.eq(to_chip)]
                m.d.sync += [self.read_from_chip.eq(to_chip), state.eq(_S.READ_DATA)]
        with m.Elif(state == _S.READ_DATA):
            m.d.comb += self.read_pending.eq(1)
            m.d.sync += state.eq(_S.HEADER)
        with m.Elif(state == _S.ACT):
            m.d.comb += cmd.ready.eq(~act.valid)
            with m.If(cmd.valid & ~act.valid):
                for s in range(self._wpb):
                    with m.If(f.slot == s):
                        m.d.sync += act.payload[s * WORD_BITS:(s + 1) * WORD_BITS].eq(word)
                m.d.sync += [f.left.eq(f.left - 1), f.slot.eq(Mux(f.slot == self._wpb - 1, 0, f.slot + 1))]
                with m.If((f.slot == self._wpb - 1) | (f.left == 1)):
                    m.d.sync += [act.valid.eq(1), beat_last.eq(f.left == 1)]
                with m.If(f.left == 1):
                    m.d.sync += state.eq(_S.HEADER)
        with m.Elif(state == _S.SKIP):
            m.d.comb += cmd.ready.eq(1)
            with m.If(cmd.valid):
                m.d.sync += f.left.eq(f.left - 1)
                with m.If(f.left == 1):
                    m.d.sync += state.eq(_S.HEADER)
        with m.Else():                          # _S.ROUTE, the last of the 3-bit state's 8 values
            with m.If(settled):
                m.d.sync += [self.route_base.eq(self.sel), self.route_size.eq(f.new_size), state.eq(_S.HEADER)]
        return m
