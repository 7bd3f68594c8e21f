"""Golden executor: the chip's command programs run at transaction level on the golden model.

Ref: docs/architecture.md §4, §5, D7. :class:`GoldenExecutor` executes the command words of a
:class:`~neurophase.model.host.Segment` as the chip (rtl/chip.py) does, with model/chip.py's programmed tiles for
the MVMs and model/arith.py for the reduction and BN, and answers with the chip's response words. It tracks the
registers the chip's behaviour depends on (each tile's, the reducer's BN registers, the route) and, through the error
model of model/command_errors.py, every ERRORS bit and the answer the chip gives an illegal command (flagged, its
data words skipped, a read of an unmapped register 0). What it cannot know it refuses with ValueError: the event
counters (timing), an ACT count other than the tile's ROWS_USED and a START outside AUTOSTART mode (the chip does not
flag them, and its MVM bookkeeping then goes astray). One executor models one chip (``chip_index``): its tiles are
the mapping's tiles on that chip, addressed by their slot. :func:`run_golden` runs the host's program for a set of
inputs on one executor per chip.

Read noise. One batched MVM per tile and segment (model/chip.py ``Chip.tile_mvm``, in the chip's blocks), drawn from
``default_rng([seed, tile, chunk])`` with the tile's number in the mapping, the segment's chunk number and its own
seed if it names one: model/chip.py's draw. A short last chunk is padded with zero vectors to the segment's
``pad_mvms``, which gives the real MVMs the same currents as model/chip.py's zero-input padding (the draw depends on
the batch shape only, and each MVM's current on its own input only: tested). A tile reads with the input encoding its
MODE register selects.
"""

from collections import Counter
from dataclasses import astuple, dataclass

import numpy as np

from neurophase.model.adc import AdcConfig
from neurophase.model.arith import BnRegisters, accumulate, reduce_partial_sums
from neurophase.model.checks import check_int, check_nonnegative, signed_range
from neurophase.model.host import Host, run_program
from neurophase.model.command_errors import (ChipLimits, chip_access_error, data_words, header_error,
                                             tile_access_error)
from neurophase.model.interface import (BN_CTRL, CHIP_CONFIG, CHIP_ID, CHIP_STATUS, CHIP_TARGET, RED_BN_REGS, REG_ARG,
                                        TILE_GEOMETRY, TILE_ID, TILE_MODE, TILE_STATUS, WORD_BITS, ChipCtrl, ChipErr,
                                        ChipReg, InputEncoding, Op, TileCtrl, TileErr, TileReg, acts_per_word,
                                        adc_range_current, decode_header, unpack_activations)

__all__ = ["GoldenExecutor", "run_golden", "chip_max_group"]


def chip_max_group(chip):
    """The largest reduction group of ``chip``'s mapping: the chip's ROUTE sizes 1..this (the RTL's max_group)."""
    return max(len(chip.mapping.reduction_group(a.tile)) for a in chip.mapping.tiles)


class _TileState:
    """A tile's registers as the golden executor tracks them."""

    def __init__(self, columns, rows, adc_range):
        self.regs = {TileReg.ROWS_USED: rows, TileReg.COLS_USED: columns, TileReg.BN_CTRL: 0, TileReg.MODE: 0,
                     TileReg.ADC_RANGE: adc_range, TileReg.BN_CHANNEL: 0, TileReg.BN_SCALE: 0, TileReg.BN_BIAS: 0,
                     TileReg.MVM_COUNT: 0}
        self.scale = np.zeros(columns, np.int64)
        self.bias = np.zeros(columns, np.int64)
        self.version = 0
        self.errors = 0              # the ERRORS register (TileErr bits)
        self.in_flight = 0           # MVMs taken since the chip last had none outstanding
        self.ran = False             # an MVM completed (STATUS.done)


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
    to ``t``, read noise seeded by ``seed`` per tile and chunk), model/arith.py's reduction and BN; illegal commands as
    the chip answers them (:attr:`chip_errors`, :meth:`tile_errors`), its tiles implementing every input encoding (as
    rtl/chip.py's do by default). After each :meth:`execute`, ``last_mvms`` maps every tile slot that ran MVMs to
    (activations (MVMs, rows), read currents (reads, MVMs, columns) in A: the b_in bit-planes, or the one PWM read's
    window mean current): what a crossbar stand-in replays (kept only with ``keep_reads``, as is :attr:`coverage`)."""

    def __init__(self, chip, t, seed, chip_index=0, keep_reads=True):
        self.chip = chip
        self.t = check_nonnegative("t (s)", t)
        self.seed = check_int("seed", seed, 0, 2 ** 63 - 1)
        self.fmt = chip.config.fmt
        cfg = chip.config.tile
        self.tiles = {n: _TileState(cfg.columns, cfg.rows, 1000) for n in range(chip.config.geometry.tiles)}
        self.red = _TileState(cfg.columns, cfg.rows, 1000)
        self.route = (0, 1)
        self.slots = {a.slot: a.tile for a in chip.mapping.chip_tiles(chip_index)}
        self.keep_reads = keep_reads
        self.limits = ChipLimits(tiles=len(self.slots), rows=cfg.rows, columns=cfg.columns,
                                 max_group=chip_max_group(chip), fmt=self.fmt,
                                 encodings=frozenset(int(e) for e in InputEncoding))
        self._chip_errors = 0
        self.error_events = Counter()       # error kind ("BAD_TILE", "tile BAD_VALUE", ...) -> times raised
        # What the MVMs exercised (tb/functional_coverage.py reads it): modes, shifts, rails, saturations, groups.
        self.coverage = Counter()
        self._carry = np.zeros(0, np.uint32)
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
        elif reg in (TileReg.ROWS_USED, TileReg.COLS_USED, TileReg.MODE, TileReg.ADC_RANGE):
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
        """Run ``seg``; returns its response words (uint32). A command cut off by the segment's end is finished by
        the next segment's first words, as on the chip."""
        words = np.concatenate([self._carry, np.asarray(seg.words, np.uint32)])
        self._carry = words[:0]
        vectors = {}                        # tile -> list of activation vectors in ACT order
        queues = {}                         # tile -> indices of vectors not yet taken by an output
        encodings = {}                      # tile -> the input encoding of its MVMs
        out = []                            # ("word", value) or ("mvm", group, indices, _Snapshot)
        i = 0
        while i < len(words):
            n_data = data_words(int(words[i]), self.fmt.b_in)
            if i + 1 + n_data > len(words):
                self._carry = words[i:]
                break
            op, tile, arg = astuple(decode_header(words[i]))
            where = f"segment {seg.name}, word {i}"
            error = header_error(int(words[i]), self.route, self.limits)
            i += 1
            if error:                       # flagged; the command's data words are skipped
                self._raise_chip(error)
                i += n_data
            elif op == Op.WRITE:
                self._write(tile, REG_ARG.decode(arg).address, int(words[i]), where)
                i += 1
            elif op == Op.READ:
                self._settle()
                out.append(("word", self._read(tile, REG_ARG.decode(arg).address, where)))
            elif op == Op.ROUTE:
                self._settle()
                self.route = (tile, arg)
            elif op == Op.ACT:
                base, size = self.route
                x = unpack_activations(words[i:i + n_data], arg, self.fmt.b_in)
                i += n_data
                st = self.tiles[tile]
                if arg != st.regs[TileReg.ROWS_USED]:
                    raise ValueError(f"{where}: ACT of {arg} activations to tile {tile} using "
                                     f"{st.regs[TileReg.ROWS_USED]} rows (the chip does not flag it)")
                if encodings.setdefault(tile, self.encoding(tile)) != self.encoding(tile):
                    raise ValueError(f"{where}: tile {tile} changes its input encoding within a segment (the golden "
                                     f"executor runs a tile's MVMs of a segment as one batch)")
                st.in_flight += 1
                vectors.setdefault(tile, []).append(x)
                queues.setdefault(tile, []).append(len(vectors[tile]) - 1)
                group = tuple(range(base, base + size))
                if all(queues.get(g) for g in group):
                    idx = tuple(queues[g].pop(0) for g in group)
                    out.append(("mvm", group, idx, self._snapshot(group)))
        self._settle()                      # the segment ends when every output has been delivered
        acc = self._mvms(seg, vectors, encodings)
        return self._responses(out, acc)

    # -- the error model (model/command_errors.py): registers and flags as the chip's register files keep them ---------
    @property
    def chip_errors(self):
        """The chip's ERRORS register (:class:`ChipErr` bits)."""
        return self._chip_errors

    def tile_errors(self, n):
        """Tile ``n``'s ERRORS register (:class:`TileErr` bits)."""
        return self.tiles[n].errors

    def _raise_chip(self, bits):
        self._chip_errors |= int(bits)
        for e in ChipErr(int(bits)):
            self.error_events[e.name] += 1

    def _raise_tile(self, n, bits):
        self.tiles[n].errors |= int(bits)
        for e in TileErr(int(bits)):
            self.error_events[f"tile {e.name}"] += 1
        self._raise_chip(ChipErr.TILE_ERROR)

    def _clear_chip(self, bits):
        """Clear chip error bits; TILE_ERROR is raised again at once while a tile's flag is set."""
        self._chip_errors &= ~int(bits)
        if any(self.tiles[n].errors for n in range(self.limits.tiles)):
            self._chip_errors |= ChipErr.TILE_ERROR

    def _settle(self):
        """No MVM outstanding any more (READ, ROUTE and chip WRITEs wait for it): every tile's MVMs have completed
        and the tiles are idle."""
        for st in self.tiles.values():
            st.regs[TileReg.MVM_COUNT] += st.in_flight
            st.ran |= st.in_flight > 0
            st.in_flight = 0

    def _write(self, tile, address, v, where):
        if tile == CHIP_TARGET:
            self._settle()
            error = chip_access_error(address, v, True, self.limits)
            if error:
                self._raise_chip(error)
            elif address == ChipReg.ERRORS:
                self._clear_chip(v)
            elif address == ChipReg.CTRL:
                if v & ChipCtrl.CLEAR_ERRORS:
                    self._clear_chip(~0)
            else:
                self._tile_reg_write(self.red, RED_BN_REGS[address], v, where)
            return
        st = self.tiles[tile]
        error = tile_access_error(address, v, True, st.in_flight > 0, self.limits)
        if error:
            self._raise_tile(tile, error)
        elif address == TileReg.ERRORS:
            st.errors &= ~v
        elif address == TileReg.CTRL:
            if v & TileCtrl.CLEAR_ERRORS:
                st.errors = 0
            if v & TileCtrl.START:
                if not TILE_MODE.decode(st.regs[TileReg.MODE]).autostart:
                    raise ValueError(f"{where}: CTRL.START arms tile {tile} for an MVM without an ACT, which the "
                                     "golden executor does not model")
                self._raise_tile(tile, TileErr.START_WHILE_BUSY)
            self._tile_reg_write(st, TileReg.CTRL, v, where)
        else:
            self._tile_reg_write(st, TileReg(address), v, where)

    def _read(self, tile, address, where):
        """The word a READ returns (the chip's register files: 0 for an unmapped or write-only register)."""
        lim = self.limits
        if tile == CHIP_TARGET:
            error = chip_access_error(address, 0, False, lim)
            self._raise_chip(error)
            values = {ChipReg.ID: CHIP_ID, ChipReg.ERRORS: self._chip_errors, ChipReg.CTRL: 0,
                      ChipReg.CONFIG: CHIP_CONFIG.encode(tiles=lim.tiles, max_group=lim.max_group,
                                                         acts_per_word=acts_per_word(self.fmt.b_in)),
                      ChipReg.STATUS: CHIP_STATUS.encode(route_base=self.route[0], route_size=self.route[1]),
                      **{r: self.red.regs[t] for r, t in RED_BN_REGS.items()}}
        else:
            st = self.tiles[tile]
            error = tile_access_error(address, 0, False, False, lim)
            if error:
                self._raise_tile(tile, error)
            values = {TileReg.ID: TILE_ID, TileReg.GEOMETRY: TILE_GEOMETRY.encode(rows=lim.rows, columns=lim.columns),
                      TileReg.CTRL: 0, TileReg.ERRORS: st.errors, TileReg.STATUS: TILE_STATUS.encode(done=int(st.ran)),
                      **st.regs}
        if error:
            return 0
        if address not in values:
            raise ValueError(f"{where}: the golden executor does not model register {address:#x} of "
                             f"{'the chip' if tile == CHIP_TARGET else f'tile {tile}'} (a count that depends on "
                             f"timing or the analog side)")
        return int(values[address]) & 0xFFFF_FFFF

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
                self._cover_reads(n, res.codes[:, :len(vs)], encodings[n])
        return acc

    def _cover_reads(self, n, codes, encoding):
        """Count what tile ``n``'s reads (codes (reads, MVMs, columns)) exercised for :attr:`coverage`."""
        lo, hi = signed_range(self.fmt.b_adc)
        used = codes[:, :, :self.tiles[n].regs[TileReg.COLS_USED]]
        self.coverage.update({"adc_rail_low": int(np.count_nonzero(used == lo)),
                              "adc_rail_high": int(np.count_nonzero(used == hi)),
                              "back_to_back": int(codes.shape[1] > 1), "mvms": codes.shape[1],
                              f"encoding_{encoding.label}": codes.shape[1],
                              "sat_shift_add": accumulate(codes, self.fmt, encoding)[1]})

    def _responses(self, out, acc):
        words = []
        # Runs of outputs of the same group and register snapshot are computed together.
        self.coverage["column_blocks"] += len({o[1] for o in out if o[0] == "mvm"}) > 1
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
            total, red_sats = reduce_partial_sums(parts, self.fmt) if len(group) > 1 else (parts[0], 0)
            bn_sats = 0
            if not snap.raw:
                total, bn_sats = snap.bn.requantise(total, self.fmt, relu=snap.relu, last=snap.last)
            self.coverage.update({f"group_{len(group)}": 1, "raw" if snap.raw else "bn": 1,
                                  f"columns_{'all' if snap.columns == self.limits.columns else 'part'}": 1,
                                  "sat_reduce": red_sats, f"sat_bn_{'reducer' if len(group) > 1 else 'tile'}": bn_sats,
                                  **({} if snap.raw else {f"relu_{snap.relu}": 1, f"last_{snap.last}": 1,
                                                          f"shift_{snap.bn.shift}": 1})})
            words.append(total.ravel())
            k = j
        return (np.concatenate(words) if words else np.zeros(0, np.int64)).astype(np.int64).astype(np.uint32)


def run_golden(chip, x, t, seed):
    """Run the compiled program for inputs ``x`` on the golden executors (one per chip); returns a
    :class:`~neurophase.model.host.RunResult`."""
    executors = [GoldenExecutor(chip, t, seed, c, keep_reads=False) for c in range(chip.mapping.chips)]
    return run_program(Host(chip).session(x), lambda seg: executors[seg.chip].execute(seg))
