"""Host runtime: the mapped network compiled into the chip's command program, and the golden model executing it.

Ref: docs/architecture.md §4, §5, D7. The chip (rtl/chip.py) takes 32-bit command words and answers with 32-bit
response words; this module defines that encoding (:class:`Op`, :func:`header`, :class:`ChipReg`,
:class:`ChipErr`), compiles programs for the reference network on a programmed :class:`~.chip.Chip`, and runs them
on the golden model (:class:`GoldenExecutor`). The RTL testbench (tb/chip_tb.py) runs the same programs through
the chip's command interface.

Program structure. :class:`Host` is a generator-driven session (:meth:`Host.session`): it yields one
:class:`Segment` (a block of command words and the number of response words it produces) at a time and receives
the responses, so the host's work between layers (D7: input codes, zero padding, im2col, 2x2 max pooling, global
average pooling, argmax) is done on whatever the executor returned - the RTL's own outputs in a testbench. The
first segment configures every tile (ROWS_USED, COLS_USED, ADC_RANGE, BN registers, MODE); then, per chunk of
``CHUNK`` images and per layer, one segment: per column block, the reducer's BN registers (row-split layers only),
a ROUTE to the block's tiles, and one ACT per MVM and row-block tile.

BN recalibration (:meth:`Host.recalibration_session`, docs/architecture.md D6): the same configuration, then per
layer the calibration images' MVMs with the layer's tiles read out raw (pre-BN accumulators), the new registers
computed from what the chip returned by model/drift.py's ``recalibrate_layer`` (the one definition of the
arithmetic), written and read back through the command interface, and finally test images classified with them.

Read noise. The golden model draws each tile's read noise per (seed, tile, chunk of ``CHUNK`` images), one batched
MVM per tile and chunk (model/chip.py). A segment carries its chunk number and the padded MVM count, so the golden
executor makes the same draw (with the segment's own seed if it names one: calibration runs use model/drift.py's
``CALIBRATION_SEED``); a short last chunk is padded with zero vectors, which gives the real MVMs the same
currents as model/chip.py's blank-image padding (the draw depends on the batch shape only, and each MVM's current
on its own input only: tested).
"""

import enum
from dataclasses import astuple, dataclass, field
from types import SimpleNamespace

import numpy as np

from neurophase.model.adc import AdcConfig
from neurophase.model.arith import bn_requantise, reduce_partial_sums
from neurophase.model.checks import check_int, check_nonnegative
from neurophase.model.network import INPUT_SHAPE, input_codes, layer_vectors, next_codes
from neurophase.model.interface import (BN_CTRL, CHIP_TARGET, RED_BN_REGS, TILE_MODE, WORD_BITS, ChipCtrl, ChipReg,
                                       Op, TileCtrl, TileReg, act_words, adc_range_code, adc_range_current,
                                       decode_header, header, pack_activations, unpack_activations)

__all__ = ["Segment", "Host", "GoldenExecutor", "RunResult", "RecalResult", "register_mismatches", "run_program",
           "run_golden"]


@dataclass
class Segment:
    """A block of command words and what it returns. ``chunk``/``pad_mvms`` only tell the golden executor which
    read-noise draw the MVMs belong to (the chip ignores them)."""
    name: str
    words: np.ndarray                # uint32 command words
    n_resp: int                      # response words the segment produces
    chunk: int = -1
    pad_mvms: int = 0                # MVMs per tile in the padded chunk (0: no padding)
    layer: str = None
    out_shape: tuple = ()            # (MVMs, output channels) of the layer
    seed: int = None                 # read-noise seed of the MVMs (None: the executor's own)


@dataclass
class RunResult:
    """Logits of the run and every layer's outputs (MVMs of all images, channels), as the host assembled them."""
    logits: np.ndarray
    layer_out: dict = field(default_factory=dict)


class Host:
    """Compiles programs for a programmed :class:`~.chip.Chip` and does the host-side work between layers."""

    def __init__(self, chip):
        self.chip = chip
        self.fmt = chip.config.fmt
        self.mapping = chip.mapping
        self.columns = chip.config.tile.columns
        # The BN registers the host programs: (layer, column block) -> (scale, bias, shift); a recalibration
        # rewrites them.
        self.registers = dict(chip.registers)

    # -- compilation ------------------------------------------------------------------------------------------------
    def _groups(self, layer):
        """Column blocks of ``layer``: lists of tile assignments whose accumulators are added (tile order)."""
        blocks = {}
        for a in self.mapping.layer_tiles(layer):
            blocks.setdefault(a.col_block, []).append(a)
        return [blocks[cb] for cb in sorted(blocks)]

    @staticmethod
    def _write(words, tile, reg, value):
        words += [header(Op.WRITE, tile, int(reg)), int(value) & 0xFFFF_FFFF]

    def _bn_words(self, w, group, ql, regs, readback=False):
        """WRITEs of column block ``group``'s BN registers ``regs`` = (scale, bias, shift): its tile's, or the chip's
        reducer's (RED_BN_*) for a row-split group. With ``readback``, each staged scale and bias is READ back after
        its WRITE and the control word at the end: :meth:`decode_readback`."""
        tile, names = (group[0].tile, TileReg) if len(group) == 1 else (CHIP_TARGET, _RED_NAMES)
        s, b, r = regs
        self._write(w, tile, names.BN_CTRL, BN_CTRL.encode(shift=r, relu=not ql.last, last=ql.last))
        self._write(w, tile, names.BN_CHANNEL, 0)
        for sj, bj in zip(s.tolist(), b.tolist()):
            self._write(w, tile, names.BN_SCALE, sj)
            if readback:
                w.append(header(Op.READ, tile, int(names.BN_SCALE)))
            self._write(w, tile, names.BN_BIAS, bj)
            if readback:
                w.append(header(Op.READ, tile, int(names.BN_BIAS)))
        if readback:
            w.append(header(Op.READ, tile, int(names.BN_CTRL)))

    def config_segment(self):
        """Configure every mapped tile: geometry in use, ADC range, BN registers (or RAW mode in a reduction group),
        AUTOSTART; clear the chip's and the tiles' counters and errors."""
        w = []
        self._write(w, CHIP_TARGET, ChipReg.CTRL, ChipCtrl.CLEAR_COUNTERS | ChipCtrl.CLEAR_ERRORS)
        for ql in self.chip.qlayers:
            for group in self._groups(ql.layer.name):
                for a in group:
                    n = a.tile
                    rng = adc_range_code(self.chip.i_fs[n])
                    self._write(w, n, TileReg.ROWS_USED, a.rows)
                    self._write(w, n, TileReg.COLS_USED, a.columns)
                    self._write(w, n, TileReg.ADC_RANGE, rng)
                    if len(group) == 1:
                        self._bn_words(w, group, ql, self.registers[(a.layer, a.col_block)])
                    self._write(w, n, TileReg.MODE, TILE_MODE.encode(autostart=1, raw=len(group) > 1))
                    self._write(w, n, TileReg.CTRL, TileCtrl.CLEAR_ERRORS | TileCtrl.CLEAR_COUNTERS)
        return Segment("config", np.array(w, np.uint32), 0)

    def layer_segment(self, li, x, chunk, pad_mvms=0, seed=None):
        """The MVMs of layer ``li`` on input vectors ``x`` (MVMs, fan_in), in MVM order per column block."""
        ql = self.chip.qlayers[li]
        name = ql.layer.name
        parts, n_resp = [], 0
        for group in self._groups(name):
            w = []
            if len(group) > 1:
                self._bn_words(w, group, ql, self.registers[(name, group[0].col_block)])
            w.append(header(Op.ROUTE, group[0].tile, len(group)))
            parts.append(np.array(w, np.uint32))
            blocks = []
            for a in group:
                acts = pack_activations(x[:, a.row_start:a.row_stop], self.fmt.b_in)
                head = np.full((len(x), 1), header(Op.ACT, a.tile, a.rows), np.uint32)
                blocks.append(np.concatenate([head, acts], axis=1))
            parts.append(np.concatenate(blocks, axis=1).ravel())
            n_resp += len(x) * group[0].columns
        return Segment(name, np.concatenate(parts), n_resp, chunk=chunk, pad_mvms=pad_mvms, layer=name,
                       out_shape=(len(x), ql.layer.c_out), seed=seed)

    def decode(self, seg, resp):
        """Layer outputs (MVMs, c_out) int64 from the segment's response words."""
        vals = self._words(seg, resp)
        y = np.zeros(seg.out_shape, np.int64)
        pos = 0
        for group in self._groups(seg.layer):
            a = group[0]
            n = seg.out_shape[0] * a.columns
            y[:, a.col_start:a.col_stop] = vals[pos:pos + n].reshape(seg.out_shape[0], a.columns)
            pos += n
        return y

    def raw_segment(self, li, x, chunk, pad_mvms=0, seed=None):
        """Layer ``li``'s accumulators before BN on input vectors ``x``: its single tiles switched to RAW mode, then
        every tile routed alone (a row-split group's partial sums come out separately; the chip's reducer has no
        raw readout) and its MVMs streamed. Decode with :meth:`decode_raw`."""
        ql = self.chip.qlayers[li]
        name = ql.layer.name
        w = []
        for group in self._groups(name):
            if len(group) == 1:
                self._write(w, group[0].tile, TileReg.MODE, TILE_MODE.encode(autostart=1, raw=1))
        parts, n_resp = [np.array(w, np.uint32)], 0
        for a in self.mapping.layer_tiles(name):
            acts = pack_activations(x[:, a.row_start:a.row_stop], self.fmt.b_in)
            head = np.full((len(x), 1), header(Op.ACT, a.tile, a.rows), np.uint32)
            parts += [np.array([header(Op.ROUTE, a.tile, 1)], np.uint32),
                      np.concatenate([head, acts], axis=1).ravel()]
            n_resp += len(x) * a.columns
        return Segment(f"{name}.raw", np.concatenate(parts), n_resp, chunk=chunk, pad_mvms=pad_mvms, layer=name,
                       out_shape=(len(x), ql.layer.c_out), seed=seed)

    def decode_raw(self, seg, resp):
        """Accumulators (MVMs, c_out) after partial-sum reduction (model/arith.py, in tile order) from the response
        words of a :meth:`raw_segment`."""
        vals = self._words(seg, resp)
        mvms = seg.out_shape[0]
        parts, pos = {}, 0
        for a in self.mapping.layer_tiles(seg.layer):
            parts.setdefault(a.col_block, []).append(vals[pos:pos + mvms * a.columns].reshape(mvms, a.columns))
            pos += mvms * a.columns
        acc = np.zeros(seg.out_shape, np.int64)
        for group in self._groups(seg.layer):
            p = parts[group[0].col_block]
            acc[:, group[0].col_start:group[0].col_stop] = reduce_partial_sums(np.stack(p), self.fmt)[0] \
                if len(p) > 1 else p[0]
        return acc

    def registers_segment(self, li, registers):
        """Write layer ``li``'s BN registers ``registers`` ({(layer, column block): (scale, bias, shift)}) and read
        them back (:meth:`_bn_words`); its single tiles return to BN mode. Decode with :meth:`decode_readback`."""
        ql = self.chip.qlayers[li]
        name = ql.layer.name
        w = []
        for group in self._groups(name):
            self._bn_words(w, group, ql, registers[(name, group[0].col_block)], readback=True)
            if len(group) == 1:
                self._write(w, group[0].tile, TileReg.MODE, TILE_MODE.encode(autostart=1))
        words = np.array(w, np.uint32)
        return Segment(f"{name}.registers", words, self._reads(words), layer=name)

    def decode_readback(self, seg, resp):
        """{(layer, column block): (scale, bias, shift)} as READ back by a :meth:`registers_segment`."""
        vals = self._words(seg, resp)
        out, pos = {}, 0
        for group in self._groups(seg.layer):
            n = group[0].columns
            sb = vals[pos:pos + 2 * n].reshape(n, 2)
            scale, bias = sb[:, 0], sb[:, 1]
            pos += 2 * n
            out[(seg.layer, group[0].col_block)] = (scale, bias, BN_CTRL.decode(vals[pos]).shift)
            pos += 1
        return out

    @staticmethod
    def _reads(words):
        """Response words of a program of WRITEs and READs: one per READ (a WRITE's data word skipped)."""
        n, i = 0, 0
        while i < len(words):
            op = decode_header(words[i]).op
            n += op == Op.READ
            i += 2 if op == Op.WRITE else 1
        return n

    @staticmethod
    def _words(seg, resp):
        vals = np.asarray(resp, np.uint32).view(np.int32).astype(np.int64)
        if len(vals) != seg.n_resp:
            raise ValueError(f"segment {seg.name}: expected {seg.n_resp} response words, got {len(vals)}")
        return vals

    # -- programs -----------------------------------------------------------------------------------------------------
    def session(self, pixels):
        """Generator: yields segments, receives each one's response words; returns a :class:`RunResult`.

        Images go in chunks of ``CHUNK`` (model/chip.py): per chunk, every layer's segment, the host's pooling and
        im2col done on the returned outputs.
        """
        q_all = _codes(pixels)
        yield from self._configure()
        return (yield from self._classify(q_all))

    def _configure(self):
        resp = yield self.config_segment()
        if len(resp):
            raise ValueError(f"configuration returned {len(resp)} words, expected none")

    def _classify(self, q_all, seed=None):
        from neurophase.model.chip import CHUNK
        logits, outs = [], {ql.layer.name: [] for ql in self.chip.qlayers}
        for ci, c0 in enumerate(range(0, len(q_all), CHUNK)):
            q = q_all[c0:c0 + CHUNK]
            for li, ql in enumerate(self.chip.qlayers):
                x = layer_vectors(q, ql.layer)
                seg = self.layer_segment(li, x, ci, CHUNK * (len(x) // len(q)), seed)
                y = self.decode(seg, (yield seg))
                outs[ql.layer.name].append(y)
                q = next_codes(y, q, ql.layer)
            logits.append(q)
        n_out = self.chip.qlayers[-1].layer.c_out
        return RunResult(np.concatenate(logits) if logits else np.zeros((0, n_out), np.int64),
                         {k: np.concatenate(v) for k, v in outs.items() if v})

    def recalibration_session(self, reference, pixels=None, seed=None):
        """Generator: global BN recalibration through the chip (docs/architecture.md D6), then optionally the
        classification of ``pixels``; returns a :class:`RecalResult`.

        The chip is configured with the programming-time registers of ``reference`` (model/drift.py
        ``DriftReference``). Then layer by layer, in network order: the calibration images' activations of the layer
        (from the earlier layers, already recalibrated) are streamed in chunks of ``CHUNK`` images with the layer's
        tiles in RAW mode (:meth:`raw_segment`, read-noise seed ``seed``, default model/drift.py's
        ``CALIBRATION_SEED``); the new registers are model/drift.py ``recalibrate_layer`` of the accumulators the
        chip returned; they are written and read back (:meth:`registers_segment`); the next layer's calibration
        inputs are those accumulators through BN with the new registers (model/arith.py ``bn_requantise``, the
        chip's BN contract), which saves streaming the layer a second time. This is model/drift.py
        ``recalibrate_bn`` step for step: same images, chunks and read-noise draws, so the golden executor gives its
        registers bit for bit. ``pixels`` then run as in :meth:`session` (the executor's own read-noise seed).
        """
        from neurophase.model.chip import CHUNK
        from neurophase.model.drift import CALIBRATION_SEED, calibration_images, recalibrate_layer
        seed = CALIBRATION_SEED if seed is None else check_int("seed", seed, 0, 2 ** 63 - 1)
        q_test = None if pixels is None else _codes(pixels)
        self.registers = {k: (s.copy(), b.copy(), r) for k, (s, b, r) in reference.registers.items()}
        yield from self._configure()
        q_cal = input_codes(calibration_images(reference.n_calibration))
        chunks = [q_cal[c0:c0 + CHUNK] for c0 in range(0, len(q_cal), CHUNK)]
        accs, readback = {}, {}
        for li, ql in enumerate(self.chip.qlayers):
            name = ql.layer.name
            per_chunk = []
            for ci, q in enumerate(chunks):
                x = layer_vectors(q, ql.layer)
                seg = self.raw_segment(li, x, ci, CHUNK * (len(x) // len(q)), seed)
                per_chunk.append(self.decode_raw(seg, (yield seg)))
            accs[name] = np.concatenate(per_chunk)
            self.registers.update(recalibrate_layer(self.chip, name, accs[name], reference))
            seg = self.registers_segment(li, self.registers)
            readback.update(self.decode_readback(seg, (yield seg)))
            if not ql.last:
                chunks = [next_codes(self.chip.layer_outputs(ql, a, self.registers), q, ql.layer)
                          for a, q in zip(per_chunk, chunks)]
        run = None if q_test is None else (yield from self._classify(q_test))
        return RecalResult(dict(self.registers), readback, accs, run)


def _codes(pixels):
    q = input_codes(pixels)
    if q.shape[1:] != INPUT_SHAPE:
        raise ValueError(f"pixels must have shape (N, {', '.join(map(str, INPUT_SHAPE))}), got {q.shape}")
    return q


@dataclass
class RecalResult:
    """What :meth:`Host.recalibration_session` returns: the registers it computed and wrote, what the chip read
    back, the raw accumulators it measured (layer -> (calibration MVMs, c_out)) and the test run (or None)."""
    registers: dict
    readback: dict
    acc: dict
    run: RunResult = None

    def readback_mismatches(self):
        """Register values read back that differ from the ones written (scale, bias, shift)."""
        bad = 0
        for key, (s, b, r) in self.registers.items():
            bs, bb, br = self.readback[key]
            bad += int(np.count_nonzero(bs != s)) + int(np.count_nonzero(bb != b)) + int(br != r)
        return bad


def register_mismatches(got, want):
    """Register values (every channel's scale and bias, each block's shift) that differ between two register sets
    {(layer, column block): (scale, bias, shift)}; a block missing from either counts all its values."""
    bad = 0
    for key in set(got) | set(want):
        if key not in got or key not in want:
            s, b, _ = got.get(key) or want[key]
            bad += 2 * len(s) + 1
            continue
        (gs, gb, gr), (ws, wb, wr) = got[key], want[key]
        if len(gs) != len(ws):
            bad += 2 * max(len(gs), len(ws)) + 1
            continue
        bad += int(np.count_nonzero(gs != ws)) + int(np.count_nonzero(gb != wb)) + int(gr != wr)
    return bad


def run_program(session, execute):
    """Drive a :meth:`Host.session` with ``execute(segment) -> response words``; returns its result."""
    seg = next(session)
    while True:
        try:
            seg = session.send(execute(seg))
        except StopIteration as stop:
            return stop.value


# The reducer's BN registers under the names of the tile registers they behave as.
_RED_NAMES = SimpleNamespace(**{reg.name: chip_reg for chip_reg, reg in RED_BN_REGS.items()})


class _TileState:
    """A tile's registers as the golden executor tracks them."""

    def __init__(self, columns, rows, adc_range):
        self.regs = {TileReg.ROWS_USED: rows, TileReg.COLS_USED: columns, TileReg.BN_CTRL: 0, TileReg.MODE: 0,
                     TileReg.ADC_RANGE: adc_range, TileReg.BN_CHANNEL: 0, TileReg.BN_SCALE: 0, TileReg.BN_BIAS: 0,
                     TileReg.MVM_COUNT: 0}
        self.scale = np.zeros(columns, np.int64)
        self.bias = np.zeros(columns, np.int64)
        self.version = 0


def _signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


class GoldenExecutor:
    """Executes command programs on the golden model: model/chip.py's programmed tiles (drift to ``t``, read noise
    seeded by ``seed`` per tile and chunk), model/arith.py's reduction and BN. A program error that the chip flags
    in its ERRORS register raises ValueError here, naming the command word. After each :meth:`execute`,
    ``last_mvms`` maps every tile that ran MVMs to (activations (MVMs, rows), bit-plane currents (b_in, MVMs,
    columns) in A): what a crossbar stand-in replays."""

    def __init__(self, chip, t, seed):
        self.chip = chip
        self.t = check_nonnegative("t (s)", t)
        self.seed = check_int("seed", seed, 0, 2 ** 63 - 1)
        self.fmt = chip.config.fmt
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
            st.scale = st.scale.copy()
            st.bias = st.bias.copy()
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

    def tile(self, n):
        """The programmed golden tile seen through the ADC range its register holds."""
        rng = self.tiles[n].regs[TileReg.ADC_RANGE]
        key = (n, rng)
        if key not in self._adc_tiles:
            tile = self.chip.tiles[n]
            i_fs = adc_range_current(rng)
            if not np.isclose(i_fs, tile.adc.i_fs, rtol=1e-12, atol=0):
                tile = tile.with_adc(AdcConfig(tile.adc.bits, i_fs, tile.adc.frac_bits))
            self._adc_tiles[key] = tile
        return self._adc_tiles[key]

    def execute(self, seg):
        """Run ``seg``; returns its response words (uint32)."""
        words = np.asarray(seg.words, np.uint32)
        n_tiles = len(self.chip.tiles)
        vectors = {}                        # tile -> list of activation vectors in ACT order
        queues = {}                         # tile -> indices of vectors not yet taken by an output
        out = []                            # ("word", value) or ("mvm", group, indices, snapshot)
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
                vectors.setdefault(tile, []).append(x)
                queues.setdefault(tile, []).append(len(vectors[tile]) - 1)
                group = tuple(range(base, base + size))
                if all(queues.get(g) for g in group):
                    idx = tuple(queues[g].pop(0) for g in group)
                    out.append(("mvm", group, idx, self._snapshot(group)))
        acc = self._mvms(seg, vectors)
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
        return (cols.pop(), raw, regs.scale, regs.bias, ctrl.shift, bool(ctrl.relu), bool(ctrl.last))

    def _mvms(self, seg, vectors):
        """Every tile's accumulators of its vectors, one batched MVM per tile (padded to the chunk's draw)."""
        acc = {}
        self.last_mvms = {}
        for n, vs in vectors.items():
            x = np.array(vs)
            rows = self.chip.tiles[n].weight_shape[0]
            if x.shape[1] != rows:
                raise ValueError(f"tile {n} holds {rows} rows of weights, got {x.shape[1]} activations per MVM")
            if seg.pad_mvms and seg.pad_mvms > len(x):
                x = np.concatenate([x, np.zeros((seg.pad_mvms - len(x), rows), np.int64)])
            rng = np.random.default_rng([self.seed if seg.seed is None else seg.seed, n, seg.chunk])
            res = self.tile(n).mvm(x, self.t, rng)
            acc[n] = res.acc[:len(vs)]
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
            cols, raw, scale, bias, shift, relu, last = snap
            idx = np.array([o[2] for o in out[k:j]])
            parts = np.stack([acc[g][idx[:, m], :cols] for m, g in enumerate(group)])
            total, _ = reduce_partial_sums(parts, self.fmt) if len(group) > 1 else (parts[0], 0)
            if not raw:
                total, _ = bn_requantise(total, scale[:cols], bias[:cols], shift, self.fmt, relu=relu, last=last)
            words.append(total.ravel())
            k = j
        return (np.concatenate(words) if words else np.zeros(0, np.int64)).astype(np.int64).astype(np.uint32)


def run_golden(chip, pixels, t, seed):
    """Run the compiled program for ``pixels`` on the golden executor; returns a :class:`RunResult`."""
    ex = GoldenExecutor(chip, t, seed)
    return run_program(Host(chip).session(pixels), ex.execute)
