"""Golden executor: the chip's command programs run at transaction level on the golden model.

Ref: docs/architecture.md §4, §5, D7. :class:`GoldenExecutor` executes the command words of a
:class:`~neurophase.model.host.Segment` as the chip (rtl/chip.py) does, with model/chip.py's programmed tiles for
the MVMs and model/arith.py for the reduction and BN, and answers with the chip's response words. It tracks the
registers the chip's behaviour depends on (each tile's, the reducer's BN registers, the route); a program error that
the chip flags in its ERRORS register raises ValueError here. One executor models one chip (``chip_index``): its
tiles are the mapping's tiles on that chip, addressed by their slot. :func:`run_golden` runs the host's program for a
set of inputs on one executor per chip.

Read noise. One batched MVM per tile and segment (model/chip.py ``Chip.tile_mvm``, in the chip's blocks), drawn from
``default_rng([seed, tile, chunk])`` with the tile's number in the mapping, the segment's chunk number and its own
seed if it names one: model/chip.py's draw. A short last chunk is padded with zero vectors to the segment's
``pad_mvms``, which gives the real MVMs the same currents as model/chip.py's zero-input padding (the draw depends on
the batch shape only, and each MVM's current on its own input only: tested). A tile reads with the input encoding its
MODE register selects.
"""

from dataclasses import astuple, dataclass

import numpy as np

from neurophase.model.adc import AdcConfig
from neurophase.model.arith import BnRegisters, reduce_partial_sums
from neurophase.model.checks import check_int, check_nonnegative
from neurophase.model.host import Host, run_program
from neurophase.model.interface import (BN_CTRL, CHIP_TARGET, RED_BN_REGS, TILE_MODE, WORD_BITS, ChipReg,
                                        InputEncoding, Op, TileCtrl, TileReg, act_words, adc_range_current,
                                        decode_header, unpack_activations)

__all__ = ["GoldenExecutor", "run_golden"]


class _TileState:
    """A tile's registers as the golden executor tracks them."""

    def __init__(self, columns, rows, adc_range):
        self.regs = {TileReg.ROWS_USED: rows, TileReg.COLS_USED: columns, TileReg.BN_CTRL: 0, TileReg.MODE: 0,
                     TileReg.ADC_RANGE: adc_range, TileReg.BN_CHANNEL: 0, TileReg.BN_SCALE: 0, TileReg.BN_BIAS: 0,
                     TileReg.MVM_COUNT: 0}
        self.scale = np.zeros(columns, np.int64)
        self.bias = np.zeros(columns, np.int64)
        self.version = 0


@dataclass(frozen=True, eq=False)
class _Snapshot:
    """What the outputs of an MVM depend on besides its accumulators: the registers when its last ACT came in."""
    columns: int                 # columns used by the group's tiles
    raw: bool                    # accumulators out, no BN
    bn: BnRegisters              # over the used columns: the tile's, or the reducer's for a group
    relu: bool
    last: bool


def _signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


class GoldenExecutor:
    """Executes command programs on the golden model: model/chip.py's programmed tiles on chip ``chip_index`` (drift
    to ``t``, read noise seeded by ``seed`` per tile and chunk), model/arith.py's reduction and BN. A program error
    that the chip flags in its ERRORS register raises ValueError here, naming the command word. After each
    :meth:`execute`, ``last_mvms`` maps every tile slot that ran MVMs to (activations (MVMs, rows), read currents
    (reads, MVMs, columns) in A: the b_in bit-planes, or the one PWM read's window mean current): what a crossbar
    stand-in replays (kept only with ``keep_reads``)."""

    def __init__(self, chip, t, seed, chip_index=0, keep_reads=True):
        self.chip = chip
        self.t = check_nonnegative("t (s)", t)
        self.seed = check_int("seed", seed, 0, 2 ** 63 - 1)
        self.fmt = chip.config.fmt
        self.slots = {a.slot: a.tile for a in chip.mapping.chip_tiles(chip_index)}
        self.keep_reads = keep_reads
        cfg = chip.config.tile
        self.tiles = {n: _TileState(cfg.columns, cfg.rows, 1000) for n in range(chip.config.geometry.tiles)}
        self.red = _TileState(cfg.columns, cfg.rows, 1000)
        self.route = (0, 1)
        self._adc_tiles = {}
        self._snaps = {}
        self.last_mvms = {}

    def _tile_reg_write(self, st, reg, v, where):
        fmt = self.fmt
        if reg == TileReg.BN_SCALE:
            st.regs[TileReg.BN_SCALE] = _signed(v, WORD_BITS)
        elif reg == TileReg.BN_BIAS:
            ch = st.regs[TileReg.BN_CHANNEL]
            st.scale[ch], st.bias[ch] = st.regs[TileReg.BN_SCALE], _signed(v, WORD_BITS)
            st.regs[TileReg.BN_BIAS] = st.bias[ch]
            st.regs[TileReg.BN_CHANNEL] = (ch + 1) % len(st.scale)
        elif reg == TileReg.BN_CTRL:
            if BN_CTRL.decode(v).shift > fmt.shift_max:
                raise ValueError(f"{where}: BN shift {BN_CTRL.decode(v).shift} out of range [0, {fmt.shift_max}]")
            st.regs[TileReg.BN_CTRL] = v
        elif reg == TileReg.BN_CHANNEL:
            st.regs[TileReg.BN_CHANNEL] = check_int(f"{where}: BN channel", v, 0, len(st.scale) - 1)
        elif reg == TileReg.MODE:
            encoding = TILE_MODE.decode(v).encoding
            if encoding not in InputEncoding._value2member_map_:
                raise ValueError(f"{where}: MODE encoding must be one of {[int(e) for e in InputEncoding]}, "
                                 f"got {encoding}")
            st.regs[reg] = v
        elif reg in (TileReg.ROWS_USED, TileReg.COLS_USED, TileReg.ADC_RANGE):
            st.regs[reg] = v
        elif reg == TileReg.CTRL:
            if v & TileCtrl.CLEAR_COUNTERS:
                st.regs[TileReg.MVM_COUNT] = 0
            return
        else:
            raise ValueError(f"{where}: register {reg:#x} is not writable")
        st.version += 1

    def encoding(self, n):
        """The input encoding tile ``n``'s MODE register selects."""
        return InputEncoding(TILE_MODE.decode(self.tiles[n].regs[TileReg.MODE]).encoding)

    def tile(self, n):
        """The programmed golden tile in slot ``n`` seen through the ADC range its register holds."""
        rng = self.tiles[n].regs[TileReg.ADC_RANGE]
        key = (n, rng)
        if key not in self._adc_tiles:
            tile = self.chip.tiles[self.slots[n]]
            i_fs = adc_range_current(rng)
            if not np.isclose(i_fs, tile.adc.i_fs, rtol=1e-12, atol=0):
                tile = tile.with_adc(AdcConfig(tile.adc.bits, i_fs, tile.adc.frac_bits))
            self._adc_tiles[key] = tile
        return self._adc_tiles[key]

    def execute(self, seg):
        """Run ``seg``; returns its response words (uint32)."""
        words = np.asarray(seg.words, np.uint32)
        n_tiles = len(self.slots)
        vectors = {}                        # tile -> list of activation vectors in ACT order
        encodings = {}                      # tile -> the input encoding of its MVMs
        queues = {}                         # tile -> indices of vectors not yet taken by an output
        out = []                            # ("word", value) or ("mvm", group, indices, _Snapshot)
        i = 0
        while i < len(words):
            op, tile, arg = astuple(decode_header(words[i]))
            where = f"segment {seg.name}, word {i}"
            if not isinstance(op, Op):
                raise ValueError(f"{where}: opcode must be one of {[int(o) for o in Op]}, got {op}")
            if tile != CHIP_TARGET and tile >= n_tiles and op != Op.NOP:
                raise ValueError(f"{where}: tile must be in [0, {n_tiles - 1}] or {CHIP_TARGET:#x}, got {tile}")
            i += 1
            if op == Op.WRITE:
                v, i = int(words[i]), i + 1
                if tile == CHIP_TARGET:
                    if arg in (ChipReg.CTRL, ChipReg.ERRORS):
                        continue
                    if arg not in RED_BN_REGS:
                        raise ValueError(f"{where}: chip register {arg:#x} is not writable")
                    self._tile_reg_write(self.red, RED_BN_REGS[arg], v, where)
                else:
                    self._tile_reg_write(self.tiles[tile], TileReg(arg), v, where)
            elif op == Op.READ:
                if tile == CHIP_TARGET:
                    if arg not in RED_BN_REGS:
                        raise ValueError(f"{where}: the golden executor models reads of the chip registers "
                                         f"{[r.name for r in RED_BN_REGS]} only, got {arg:#x}")
                    out.append(("word", self.red.regs[RED_BN_REGS[arg]] & 0xFFFF_FFFF))
                else:
                    out.append(("word", self.tiles[tile].regs[TileReg(arg)] & 0xFFFF_FFFF))
            elif op == Op.ROUTE:
                check_int(f"{where}: ROUTE size", arg, 1, n_tiles - tile)
                self.route = (tile, arg)
            elif op == Op.ACT:
                base, size = self.route
                if not base <= tile < base + size:
                    raise ValueError(f"{where}: ACT to tile {tile} outside the route {base}..{base + size - 1}")
                nw = act_words(arg, self.fmt.b_in)
                x = unpack_activations(words[i:i + nw], arg, self.fmt.b_in)
                i += nw
                st = self.tiles[tile]
                if arg != st.regs[TileReg.ROWS_USED]:
                    raise ValueError(f"{where}: ACT of {arg} activations to tile {tile} using "
                                     f"{st.regs[TileReg.ROWS_USED]} rows")
                if encodings.setdefault(tile, self.encoding(tile)) != self.encoding(tile):
                    raise ValueError(f"{where}: tile {tile} changes its input encoding within a segment (the golden "
                                     f"executor runs a tile's MVMs of a segment as one batch)")
                vectors.setdefault(tile, []).append(x)
                queues.setdefault(tile, []).append(len(vectors[tile]) - 1)
                group = tuple(range(base, base + size))
                if all(queues.get(g) for g in group):
                    idx = tuple(queues[g].pop(0) for g in group)
                    out.append(("mvm", group, idx, self._snapshot(group)))
        acc = self._mvms(seg, vectors, encodings)
        return self._responses(out, acc)

    def _snapshot(self, group):
        key = (group, tuple(self.tiles[g].version for g in group), self.red.version)
        if key not in self._snaps:
            self._snaps[key] = self._take_snapshot(group)
        return self._snaps[key]

    def _take_snapshot(self, group):
        st = self.tiles[group[0]]
        regs = self.red if len(group) > 1 else st
        cols = {self.tiles[g].regs[TileReg.COLS_USED] for g in group}
        if len(cols) != 1:
            raise ValueError(f"tiles {group} of a reduction group use different column counts {sorted(cols)}")
        raw = len(group) == 1 and bool(TILE_MODE.decode(st.regs[TileReg.MODE]).raw)
        ctrl = BN_CTRL.decode(regs.regs[TileReg.BN_CTRL])
        n = cols.pop()
        return _Snapshot(n, raw, BnRegisters(regs.scale[:n], regs.bias[:n], ctrl.shift), bool(ctrl.relu),
                         bool(ctrl.last))

    def _mvms(self, seg, vectors, encodings):
        """Every tile's accumulators of its vectors, one batched MVM per tile (padded to the chunk's draw) with the
        tile's input encoding."""
        acc = {}
        self.last_mvms = {}
        for n, vs in vectors.items():
            x = np.array(vs)
            rows = self.chip.tiles[self.slots[n]].weight_shape[0]
            if x.shape[1] != rows:
                raise ValueError(f"tile {n} holds {rows} rows of weights, got {x.shape[1]} activations per MVM")
            if seg.pad_mvms and seg.pad_mvms > len(x):
                x = np.concatenate([x, np.zeros((seg.pad_mvms - len(x), rows), np.int64)])
            res = self.chip.tile_mvm(self.slots[n], x, self.t, self.seed if seg.seed is None else seg.seed,
                                     seg.chunk, tile=self.tile(n), keep_reads=self.keep_reads, encoding=encodings[n])
            acc[n] = res.acc[:len(vs)]
            if self.keep_reads:
                self.last_mvms[n] = (x[:len(vs)], res.currents[:, :len(vs)])
            self.tiles[n].regs[TileReg.MVM_COUNT] += len(vs)
        return acc

    def _responses(self, out, acc):
        words = []
        # Runs of outputs of the same group and register snapshot are computed together.
        k = 0
        while k < len(out):
            if out[k][0] == "word":
                words.append(np.array([out[k][1]], np.int64))
                k += 1
                continue
            _, group, _, snap = out[k]
            j = k
            while j < len(out) and out[j][0] == "mvm" and out[j][1] == group and out[j][3] is snap:
                j += 1
            idx = np.array([o[2] for o in out[k:j]])
            parts = np.stack([acc[g][idx[:, m], :snap.columns] for m, g in enumerate(group)])
            total, _ = reduce_partial_sums(parts, self.fmt) if len(group) > 1 else (parts[0], 0)
            if not snap.raw:
                total, _ = snap.bn.requantise(total, self.fmt, relu=snap.relu, last=snap.last)
            words.append(total.ravel())
            k = j
        return (np.concatenate(words) if words else np.zeros(0, np.int64)).astype(np.int64).astype(np.uint32)


def run_golden(chip, x, t, seed):
    """Run the compiled program for inputs ``x`` on the golden executors (one per chip); returns a
    :class:`~neurophase.model.host.RunResult`."""
    executors = [GoldenExecutor(chip, t, seed, c, keep_reads=False) for c in range(chip.mapping.chips)]
    return run_program(Host(chip).session(x), lambda seg: executors[seg.chip].execute(seg))
