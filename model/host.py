"""Host compiler: the mapped network compiled into the chip's command program, and the host's work between layers.

Ref: docs/architecture.md §4, §5, D7. The chip (rtl/chip.py) takes 32-bit command words and answers with 32-bit
response words, encoded as model/interface.py defines them. This module compiles programs for the reference network
on a programmed :class:`~neurophase.model.chip.Chip`; an executor runs them: the golden model's
(model/executor.py ``GoldenExecutor``), or the RTL through the chip's command interface (tb/chip_tb.py).

Program structure. :class:`Host` is a generator-driven session (:meth:`Host.session`): it yields one
:class:`Segment` (a block of command words and the number of response words it produces) at a time and receives
the responses, so the host's work between layers (D7: input codes, zero padding, im2col, 2x2 max pooling, global
average pooling, argmax) is done on whatever the executor returned - the RTL's own outputs in a testbench. The
first segment configures every tile (ROWS_USED, COLS_USED, ADC_RANGE, BN registers, MODE with the tile's input
encoding from the chip model, ``Chip.encoding``, docs/architecture.md D8); then, per chunk of
``CHUNK`` images and per layer, one segment: per column block, the reducer's BN registers (row-split layers only),
a ROUTE to the block's tiles, and one ACT per MVM and row-block tile. :func:`run_program` drives a session with an
executor.

BN recalibration (:meth:`Host.recalibration_session`, docs/architecture.md D6): the same configuration, then per
layer the calibration images' MVMs with the layer's tiles read out raw (pre-BN accumulators), the new registers
computed from what the chip returned by model/drift.py's ``recalibrate_layer`` (the one definition of the
arithmetic), written and read back through the command interface, and finally test images classified with them.

Read noise. The golden model draws each tile's read noise per (seed, tile, chunk of ``CHUNK`` images). A segment
carries its chunk number, the padded MVM count and, for calibration runs, its own seed (model/drift.py's
``CALIBRATION_SEED``), so the golden executor makes the same draws as model/chip.py (the chip ignores them).
"""

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from neurophase.model.arith import BnRegisters, reduce_partial_sums
from neurophase.model.checks import check_int
from neurophase.model.interface import (BN_CTRL, CHIP_TARGET, RED_BN_REGS, TILE_MODE, ChipCtrl, ChipReg, Op, TileCtrl,
                                        TileReg, adc_range_code, decode_header, header, pack_activations)
from neurophase.model.network import INPUT_SHAPE, input_codes, layer_vectors, next_codes

__all__ = ["Segment", "Host", "RunResult", "RecalResult", "register_mismatches", "run_program"]

# The reducer's BN registers under the names of the tile registers they behave as.
_RED_NAMES = SimpleNamespace(**{reg.name: chip_reg for chip_reg, reg in RED_BN_REGS.items()})


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
        # The BN registers the host programs: (layer, column block) -> BnRegisters; a recalibration rewrites them.
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

    def _write_mode(self, words, tile, raw):
        """WRITE tile ``tile``'s MODE: AUTOSTART, ``raw`` accumulators or BN outputs, and its input encoding."""
        self._write(words, tile, TileReg.MODE, TILE_MODE.encode(autostart=1, raw=raw,
                                                                encoding=self.chip.encoding(tile)))

    def _bn_words(self, w, group, ql, regs, readback=False):
        """WRITEs of column block ``group``'s BN registers ``regs`` (BnRegisters): its tile's, or the chip's
        reducer's (RED_BN_*) for a row-split group. With ``readback``, each staged scale and bias is READ back after
        its WRITE and the control word at the end: :meth:`decode_readback`."""
        tile, names = (group[0].tile, TileReg) if len(group) == 1 else (CHIP_TARGET, _RED_NAMES)
        self._write(w, tile, names.BN_CTRL, BN_CTRL.encode(shift=regs.shift, relu=not ql.last, last=ql.last))
        self._write(w, tile, names.BN_CHANNEL, 0)
        for sj, bj in zip(regs.scale.tolist(), regs.bias.tolist()):
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
        AUTOSTART and the tile's input encoding; clear the chip's and the tiles' counters and errors."""
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
                    self._write_mode(w, n, raw=len(group) > 1)
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
                self._write_mode(w, group[0].tile, raw=True)
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
        """Write layer ``li``'s BN registers ``registers`` ({(layer, column block): BnRegisters}) and read them
        back (:meth:`_bn_words`); its single tiles return to BN mode. Decode with :meth:`decode_readback`."""
        ql = self.chip.qlayers[li]
        name = ql.layer.name
        w = []
        for group in self._groups(name):
            self._bn_words(w, group, ql, registers[(name, group[0].col_block)], readback=True)
            if len(group) == 1:
                self._write_mode(w, group[0].tile, raw=False)
        words = np.array(w, np.uint32)
        return Segment(f"{name}.registers", words, self._reads(words), layer=name)

    def decode_readback(self, seg, resp):
        """{(layer, column block): BnRegisters} as READ back by a :meth:`registers_segment`."""
        vals = self._words(seg, resp)
        out, pos = {}, 0
        for group in self._groups(seg.layer):
            n = group[0].columns
            sb = vals[pos:pos + 2 * n].reshape(n, 2)
            pos += 2 * n
            out[(seg.layer, group[0].col_block)] = BnRegisters(sb[:, 0], sb[:, 1], BN_CTRL.decode(vals[pos]).shift)
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
        self.registers = dict(reference.registers)
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
        return sum(regs.mismatches(self.readback[key]) for key, regs in self.registers.items())


def register_mismatches(got, want):
    """Register values (every channel's scale and bias, each block's shift) that differ between two register sets
    {(layer, column block): BnRegisters}; a block missing from either counts all its values."""
    bad = 0
    for key in set(got) | set(want):
        if key in got and key in want:
            bad += got[key].mismatches(want[key])
        else:
            bad += 2 * (got.get(key) or want[key]).channels + 1
    return bad


def run_program(session, execute):
    """Drive a :meth:`Host.session` with ``execute(segment) -> response words``; returns its result."""
    seg = next(session)
    while True:
        try:
            seg = session.send(execute(seg))
        except StopIteration as stop:
            return stop.value

