# Ref: docs/architecture.md §5 and D7 (command words, errors skip the bad command's data words).
"""Formal properties of rtl/cmd_decoder.py: after any sequence of words, legal or not, the decoder stays in step with
the command framing; every READ yields exactly one response word; an illegal command raises exactly its error bit
and changes no register. A reference framing model beside the decoder says which word is a header and what each
command should do."""

from amaranth.hdl import Assume, Cat, Elaboratable, Module, Mux, Signal

from neurophase.formal.probe import free, open_block
from neurophase.formal.sby import Mutant, Proof, Properties
from neurophase.model.interface import ACT_ARG, CHIP_TARGET, HEADER, ROUTE_ARG, Op, acts_per_word
from neurophase.rtl.cmd_decoder import CommandDecoder, _S
from neurophase.rtl.layouts import view
from neurophase.rtl.regfile import reserved_set

__all__ = ["FormalCommandDecoder", "PROOFS", "MUTANTS"]

TILES, ROWS, MAX_GROUP, B_IN, ACTS_PER_BEAT = 3, 8, 2, 8, 8
_ERRORS = ("bad_opcode", "bad_tile", "bad_value", "bad_route")


def expected_error(word, route_base, route_size):
    """The error bits (bad_opcode, bad_tile, bad_value, bad_route) D7 gives the command whose header is ``word``,
    with the route in force: an unknown opcode; a WRITE or READ of a tile past the chip (not CHIP_TARGET); an ACT to a
    tile past the chip, else of a count outside 1..rows or with reserved bits set, else to a tile outside the route;
    a ROUTE of a size outside 1..max_group or with reserved bits set, else past the last tile."""
    hdr = view(HEADER, word)
    op, tile = hdr.op, hdr.tile
    count, size = view(ACT_ARG, hdr.arg).count, view(ROUTE_ARG, hdr.arg).size
    reg_bad_tile = (tile >= TILES) & (tile != CHIP_TARGET)
    act_tile, act_count = tile >= TILES, (count == 0) | (count > ROWS) | reserved_set(hdr.arg, ACT_ARG)
    act_route = (tile < route_base) | (tile >= route_base + route_size)
    route_size_bad = (size == 0) | (size > MAX_GROUP) | reserved_set(hdr.arg, ROUTE_ARG)
    is_ = {o: op == o for o in Op}
    return Cat(op > max(Op),                                                        # bad_opcode
               ((is_[Op.WRITE] | is_[Op.READ]) & reg_bad_tile) | (is_[Op.ACT] & act_tile) |
               (is_[Op.ROUTE] & ~route_size_bad & (tile + size > TILES)),          # bad_tile
               (is_[Op.ACT] & ~act_tile & act_count) | (is_[Op.ROUTE] & route_size_bad),   # bad_value
               is_[Op.ACT] & ~act_tile & ~act_count & act_route)                   # bad_route


def data_words(word):
    """The data words that follow header ``word``, legal or not: one for a WRITE, ceil(count / acts_per_word) for an
    ACT (a bad ACT's words are skipped), none otherwise."""
    hdr = view(HEADER, word)
    apw = acts_per_word(B_IN)
    act_words = (view(ACT_ARG, hdr.arg).count + apw - 1) // apw
    return Mux(hdr.op == Op.WRITE, 1, Mux(hdr.op == Op.ACT, act_words, 0))


class FormalCommandDecoder(Elaboratable):
    """CommandDecoder(tiles=3, rows=8, max_group=2, two words per beat) with free command words, tile ready, MVM
    deliveries (never more than are outstanding) and reset, beside the reference framing."""

    def __init__(self, mutant=None):
        self.mutant = mutant

    def elaborate(self, platform):
        m = Module()
        self.props = props = Properties(m, invariants=self.mutant is None)
        dut = CommandDecoder(tiles=TILES, rows=ROWS, max_group=MAX_GROUP, b_in=B_IN, acts_per_beat=ACTS_PER_BEAT)
        blk = open_block(dut, platform)
        if self.mutant:
            MUTANTS[self.mutant].apply(blk, dut)
        m.submodules.dut = blk.module
        free(m, dut.cmd.valid, dut.cmd.payload, dut.act.ready, dut.delivered)
        m.d.comb += Assume(dut.delivered <= dut.outstanding)
        word = dut.cmd.payload
        taken = dut.cmd.valid & dut.cmd.ready
        left = Signal(len(data_words(word)), name="ref_left")        # data words still to come (reference)
        header = Signal(name="ref_header")
        m.d.comb += header.eq(taken & (left == 0))
        with m.If(taken):
            m.d.sync += left.eq(Mux(left == 0, data_words(word), left - 1))
        # Framing: a word is taken as a header exactly when the reference framing says it is one.
        with m.If(taken):
            props.check("in_step", (blk["state"] == _S.HEADER) == (left == 0))
        due = self._reads(m, props, dut, word, header)
        expect, seen = self._errors(m, props, dut, word, header)
        self._invariants(props, blk, dut, left, due, expect, seen)
        return m

    @staticmethod
    def _invariants(props, blk, dut, left, due, expect, seen):
        """The strengthening invariant that makes the properties inductive: in each decoder state, the reference's
        data-word count, READ and error bookkeeping agree with the decoder's own registers."""
        state = blk["state"]
        at = {s: state == s for s in _S}
        sel_bad = (dut.sel >= TILES) & (dut.sel != CHIP_TARGET)
        bad_tile = Cat(0, 1, 0, 0)
        quiet = (expect == 0) & (seen == 0)
        props.check("bookkeeping", Cat(
            ~at[_S.HEADER] | ((left == 0) & (seen == expect) & ~due),
            ~at[_S.WDATA] | ((left == 1) & (expect == Mux(sel_bad, bad_tile, 0)) & (seen == 0) & ~due),
            ~at[_S.WRITE] | ((left == 0) & quiet & ~due),
            ~at[_S.READ] | ((left == 0) & (expect == Mux(sel_bad, bad_tile, 0)) & (seen == 0) & (due == ~sel_bad)),
            ~at[_S.READ_DATA] | ((left == 0) & quiet & due),
            ~at[_S.ACT] | ((left == blk["left"]) & (left != 0) & quiet & ~due),
            ~at[_S.SKIP] | ((left == blk["left"]) & (left != 0) & (expect != 0) & (seen == expect) & ~due),
            ~at[_S.ROUTE] | ((left == 0) & quiet & ~due),
            ~dut.act.valid | at[_S.HEADER] | at[_S.ACT]).all(), invariant=True)

    @staticmethod
    def _reads(m, props, dut, word, header):
        hdr = view(HEADER, word)
        due = Signal(name="ref_read_due")      # a READ of a mapped target has not had its response yet
        with m.If(header & (hdr.op == Op.READ) & ((hdr.tile < TILES) | (hdr.tile == CHIP_TARGET))):
            m.d.sync += due.eq(1)
        with m.Elif(dut.read_pending):
            m.d.sync += due.eq(0)
        # Every READ of a mapped target yields exactly one response word, before the next command's header.
        props.check("one_response", (~dut.read_pending | due) & (~header | ~due))
        return due

    @staticmethod
    def _errors(m, props, dut, word, header):
        expect, seen = Signal(4, name="ref_expect"), Signal(4, name="ref_seen")
        error = Cat(dut.error[name] for name in _ERRORS)
        expect_now = Mux(header, expected_error(word, dut.route_base, dut.route_size), expect)
        seen_now = Mux(header, 0, seen) | error
        m.d.sync += [expect.eq(expect_now), seen.eq(seen_now)]
        # An error bit is raised only for a command that D7 says has that error ...
        props.check("no_false_error", (error & ~expect_now) == 0)
        # ... and an illegal command raises its error bit before the next command's header.
        with m.If(header):
            props.check("error_raised", seen == expect)
        # An illegal command changes no register: no register strobe, no activations, no route change.
        route = Cat(dut.route_base, dut.route_size)
        route_q, illegal_q = Signal.like(route, name="ref_route_q"), Signal(name="ref_illegal_q")
        m.d.sync += [route_q.eq(route), illegal_q.eq(expect_now.any())]
        with m.If(expect_now.any()):
            props.check("no_effect", ~(dut.tile_we | dut.chip_we | dut.tile_re | dut.chip_re | dut.act.valid |
                                       dut.acts.any()))
        with m.If(illegal_q):
            props.check("no_effect", route == route_q)
        return expect, seen


def _skip_short(blk, dut):
    """Skipping a bad ACT's data words ends one word early: its last data word is taken as a header."""
    with blk.module.If((blk["state"] == _S.SKIP) & dut.cmd.valid & (blk["left"] == 2)):
        blk.module.d.sync += blk["state"].eq(_S.HEADER)


def _double_read(blk, dut):
    """A READ's response is also signalled in the cycle its register is read: two response words."""
    with blk.module.If(dut.tile_re | dut.chip_re):
        blk.module.d.comb += dut.read_pending.eq(1)


def _bad_tile_write(blk, dut):
    """A WRITE to a tile past the chip goes on to write (tile_we) after flagging it."""
    with blk.module.If((blk["state"] == _S.WDATA) & dut.cmd.valid & blk["bad_tile"]):
        blk.module.d.sync += blk["state"].eq(_S.WRITE)


def _route_unchecked(blk, dut):
    """An ACT to a tile outside the route is not flagged."""
    blk.module.d.comb += dut.error.bad_route.eq(0)


PROOFS = [Proof("cmd_decoder", FormalCommandDecoder, {
    "in_step": "after any sequence of words, legal or not, a word is taken as a header exactly when the command "
               "framing (D7) says it is one: the decoder stays in step",
    "one_response": "every READ of a mapped target yields exactly one response word, before the next header",
    "no_false_error": "an error bit is raised only for a command that D7 says has that error",
    "error_raised": "an illegal command raises its error bit before the next command's header",
    "no_effect": "an illegal command changes no register: no register strobe, no activations, no route change",
    "bookkeeping": "(strengthening invariant) in each decoder state the reference's data-word count, READ and error "
                   "bookkeeping agree with the decoder's registers"},
    mode="prove", depth=3, why="with the bookkeeping invariant, induction closes at k = 3")]

MUTANTS = {m.name: m for m in [
    Mutant("skip_short", "cmd_decoder", _skip_short.__doc__, ("in_step", "no_false_error"), _skip_short, depth=8),
    Mutant("double_read", "cmd_decoder", _double_read.__doc__, ("one_response",), _double_read, depth=6),
    Mutant("bad_tile_write", "cmd_decoder", _bad_tile_write.__doc__, ("no_effect",), _bad_tile_write, depth=6),
    Mutant("route_unchecked", "cmd_decoder", _route_unchecked.__doc__, ("error_raised",), _route_unchecked,
           depth=6)]}
