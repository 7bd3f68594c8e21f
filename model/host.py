"""Host compiler: a mapped network compiled into the chip's command program, and the host's work between layers.

Ref: docs/architecture.md §4, §5, D7, D9. The chip (rtl/chip.py) takes 32-bit command words and answers with 32-bit
response words, encoded as model/interface.py defines them. This module compiles programs for any network on a
programmed :class:`~neurophase.model.chip.Chip`; an executor runs them: the golden model's (model/executor.py
``GoldenExecutor``), or the RTL through the chip's command interface (tb/chip_tb.py).

Program structure. :class:`Host` is a generator-driven session (:meth:`Host.session`): it yields one
:class:`Segment` (a block of command words for one chip and the number of response words it produces) at a time
and receives the responses, so the host's work between layers (D7, D9: input codes, padding, im2col, pooling,
residual adds, flattening, argmax; model/host_ops.py ``schedule``) is done on whatever the executor returned - the
RTL's own outputs in a testbench. The first segment of each chip configures its tiles (ROWS_USED, COLS_USED,
ADC_RANGE, BN registers, MODE); then, per chunk of ``ChipConfig.chunk`` inputs and per layer, one segment per chip
holding part of the layer: per column block, the reducer's BN registers (row-split layers only), a ROUTE to the
block's tiles, and one ACT per MVM and row-block tile. Tiles are addressed by their slot on their chip
(model/mapper.py). :func:`run_program` drives a session with an executor.

BN recalibration (:meth:`Host.recalibration_session`, docs/architecture.md D6): the same configuration, then per
layer the calibration inputs' MVMs with the layer's tiles read out raw (pre-BN accumulators), the new registers
computed from what the chip returned by model/drift.py's ``recalibrate_layer`` (the one definition of the
arithmetic), written and read back through the command interface, and finally test inputs classified with them.

Read noise. The golden model draws each tile's read noise per (seed, tile, chunk of inputs). A segment carries its
chunk number, the padded MVM count and, for calibration runs, its own seed (model/drift.py's ``CALIBRATION_SEED``),
so the golden executor makes the same draws as model/chip.py (the chip ignores them).
"""

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from neurophase.model.arith import BnRegisters, reduce_partial_sums
from neurophase.model.checks import check_int
from neurophase.model.host_ops import schedule
from neurophase.model.interface import (BN_CTRL, CHIP_TARGET, RED_BN_REGS, TILE_MODE, ChipCtrl, ChipReg, Op, TileCtrl,
                                        TileReg, adc_range_code, decode_header, header, pack_activations)

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
    chip: int = 0                    # the chip (or programming pass) the words go to


@dataclass
class RunResult:
    """Outputs of the run (a classifier's logits) and every layer's outputs (MVMs of all inputs, channels), as the
    host assembled them."""
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
        self._index = {ql.name: li for li, ql in enumerate(chip.qlayers)}

    # -- compilation ------------------------------------------------------------------------------------------------
    def _groups(self, layer, chip=None):
        """Column blocks of ``layer`` (on chip ``chip``, or all): lists of tile assignments whose accumulators are
        added (tile order)."""
        blocks = {}
        for a in self.mapping.layer_tiles(layer):
            if chip is None or a.chip == chip:
                blocks.setdefault(a.col_block, []).append(a)
        return [blocks[cb] for cb in sorted(blocks)]

    def _chips(self, layer):
        """The chips holding part of ``layer``, in order."""
        return sorted({a.chip for a in self.mapping.layer_tiles(layer)})

    @staticmethod
    def _write(words, tile, reg, value):
        words += [header(Op.WRITE, tile, int(reg)), int(value) & 0xFFFF_FFFF]

    def _bn_words(self, w, group, ql, regs, readback=False):
        """WRITEs of column block ``group``'s BN registers ``regs`` (BnRegisters): its tile's, or the chip's
        reducer's (RED_BN_*) for a row-split group. With ``readback``, each staged scale and bias is READ back after
        its WRITE and the control word at the end: :meth:`decode_readback`."""
        tile, names = (group[0].slot, TileReg) if len(group) == 1 else (CHIP_TARGET, _RED_NAMES)
        self._write(w, tile, names.BN_CTRL, BN_CTRL.encode(shift=regs.shift, relu=ql.relu, last=ql.last))
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

    def _mode(self, a, raw):
        return TILE_MODE.encode(autostart=1, raw=int(raw), encoding=int(self.chip.encoding(a.tile)))

    def config_segment(self, chip=0):
        """Configure every tile of chip ``chip``: geometry in use, ADC range, BN registers (or RAW mode in a
        reduction group), input encoding, AUTOSTART; clear the chip's and the tiles' counters and errors."""
        w = []
        self._write(w, CHIP_TARGET, ChipReg.CTRL, ChipCtrl.CLEAR_COUNTERS | ChipCtrl.CLEAR_ERRORS)
        for ql in self.chip.qlayers:
            for group in self._groups(ql.name, chip):
                for a in group:
                    n = a.slot
                    self._write(w, n, TileReg.ROWS_USED, a.rows)
                    self._write(w, n, TileReg.COLS_USED, a.columns)
                    self._write(w, n, TileReg.ADC_RANGE, adc_range_code(self.chip.i_fs[a.tile]))
                    if len(group) == 1:
                        self._bn_words(w, group, ql, self.registers[(a.layer, a.col_block)])
                    self._write(w, n, TileReg.MODE, self._mode(a, len(group) > 1))
                    self._write(w, n, TileReg.CTRL, TileCtrl.CLEAR_ERRORS | TileCtrl.CLEAR_COUNTERS)
        return Segment("config" if chip == 0 else f"config.chip{chip}", np.array(w, np.uint32), 0, chip=chip)

    def _acts(self, a, x):
        """ACT words of tile ``a``'s rows of vectors ``x``: (MVMs, 1 + words) with the header first."""
        acts = pack_activations(x[:, a.row_start:a.row_stop], self.fmt.b_in)
        return np.concatenate([np.full((len(x), 1), header(Op.ACT, a.slot, a.rows), np.uint32), acts], axis=1)

    def layer_segment(self, li, x, chunk, pad_mvms=0, seed=None, chip=0):
        """The MVMs of layer ``li`` on input vectors ``x`` (MVMs, fan_in) on chip ``chip``, in MVM order per column
        block."""
        ql = self.chip.qlayers[li]
        name = ql.name
        parts, n_resp = [], 0
        for group in self._groups(name, chip):
            w = []
            if len(group) > 1:
                self._bn_words(w, group, ql, self.registers[(name, group[0].col_block)])
            w.append(header(Op.ROUTE, group[0].slot, len(group)))
            parts.append(np.array(w, np.uint32))
            parts.append(np.concatenate([self._acts(a, x) for a in group], axis=1).ravel())
            n_resp += len(x) * group[0].columns
        return Segment(name, np.concatenate(parts), n_resp, chunk=chunk, pad_mvms=pad_mvms, layer=name,
                       out_shape=(len(x), ql.layer.c_out), seed=seed, chip=chip)

    def decode(self, seg, resp, into=None):
        """Layer outputs (MVMs, c_out) int64 from the segment's response words (written into ``into``, the layer's
        outputs from its other chips, when given)."""
        vals = self._words(seg, resp)
        y = np.zeros(seg.out_shape, np.int64) if into is None else into
        pos = 0
        for group in self._groups(seg.layer, seg.chip):
            a = group[0]
            n = seg.out_shape[0] * a.columns
            y[:, a.col_start:a.col_stop] = vals[pos:pos + n].reshape(seg.out_shape[0], a.columns)
            pos += n
        return y

    def _layer(self, li, x, chunk, pad_mvms, seed=None, raw=False):
        """Generator: layer ``li``'s segments on vectors ``x``, one per chip holding it; returns its outputs (or, with
        ``raw``, its accumulators after partial-sum reduction)."""
        name = self.chip.qlayers[li].name
        y = np.zeros((len(x), self.chip.qlayers[li].layer.c_out), np.int64)
        for c in self._chips(name):
            if raw:
                seg = self.raw_segment(li, x, chunk, pad_mvms, seed, chip=c)
                self.decode_raw(seg, (yield seg), y)
            else:
                seg = self.layer_segment(li, x, chunk, pad_mvms, seed, chip=c)
                self.decode(seg, (yield seg), y)
        return y

    def raw_segment(self, li, x, chunk, pad_mvms=0, seed=None, chip=0):
        """Layer ``li``'s accumulators before BN on input vectors ``x`` (its tiles on chip ``chip``): its single tiles
        switched to RAW mode, then every tile routed alone (a row-split group's partial sums come out separately; the
        chip's reducer has no raw readout) and its MVMs streamed. Decode with :meth:`decode_raw`."""
        ql = self.chip.qlayers[li]
        name = ql.name
        w = []
        for group in self._groups(name, chip):
            if len(group) == 1:
                self._write(w, group[0].slot, TileReg.MODE, self._mode(group[0], True))
        parts, n_resp = [np.array(w, np.uint32)], 0
        for group in self._groups(name, chip):
            for a in group:
                parts += [np.array([header(Op.ROUTE, a.slot, 1)], np.uint32), self._acts(a, x).ravel()]
                n_resp += len(x) * a.columns
        return Segment(f"{name}.raw", np.concatenate(parts), n_resp, chunk=chunk, pad_mvms=pad_mvms, layer=name,
                       out_shape=(len(x), ql.layer.c_out), seed=seed, chip=chip)

    def decode_raw(self, seg, resp, into=None):
        """Accumulators (MVMs, c_out) after partial-sum reduction (model/arith.py, in tile order) from the response
        words of a :meth:`raw_segment` (written into ``into`` when given)."""
        vals = self._words(seg, resp)
        mvms = seg.out_shape[0]
        acc = np.zeros(seg.out_shape, np.int64) if into is None else into
        pos = 0
        for group in self._groups(seg.layer, seg.chip):
            parts = []
            for a in group:
                parts.append(vals[pos:pos + mvms * a.columns].reshape(mvms, a.columns))
                pos += mvms * a.columns
            acc[:, group[0].col_start:group[0].col_stop] = reduce_partial_sums(np.stack(parts), self.fmt)[0] \
                if len(parts) > 1 else parts[0]
        return acc

    def registers_segment(self, li, registers, chip=0):
        """Write layer ``li``'s BN registers ``registers`` ({(layer, column block): BnRegisters}) on chip ``chip``
        and read them back (:meth:`_bn_words`); its single tiles return to BN mode. Decode with
        :meth:`decode_readback`."""
        ql = self.chip.qlayers[li]
        name = ql.name
        w = []
        for group in self._groups(name, chip):
            self._bn_words(w, group, ql, registers[(name, group[0].col_block)], readback=True)
            if len(group) == 1:
                self._write(w, group[0].slot, TileReg.MODE, self._mode(group[0], False))
        words = np.array(w, np.uint32)
        return Segment(f"{name}.registers", words, self._reads(words), layer=name, chip=chip)

    def decode_readback(self, seg, resp):
        """{(layer, column block): BnRegisters} as READ back by a :meth:`registers_segment`."""
        vals = self._words(seg, resp)
        out, pos = {}, 0
        for group in self._groups(seg.layer, seg.chip):
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
    def session(self, x):
        """Generator: yields segments, receives each one's response words; returns a :class:`RunResult`.

        Inputs ``x`` (the network's ONNX layout) go in chunks of ``ChipConfig.chunk``: per chunk, every layer's
        segments, the host's steps between layers done on the returned outputs.
        """
        q_all = self.chip.network.input_codes(x)
        yield from self._configure()
        return (yield from self._classify(q_all))

    def _configure(self):
        for c in range(self.mapping.chips):
            resp = yield self.config_segment(c)
            if len(resp):
                raise ValueError(f"configuration returned {len(resp)} words, expected none")

    def _chunks(self, q_all):
        chunk = self.chip.config.chunk
        return [q_all[c0:c0 + chunk] for c0 in range(0, len(q_all), chunk)]

    def _classify(self, q_all, seed=None):
        outs = {ql.name: [] for ql in self.chip.qlayers}
        results = []
        chunk = self.chip.config.chunk
        for ci, q in enumerate(self._chunks(q_all)):
            steps = schedule(self.chip.network, q)
            request = next(steps)
            while request is not None:
                ql, x = request
                y = yield from self._layer(self._index[ql.name], x, ci, chunk * (len(x) // len(q)), seed)
                outs[ql.name].append(y)
                request, out = _advance(steps, y)
            results.append(out)
        shape = self.chip.network.network.shape(self.chip.network.network.output)
        return RunResult(np.concatenate(results) if results else np.zeros((0,) + shape, np.int64),
                         {k: np.concatenate(v) for k, v in outs.items() if v})

    def recalibration_session(self, reference, x=None, seed=None):
        """Generator: global BN recalibration through the chip (docs/architecture.md D6), then optionally the
        classification of inputs ``x``; returns a :class:`RecalResult`.

        The chip is configured with the programming-time registers of ``reference`` (model/drift.py
        ``DriftReference``). Then layer by layer, in network order: the calibration inputs' activations of the layer
        (from the earlier layers, already recalibrated) are streamed in chunks with the layer's tiles in RAW mode
        (:meth:`raw_segment`, read-noise seed ``seed``, default model/drift.py's ``CALIBRATION_SEED``); the new
        registers are model/drift.py ``recalibrate_layer`` of the accumulators the chip returned; they are written and
        read back (:meth:`registers_segment`); the next layer's calibration inputs are those accumulators through BN
        with the new registers (model/arith.py ``bn_requantise``, the chip's BN contract) and the host's steps, which
        saves streaming the layer a second time. This is model/drift.py ``recalibrate_bn`` step for step: same inputs,
        chunks and read-noise draws, so the golden executor gives its registers bit for bit. ``x`` then runs as in
        :meth:`session` (the executor's own read-noise seed).
        """
        from neurophase.model.drift import CALIBRATION_SEED, calibration_images, recalibrate_layer
        seed = CALIBRATION_SEED if seed is None else check_int("seed", seed, 0, 2 ** 63 - 1)
        net = self.chip.network
        q_test = None if x is None else net.input_codes(x)
        self.registers = dict(reference.registers)
        yield from self._configure()
        chunks = self._chunks(net.input_codes(calibration_images(net, reference.n_calibration)))
        walks = [schedule(net, q) for q in chunks]
        requests = [next(w) for w in walks]
        accs, readback = {}, {}
        chunk = self.chip.config.chunk
        for li, ql in enumerate(self.chip.qlayers):
            per_chunk = []
            for ci, ((_, x_cal), q) in enumerate(zip(requests, chunks)):
                per_chunk.append((yield from self._layer(li, x_cal, ci, chunk * (len(x_cal) // len(q)), seed,
                                                         raw=True)))
            accs[ql.name] = np.concatenate(per_chunk)
            self.registers.update(recalibrate_layer(self.chip, ql.name, accs[ql.name], reference))
            for c in self._chips(ql.name):
                seg = self.registers_segment(li, self.registers, chip=c)
                readback.update(self.decode_readback(seg, (yield seg)))
            requests = [_advance(w, self.chip.layer_outputs(ql, a, self.registers))[0]
                        for w, a in zip(walks, per_chunk)]
        run = None if q_test is None else (yield from self._classify(q_test))
        return RecalResult(dict(self.registers), readback, accs, run)


def _advance(steps, y):
    """Send a layer's outputs into a :func:`~neurophase.model.host_ops.schedule`: (next request, None), or (None,
    the network's output) when it is done."""
    try:
        return steps.send(y), None
    except StopIteration as stop:
        return None, stop.value


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

