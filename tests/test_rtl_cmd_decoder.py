"""rtl/cmd_decoder.py: command framing, register strobes, ACT beat assembly, SKIP of a bad command's data words,
ROUTE, and the waits for outstanding MVMs."""

import pytest

from neurophase.model.interface import CHIP_TARGET, Op, header
from neurophase.rtl.cmd_decoder import CommandDecoder
from neurophase.tb.amaranth_sim import simulate

OUTPUTS = ("sel", "addr", "wdata", "tile_we", "tile_re", "chip_we", "chip_re", "read_pending", "read_from_chip",
           "route_base", "route_size", "outstanding", "idle", "words", "acts")
ERRORS = ("bad_opcode", "bad_tile", "bad_value", "bad_route")


def _decoder():
    # 3 tiles of 20 rows, groups of up to 2, 8-bit activations: 4 per word, 8 per beat (2 words).
    return CommandDecoder(tiles=3, rows=20, max_group=2, b_in=8, acts_per_beat=8)


def _run(words, cycles, act_ready=lambda cycle: 1, delivered=lambda cycle: 0):
    """Feed ``words`` (one per cycle while ``cmd.ready``) for ``cycles`` cycles; returns per cycle the outputs,
    the error events, the beat offered (or None) and whether the cycle's word was taken."""
    dut = _decoder()
    trace = []

    async def testbench(ctx):
        taken = 0
        for cycle in range(cycles):
            ctx.set(dut.cmd.valid, taken < len(words))
            ctx.set(dut.cmd.payload, words[taken] if taken < len(words) else 0)
            ctx.set(dut.act.ready, act_ready(cycle))
            ctx.set(dut.delivered, delivered(cycle))
            row = {name: ctx.get(getattr(dut, name)) for name in OUTPUTS}
            row["errors"] = {e for e in ERRORS if ctx.get(dut.error[e])}
            row["beat"] = ctx.get(dut.act.payload) if ctx.get(dut.act.valid) else None
            row["took"] = ctx.get(dut.cmd.valid) and ctx.get(dut.cmd.ready)
            taken += row["took"]
            trace.append(row)
            await ctx.tick()

    simulate(dut, testbench)
    return trace


def _errors(trace):
    return [e for row in trace for e in sorted(row["errors"])]


def test_a_tile_write_strobes_in_its_third_cycle_with_address_and_data():
    trace = _run([header(Op.WRITE, 2, 5), 0xDEADBEEF], 6)
    strobes = [c for c, row in enumerate(trace) if row["tile_we"]]
    assert strobes == [2]
    assert (trace[2]["sel"], trace[2]["addr"], trace[2]["wdata"]) == (2, 5, 0xDEADBEEF)
    assert not any(row["chip_we"] for row in trace) and _errors(trace) == []
    assert [row["words"] for row in trace[:3]] == [1, 1, 0]


def test_act_words_fill_beats_and_the_mvm_is_outstanding_after_its_last_beat():
    words = [header(Op.ACT, 0, 18)] + [0x1111_1111 * (k + 1) for k in range(5)]
    stall = {3, 4, 5}                                  # the tile takes no beat in these cycles
    trace = _run(words, 14, act_ready=lambda c: c not in stall)
    beats = [(c, row["beat"]) for c, row in enumerate(trace) if row["beat"] is not None]
    taken = [b for c, b in beats if c not in stall]
    assert taken == [words[2] << 32 | words[1], words[4] << 32 | words[3], words[4] << 32 | words[5]], \
        "two words per beat, word 0 low; the last beat's spare word is stale"
    assert all(not row["took"] for row in trace[3:6]), "no word is taken while a beat waits"
    assert trace[0]["acts"] == 18
    last = max(c for c, b in beats)
    assert [row["outstanding"] for row in trace[last:last + 2]] == [0, 1]


def test_chip_register_access_and_route_wait_until_no_mvm_is_outstanding():
    words = [header(Op.ACT, 0, 4), 7, header(Op.WRITE, CHIP_TARGET, 3), 9, header(Op.READ, CHIP_TARGET, 3),
             header(Op.ROUTE, 1, 2)]
    trace = _run(words, 24, delivered=lambda c: c == 10)
    chip_we = [c for c, row in enumerate(trace) if row["chip_we"]]
    assert len(chip_we) == 1 and chip_we[0] > 10, "the chip write waits for the outstanding MVM"
    read = [c for c, row in enumerate(trace) if row["chip_re"]]
    assert len(read) == 1 and trace[read[0] + 1]["read_pending"] and trace[read[0] + 1]["read_from_chip"]
    assert (trace[-1]["route_base"], trace[-1]["route_size"]) == (1, 2)
    assert trace[-1]["outstanding"] == 0 and _errors(trace) == []


def test_bad_commands_are_flagged_and_their_data_words_skipped():
    poison = header(Op.WRITE, 0, 1)          # a data word that would be a header if the decoder lost step
    words = [0x7000_0000,                              # unknown opcode
             header(Op.ACT, 5, 8), poison, poison,     # tile past the chip
             header(Op.ACT, 0, 0),                     # no activations (and no data words)
             header(Op.ACT, 0, 21)] + [poison] * 6 + [  # more than the tile's rows
             header(Op.ACT, 1, 4), poison,             # outside the route (tile 0 alone)
             header(Op.ROUTE, 0, 3),                   # larger than max_group
             header(Op.ROUTE, 2, 2),                   # past the last tile
             header(Op.WRITE, 7, 1), poison,           # no tile 7
             header(Op.READ, 7, 1),
             header(Op.WRITE, 1, 4), 0xABC]            # still in step: a good write
    trace = _run(words, 40)
    assert _errors(trace) == ["bad_opcode", "bad_tile", "bad_value", "bad_value", "bad_route", "bad_value",
                              "bad_tile", "bad_tile", "bad_tile"]
    writes = [(row["sel"], row["addr"], row["wdata"]) for row in trace if row["tile_we"]]
    assert writes == [(1, 4, 0xABC)]
    assert not any(row["beat"] is not None for row in trace) and trace[-1]["outstanding"] == 0


def test_command_decoder_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"acts_per_beat must be a multiple of 4 \(activations per command word\), "
                                         r"got 6"):
        CommandDecoder(tiles=2, rows=16, max_group=1, acts_per_beat=6)
