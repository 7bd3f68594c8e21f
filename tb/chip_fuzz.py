"""Command storms for the chip: random streams of legal and illegal command words, cut into segments at random word
positions, one of them between a WRITE's header and its data word (so commands are truncated and finished by the next
segment), that the golden executor can answer word for word.

Ref: docs/architecture.md D7 (commands and their errors). :func:`command_storm` draws, from one seed, commands of the
kinds in :data:`KINDS`: bad opcodes; WRITEs and READs past the last tile; READs of every register the executor models
(unmapped ones included); tile and chip register WRITEs of legal and illegal values to every address (read-only and
unmapped ones included, CTRL.START in AUTOSTART mode); configuration writes to a tile right after its ACT (written
while busy); ACTs to bad tiles, of bad counts and outside the route; ROUTEs of bad sizes and past the last tile;
legal ROUTEs to one tile and legal ACTs of random activations to it. The storm opens by giving each mapped tile an
input encoding for the whole storm (MODE writes: bit-serial or PWM, at least one tile PWM), so MVMs of both encodings
are checked, and ends by reading back the chip's and every tile's ERRORS.

It stays inside what the chip promises to survive: every tile keeps AUTOSTART (a START without an ACT, or an ACT that
never starts, would leave MVMs outstanding forever), an ACT's count is its tile's ROWS_USED (the chip does not check
it against ROWS_USED), ROWS_USED keeps its value, COLS_USED stays within the tile's mapped columns, a legal MODE write
keeps the tile's encoding of the storm (the golden executor runs a tile's MVMs of a segment as one batch of one
encoding, and the storm's segment cuts fall anywhere), and a tile register
is written while the tile is busy only right after an ACT to it, as the next command or after other such writes (when
it is certainly busy: its reads take longer than a few commands). Later, whether the MVM has finished depends on
timing: the golden executor counts a tile busy until the chip settles, the chip until the MVM's last beat leaves.
"""

from dataclasses import dataclass, field

import numpy as np

from neurophase.model.host import Segment
from neurophase.model.interface import (ACT_ARG, BN_CTRL, CHIP_TARGET, RED_BN_REGS, TILE_CONFIG, TILE_MODE, ChipCtrl,
                                        ChipReg, InputEncoding, Op, TileCtrl, TileReg, act_words, header,
                                        pack_activations)

__all__ = ["KINDS", "StormShadow", "command_storm", "run_fuzz"]

KINDS = ("nop", "bad_opcode", "bad_tile", "read", "tile_write", "busy_write", "chip_write", "bad_act", "bad_route",
         "route", "act")
_WEIGHTS = dict(nop=2, bad_opcode=3, bad_tile=3, read=6, tile_write=8, busy_write=2, chip_write=5, bad_act=3,
                bad_route=3, route=2, act=4)
# The kinds whose commands end with a WRITE header and its data word (a bad tile's WRITE too; its READ is one word).
_WRITES = ("tile_write", "busy_write", "chip_write", "bad_tile")
# The tile registers whose reads the golden executor models (the others count events that depend on timing).
_TILE_READS = [TileReg.ID, TileReg.GEOMETRY, TileReg.CTRL, TileReg.STATUS, TileReg.ERRORS, TileReg.ROWS_USED,
               TileReg.COLS_USED, TileReg.BN_CTRL, TileReg.MODE, TileReg.ADC_RANGE, TileReg.BN_CHANNEL,
               TileReg.BN_SCALE, TileReg.BN_BIAS, TileReg.MVM_COUNT, *range(0x14, 0x20)]
_CHIP_READS = [ChipReg.ID, ChipReg.CONFIG, ChipReg.ERRORS, ChipReg.STATUS, *RED_BN_REGS, ChipReg.CTRL,
               *range(0x11, 0x20)]


@dataclass
class StormShadow:
    """What the storm keeps track of to stay inside the chip's promises: the chip's geometry, each mapped tile's
    ROWS_USED and mapped columns, the route, the tiles with MVMs since the chip last settled, the tile whose ACT
    was the last command but busy writes (``acted``: certainly busy), and each mapped tile's input encoding in this
    storm (:func:`command_storm` draws them)."""
    tiles: int
    rows: int
    columns: int
    max_group: int
    b_in: int
    rows_used: dict
    mapped_columns: dict
    route: tuple
    busy: set = field(default_factory=set)
    acted: int = None
    encodings: dict = field(default_factory=dict)


def _word(rng, bits=32):
    return int(rng.integers(0, 1 << bits))


def _rand_value(rng, reg, sh, tile):
    """A value for tile register ``reg``: legal or not, never one that breaks the storm's promises."""
    legal = rng.random() < 0.5
    if reg == TileReg.ROWS_USED:
        return sh.rows_used[tile] if legal else int(rng.choice([0, sh.rows + 1, _word(rng)]))
    if reg == TileReg.COLS_USED:
        return int(rng.integers(1, sh.mapped_columns[tile] + 1)) if legal else int(rng.choice([0, sh.columns + 1]))
    if reg == TileReg.MODE:
        return TILE_MODE.encode(raw=int(rng.integers(2)), autostart=1, encoding=int(sh.encodings[tile])) if legal \
            else int(rng.choice([1 << 4, 3 << 2 | 2, 1 << 31]))
    if reg == TileReg.CTRL:
        flags = [TileCtrl.START, TileCtrl.CLEAR_ERRORS, TileCtrl.CLEAR_COUNTERS]
        return int(rng.choice(flags)) | (int(rng.choice(flags)) if rng.random() < 0.3 else 0) if legal else \
            (1 << int(rng.integers(3, 32)))
    if reg == TileReg.BN_CTRL:
        # Shift 0 (no rounding) one time in four, so that the seeds reach it.
        shift = 0 if rng.random() < 0.25 else int(rng.integers(1, 32))
        return BN_CTRL.encode(shift=shift, relu=int(rng.integers(2)), last=int(rng.integers(2))) if legal else \
            int(rng.choice([63, 1 << 12]))
    if reg == TileReg.BN_CHANNEL:       # the last channel one time in four: the next BIAS write wraps it to 0
        last = rng.random() < 0.25
        return (sh.columns - 1 if last else int(rng.integers(0, sh.columns))) if legal else \
            int(rng.integers(sh.columns, 1 << 16))
    if reg == TileReg.ADC_RANGE:
        return int(rng.integers(1, 1 << 16)) if legal else int(rng.choice([0, 1 << 16]))
    if reg == TileReg.BN_SCALE:
        return int(rng.integers(-(1 << 15), 1 << 15)) & 0xFFFF_FFFF if legal else 1 << 20
    return _word(rng)


def _settle():
    """A READ that waits until no MVM is outstanding (of the chip's ID)."""
    return [header(Op.READ, CHIP_TARGET, ChipReg.ID)]


def _tile_write(rng, sh, tile, reg):
    """A WRITE to tile register ``reg`` (any address), after a settling READ when the tile may be busy."""
    words = []
    if tile in sh.busy:
        words, sh.busy = _settle(), set()
    return words + [header(Op.WRITE, tile, int(reg)), _rand_value(rng, reg, sh, tile)]


def _command(kind, rng, sh):
    """The words of one command of ``kind`` (with the settling READ it needs), updating the shadow."""
    tile = int(rng.integers(0, sh.tiles))
    if kind == "nop":
        return [header(Op.NOP, int(rng.integers(0, 256)), _word(rng, 20))]
    if kind == "bad_opcode":
        return [int(rng.integers(max(Op) + 1, 16)) << 28 | _word(rng, 28)]
    if kind == "bad_tile":
        bad = int(rng.integers(sh.tiles, CHIP_TARGET))
        return [header(Op.WRITE, bad, _word(rng, 5)), _word(rng)] if rng.random() < 0.5 else \
            [header(Op.READ, bad, _word(rng, 5))]
    if kind == "read":
        sh.busy.clear()
        if rng.random() < 0.6:
            return [header(Op.READ, tile, int(rng.choice(_TILE_READS)))]
        return [header(Op.READ, CHIP_TARGET, int(rng.choice(_CHIP_READS)))]
    if kind == "tile_write":            # mostly the named registers, sometimes any address
        reg = TileReg(int(rng.choice(list(TileReg)))) if rng.random() < 0.7 else int(rng.integers(0x14, 0x20))
        return _tile_write(rng, sh, tile, reg)
    if kind == "busy_write":
        base = sh.route[0]
        if sh.route[1] != 1 or sh.acted != base:
            return []
        reg = TileReg(int(rng.choice(sorted(TILE_CONFIG))))
        return [header(Op.WRITE, base, int(reg)), _rand_value(rng, reg, sh, base)]
    if kind == "chip_write":
        sh.busy.clear()
        reg = int(rng.choice([*RED_BN_REGS, ChipReg.CTRL, ChipReg.ERRORS, ChipReg.ID, ChipReg.CYCLES, 0x15]))
        if reg in RED_BN_REGS:
            value = _rand_value(rng, RED_BN_REGS[reg], sh, 0)
        elif reg == ChipReg.CTRL:
            value = int(rng.choice([ChipCtrl.CLEAR_ERRORS, ChipCtrl.CLEAR_COUNTERS, 1 << 7]))
        else:
            value = _word(rng)
        return [header(Op.WRITE, CHIP_TARGET, reg), value]
    if kind == "bad_act":
        choice = rng.integers(4)
        if choice == 0:
            t, count = int(rng.integers(sh.tiles, 256)), int(rng.integers(1, sh.rows + 1))
        elif choice == 1:
            t, count = tile, int(rng.choice([0, sh.rows + 1, int(rng.integers(sh.rows + 1, 2000))]))
        elif choice == 2:
            t, count = tile, sh.rows_used[tile]
            return [header(Op.ACT, t, count | 1 << 16)] + [_word(rng) for _ in range(act_words(count, sh.b_in))]
        else:
            outside = [n for n in range(sh.tiles) if not sh.route[0] <= n < sh.route[0] + sh.route[1]]
            if not outside:
                return []
            t = int(rng.choice(outside))
            count = sh.rows_used[t]
        return [header(Op.ACT, t, count)] + [_word(rng) for _ in range(act_words(count, sh.b_in))]
    if kind == "bad_route":
        choice = rng.integers(3)
        if choice == 0:
            return [header(Op.ROUTE, tile, int(rng.choice([0, sh.max_group + 1, 1 << 8 | 1])))]
        if choice == 1:     # a legal size from a tile too close to the end
            return [header(Op.ROUTE, int(rng.integers(sh.tiles - sh.max_group + 1, 256)), sh.max_group)]
        return [header(Op.ROUTE, int(rng.integers(0, 256)), sh.max_group + 1)]
    if kind == "route":
        sh.busy.clear()
        sh.route = (tile, 1)
        return [header(Op.ROUTE, tile, 1)]
    # a legal ACT of random activations to the routed tile
    if sh.route[1] != 1:
        return []
    base = sh.route[0]
    x = rng.integers(0, 1 << sh.b_in, size=(1, sh.rows_used[base]))
    sh.busy.add(base)
    sh.acted = base
    return [header(Op.ACT, base, ACT_ARG.encode(count=sh.rows_used[base]))] + \
        pack_activations(x, sh.b_in)[0].astype(np.int64).tolist()


def _encodings(rng, sh):
    """Draw each tile's input encoding for the storm (PWM for a random nonempty subset) into ``sh``; returns the
    MODE writes that select them (legal values: AUTOSTART kept, RAW drawn)."""
    pwm = rng.random(sh.tiles) < 0.5
    pwm[int(rng.integers(sh.tiles))] = True
    sh.encodings = {n: InputEncoding.PWM if pwm[n] else InputEncoding.BIT_SERIAL for n in range(sh.tiles)}
    return [w for n in range(sh.tiles) for w in (header(Op.WRITE, n, TileReg.MODE), TILE_MODE.encode(
        raw=int(rng.integers(2)), autostart=1, encoding=int(sh.encodings[n])))]


def command_storm(seed, shadow, words, *, segments=4, name="storm", chunk0=1000):
    """About ``words`` command words drawn from ``seed``: a list of :class:`Segment` (``n_resp`` 0: the executor
    answers them) cut at random word positions, the first opening with the MODE writes of the tiles' encodings, the
    last ending with READs of the chip's and every tile's ERRORS. Their read-noise chunks count from ``chunk0``."""
    rng = np.random.default_rng(seed)
    kinds = list(_WEIGHTS)
    p = np.array([_WEIGHTS[k] for k in kinds], float)
    out = _encodings(rng, shadow)
    write_data = []                     # positions of WRITE data words (a cut there leaves the header waiting)
    while len(out) < words:
        kind = kinds[rng.choice(len(kinds), p=p / p.sum())]
        command = _command(kind, rng, shadow)
        if command and kind not in ("act", "busy_write"):
            shadow.acted = None
        if kind in _WRITES and len(command) >= 2:
            write_data.append(len(out) + len(command) - 1)
        out += command
    out += [header(Op.READ, CHIP_TARGET, ChipReg.ERRORS)] + [header(Op.READ, n, TileReg.ERRORS)
                                                               for n in range(shadow.tiles)]
    return _segments(rng, out, write_data, segments, name, chunk0)


def _segments(rng, out, write_data, segments, name, chunk0):
    """``out`` cut into ``segments`` segments at random word positions, one of them (when there is one) between a
    WRITE's header and its data word, so the chip waits for the data word of a command that the next segment ends."""
    first = [int(rng.choice(write_data))] if write_data and segments > 1 else []
    rest = np.setdiff1d(np.arange(1, len(out)), first)
    cuts = sorted(first + rng.choice(rest, size=segments - 1 - len(first), replace=False).tolist())
    bounds = [0, *cuts, len(out)]
    return [Segment(f"{name}{k}", np.array(out[a:b], np.int64).astype(np.uint32), 0, chunk=chunk0 + k)
            for k, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def run_fuzz(*, sim, fuzz_seed, storms, words, t=3600.0, seed=0, chip_seed=0, workdir=None):
    """Run ``storms`` storms of about ``words`` words from ``fuzz_seed`` through the chip RTL (tb/chip_fuzz_tb.py)
    on the harness build of tb/chip_sim.py; returns the testbench's report (``error`` when it failed) with the
    command that replays the run."""
    import json
    import time
    from pathlib import Path

    from neurophase.model.chip import reference_chip
    from neurophase.tb.chip_harness import HDL_SOURCES, VERILATOR_CONFIG
    from neurophase.tb.chip_sim import TOPLEVEL, harness_for
    from neurophase.tb.runner import build_root, locked, run_cocotb
    harness = harness_for(reference_chip(chip_seed))
    workdir = Path(workdir or build_root() / "sim" / "chip_runs" / f"fuzz_{sim}")
    with locked(workdir):    # another run of the same kind waits: they share the workload and result files
        workdir.mkdir(parents=True, exist_ok=True)
        result_path = workdir / "result.json"
        result_path.unlink(missing_ok=True)
        replay = (f"NEUROPHASE_FUZZ_SEED={fuzz_seed} NEUROPHASE_FUZZ_STORMS={storms} NEUROPHASE_FUZZ_WORDS={words} "
                  f".venv/bin/python -m pytest tests/test_rtl_chip_fuzz.py -k {sim}")
        parameters = dict(fuzz_seed=fuzz_seed, storms=storms, words=words, t=t, seed=seed, chip_seed=chip_seed,
                          result=str(result_path), replay=replay, icode_bits=harness.icode_bits,
                          tiles=harness.chip.n_tiles, rows=harness.chip.rows)
        wall0 = time.perf_counter()
        error = None
        try:
            run_cocotb(component=harness, toplevel=TOPLEVEL, test_module="neurophase.tb.chip_fuzz_tb", sim=sim,
                       parameters=parameters, case=f"tiles{harness.chip.n_tiles}_planes{harness.plane_depth}",
                       extra_sources=list(HDL_SOURCES) + ([VERILATOR_CONFIG] if sim == "verilator" else []),
                       testcase="command_storms_match_golden", workdir=workdir,
                       extra_env={"NEUROPHASE_TEST_TIMEOUT_US": str(4000 + storms * (words + 800))})
        except RuntimeError as e:
            error = str(e)
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
    result.update(replay=replay, wall_s=round(time.perf_counter() - wall0, 1))
    if error is not None:
        result["error"] = error
    return result
