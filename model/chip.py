"""Golden model of a network running on the chip's tiles, and the per-tile workloads for testbenches.

Ref: docs/architecture.md §2-§4, D3-D5, D7, D9; model/mapper.py (tile slices), model/quantise.py (the network's
8-bit codes and integer layers). Any quantised network runs here; the shipped digits CNN is the default.

Programming. Every mapped tile holds its slice of the layer's integer weights ``w_int`` (model/quantise.py, levels
-127..127) on differential pairs. The conductance per weight unit of a column, ``gpw_j = Gmax / max_i |w_int[i, j]|``
over the *whole* fan-in of the layer (D5 per-column scale), is shared by the tiles of a row-split layer, so that their
accumulators are in the same units and can be added before BN. Each tile is programmed with its own seed, derived
from the chip seed and the tile number (:func:`tile_seed`). A network larger than one chip is placed on several
(model/mapper.py); the golden model computes them alike (programmed at one time).

Input encoding. Each tile drives its wordlines bit-serially or by pulse-width modulation (``InputEncoding``, the
tile's MODE register; docs/architecture.md D8): ``ChipConfig.encoding`` is the chip-wide default and
``ChipConfig.tile_encodings`` names the tiles that use the other one. The tiles of a reduction group share one
encoding (their accumulators are added, so they must be in the same units).

ADC range. The full-scale current I_fs of each reduction group (the tiles whose accumulators are added; for a
layer without row split, one tile) is set from calibration data: the ``ifs_percentile`` percentile of |I| of the
read currents of the group's tiles in their encoding (bit-plane currents, or PWM window mean currents), computed with
the target (noise-free, undrifted) conductances on the first ``n_calibration`` of the network's *calibration* inputs
(for the digits CNN, training images; the test set is never used), on their activations from the 8-bit digital path
(evenly spaced MVMs, as many as ``calibration_macs`` multiply-accumulates of the layer's reads allow: all of them for
the digits CNN, about 110 of ResNet-50's largest layers, 10^5 currents or more per tile), rounded up to a whole number
of the ADC_RANGE register's
step (model/interface.py ``ADC_RANGE_STEP_A``, 10 nA). Why not a fixed full scale: the default 10 uA saturates about
half the conversions of a random 256 x 128 tile even with ideal devices. :meth:`Chip.run` counts, per layer, the
conversions that land on an ADC rail (``AdcCounts``), for the import report.

Defects (docs/architecture.md D11-D13, each off by default): wire resistance through ``ChipConfig.tile``
(``TileConfig.r_wordline``, ``r_bitline``), stuck devices through ``ChipConfig.pcm``, and what a tile is made with:
dead lines (``ChipConfig.faults``) and its column ADCs' offsets and gains and comparator noise
(``ChipConfig.adc_errors``), drawn per tile from the chip seed's manufacture streams (model/faults.py
``manufacture_rng``) when the chip is programmed, and saved with it.

Host side (not on the tiles): input codes, padding, im2col, pooling, residual adds, flattening (model/host_ops.py
``schedule``, exact integers on the codes); argmax of the signed logits.

MVM at time t after programming (t is the drift time of D1): ``CrossbarTile.mvm`` gives the read currents with drift
and fresh read noise, the ADC codes and the accumulators (shift-and-add, or the PWM code); row-split tiles' accumulators
are added with ``reduce_partial_sums`` in tile order; ``bn_requantise`` with integer registers gives the next layer's
codes, or the signed outputs of a layer in last mode.

BN registers. For output channel j, acc_chip ~= acc_int * V_read * gpw_j / (W_enc * I_lsb), where W_enc is the read
window in unit times: 1 for bit-serial (the planes' codes, weighted 2^b by shift-and-add, sum to the whole MVM),
2^B_in - 1 for PWM (the ADC converts the mean current of a window of 2^B_in - 1 unit times, so the code is the MVM
divided by the window: for the same weights, inputs and I_fs, acc_pwm ~= acc_bit_serial / (2^B_in - 1)). So the real
multiplier of the 8-bit path (``QuantLayer.mult``: input scale x weight scale x folded BN / output scale) becomes
``mult_j * W_enc * I_lsb / (V_read * gpw_j)`` (``CrossbarTile.acc_unit``); ``affine_registers`` (model/quantise.py)
rounds it and the offset into the column block's :class:`~neurophase.model.arith.BnRegisters` (one shift per
reduction group). No drift compensation is folded in: remedies for drift rewrite ``Chip.registers``.

Read noise. A run processes its inputs in order in chunks of ``ChipConfig.chunk`` inputs (``CHUNK`` = 32 by default;
the last one padded with zero inputs), one batched MVM per tile and chunk, in blocks of at most ``MVM_BLOCK``
vectors; block k of tile n in chunk c of a run with seed s draws its read noise from ``default_rng([s, n, c])``
(block 0) or ``default_rng([s, n, c, k])``. So input i of a run has the same currents in every run with the same seed
and the same input sequence up to i, however many inputs follow: :meth:`Chip.tile_workload` for the first k test
inputs is a slice of a whole-chip run over the test set.
"""

import ast
import io
import os
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from neurophase.model.adc import AdcConfig, current_code, rail_hits
from neurophase.model.adc_errors import AdcErrors
from neurophase.model.arith import BnRegisters, PeripheryFormat, read_window, reduce_partial_sums, wordline_pulses
from neurophase.model.checks import check_int, check_nonnegative, check_positive
from neurophase.model.device import PcmModel, map_parallel
from neurophase.model.faults import ADC_STREAM, LINE_STREAM, FaultConfig, manufacture_rng
from neurophase.model.interface import InputEncoding, adc_range_covering, adc_range_current
from neurophase.model.mapper import ChipGeometry, map_network
from neurophase.model.quantise import (CALIBRATION_BATCH, W_LEVELS, affine_registers, digital_forward_layer,
                                      run_schedule)
from neurophase.model.tile import CrossbarTile, TileConfig
from neurophase.model.workload import works_from_mapping

__all__ = ["ChipConfig", "Chip", "TileWorkload", "RunTrace", "AdcCounts", "tile_seed", "CHUNK", "MVM_BLOCK",
           "max_images", "reference_chip", "tile_workload"]

CHUNK = 32          # inputs per batched MVM chunk by default (fixes the order of read-noise draws)
MVM_BLOCK = 8192    # vectors per tile MVM call at most: bounds the memory of a big layer's batch


@dataclass(frozen=True)
class ChipConfig:
    """Everything that defines a programmed chip besides the network and the seed."""
    pcm: PcmModel = PcmModel()
    fmt: PeripheryFormat = PeripheryFormat()
    tile: TileConfig = TileConfig()
    frac_bits: int = 8                  # comparator resolution of the current code (D3)
    ifs_percentile: float = 99.9        # of |read current| on calibration inputs
    n_calibration: int = 200            # calibration inputs used for the ADC ranges (all, when fewer)
    calibration_macs: int = 1 << 29     # multiply-accumulates per layer at most for the ADC-range currents
    chunk: int = CHUNK                  # inputs per batched MVM of a run (sets the read-noise draws)
    encoding: InputEncoding = InputEncoding.BIT_SERIAL  # input encoding of every tile not in tile_encodings (D8)
    tile_encodings: tuple = ()          # ((tile, encoding), ...): tiles whose MODE selects another encoding
    adc_errors: AdcErrors = AdcErrors()  # column ADC offset, gain and comparator noise (off; D12)
    faults: FaultConfig = FaultConfig()  # dead wordlines and bitlines per tile (off; D13)
    tiles: int = 144                    # tiles per chip: a network that needs more is placed on several chips

    def __post_init__(self):
        if not 50.0 <= self.ifs_percentile <= 100.0:
            raise ValueError(f"ifs_percentile must be in [50, 100], got {self.ifs_percentile}")
        check_int("n_calibration", self.n_calibration, 1, None)
        check_int("calibration_macs", self.calibration_macs, 1, None)
        check_int("chunk", self.chunk, 1, 4096)
        check_int("frac_bits", self.frac_bits, 1, 16)
        check_int("tiles", self.tiles, 1, 255)
        # Encodings may be given by label ("pwm"), as a saved chip holds them; they are kept as InputEncoding.
        object.__setattr__(self, "encoding", InputEncoding.parse(self.encoding))
        pairs = self.tile_encodings
        if not isinstance(pairs, (tuple, list)) or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
            raise ValueError(f"tile_encodings must be a tuple of (tile, encoding) pairs, got {pairs!r}")
        tiles = [check_int("tile_encodings tile", n, 0, None) for n, _ in pairs]
        if len(set(tiles)) != len(tiles):
            raise ValueError(f"tile_encodings must name each tile at most once, got tiles {tiles}")
        object.__setattr__(self, "tile_encodings",
                           tuple(sorted((int(n), InputEncoding.parse(e)) for n, e in pairs)))

    @property
    def geometry(self):
        return ChipGeometry(tiles=self.tiles, rows=self.tile.rows, columns=self.tile.columns)

    def encoding_of(self, tile):
        """The input encoding of tile ``tile``: its entry in ``tile_encodings``, else the chip-wide ``encoding``."""
        return dict(self.tile_encodings).get(tile, self.encoding)


def tile_seed(chip_seed, tile):
    """Programming seed of tile ``tile`` of a chip programmed with ``chip_seed`` (a 32-bit integer)."""
    return int(np.random.SeedSequence(check_int("seed", chip_seed, 0, None), spawn_key=(tile,)).generate_state(1)[0])


@dataclass
class TileWorkload:
    """Tile n's share of a run on k test inputs: what a tile testbench drives and what it must see, bit for bit.

    Arrays span the tile's full width (``columns`` logical columns). Columns past ``n_cols`` hold no weights: their
    devices are programmed to 0 S, but programming noise leaves small conductances, so their currents, codes and
    accumulators are small but not zero; their BN registers are 0, so their outputs are 0. ``outputs`` is
    ``bn.requantise`` of ``group_acc``: on a row-split tile it needs every group tile's accumulators. MVMs are
    ordered input by input, then output position (row-major over the layer's output H x W). Reads are the b_in
    bit-planes, MSB first (bit-serial), or the MVM's one PWM read, whose current is the mean current of its
    integration window (docs/architecture.md D8).
    """
    tile: int
    layer: str
    layer_index: int
    row_start: int               # first im2col row (wordline 0 of the tile)
    rows: int                    # wordlines used
    col_start: int               # first output channel (logical column 0 of the tile)
    n_cols: int                  # logical columns used
    columns: int                 # logical columns of the tile
    group: list                  # tiles whose accumulators are added before BN, in tile order
    weights: np.ndarray          # (rows, n_cols) int64 integer weights programmed on the tile
    g_per_weight: np.ndarray     # (n_cols,) siemens per weight unit
    adc: AdcConfig               # with this tile's I_fs
    fmt: PeripheryFormat
    t: float                     # seconds after programming
    seed: int                    # read-noise seed of the run
    images: np.ndarray           # test-input indices
    encoding: InputEncoding      # the tile's input encoding (MODE register)
    inputs: np.ndarray           # (mvms, rows) int64 unsigned 8-bit activations (MVM inputs)
    currents: np.ndarray         # (reads, mvms, columns) differential read currents, A; bit-plane 0 = MSB
    adc_currents: np.ndarray     # the currents as the comparators see them (ADC offset and gain, D12), A
    current_codes: np.ndarray    # (reads, mvms, columns) int64, model/adc.py current_code of adc_currents
    codes: np.ndarray            # (reads, mvms, columns) ADC codes
    acc: np.ndarray              # (mvms, columns) this tile's accumulators (model/arith.py accumulate)
    group_acc: np.ndarray        # (mvms, columns) reduce_partial_sums of the ``group`` tiles' accumulators
    bn: BnRegisters              # of this tile's output columns, over its ``columns`` (0 past ``n_cols``)
    relu: bool
    last: bool
    outputs: np.ndarray          # (mvms, columns) BN/requantised outputs (codes, or signed outputs if ``last``)

    @property
    def mvms(self):
        return self.inputs.shape[0]


@dataclass
class RunTrace:
    """What a recorded run keeps: per tile its MVM inputs and results; per layer its accumulators and outputs."""
    tile_inputs: dict = field(default_factory=dict)      # tile -> (mvms, rows)
    tile_currents: dict = field(default_factory=dict)    # tile -> (reads, mvms, columns) A
    tile_codes: dict = field(default_factory=dict)       # tile -> (reads, mvms, columns) ADC codes
    tile_acc: dict = field(default_factory=dict)         # tile -> (mvms, columns) accumulators
    layer_acc: dict = field(default_factory=dict)        # layer name -> (mvms, c_out) after partial-sum reduction
    layer_out: dict = field(default_factory=dict)        # layer name -> (mvms, c_out) after BN


@dataclass
class AdcCounts:
    """A layer's ADC conversions in a run (its tiles' used columns, real inputs only) and those whose code sits at
    the low or the high rail (the saturation the RTL counts, docs/architecture.md D3)."""
    conversions: int = 0
    low: int = 0
    high: int = 0

    @property
    def saturated(self):
        return self.low + self.high

    @property
    def fraction(self):
        return self.saturated / self.conversions if self.conversions else 0.0


@dataclass
class TileMvm:
    """Result of :meth:`Chip.tile_mvm`: accumulators, and the reads' currents and codes when kept."""
    acc: np.ndarray
    currents: np.ndarray = None
    codes: np.ndarray = None
    rails: tuple = (0, 0)


class Chip:
    """A network programmed onto the chip's tiles (several chips when it needs more than one). Create with
    :meth:`program` or :meth:`load`."""

    def __init__(self, network, seed, config, tiles, i_fs, registers):
        self.network, self.seed, self.config = network, seed, config
        self.qlayers = network.layers
        self.mapping = map_network(network, config.geometry, strict=False)
        _check_encodings(config, self.mapping)
        self.tiles = tiles                  # tile number -> CrossbarTile
        self.i_fs = i_fs                    # tile number -> full-scale current (A)
        self.registers = registers          # (layer name, column block) -> BnRegisters over its columns
        self.workers = min(os.cpu_count() or 1, 8)   # threads running a layer's tiles; results do not depend on it

    # -- programming ------------------------------------------------------------------------------------------------
    @classmethod
    def program(cls, network=None, *, seed, config=ChipConfig()):
        """Program ``network`` (a model/quantise.py ``QuantNetwork``; a dict of the digits CNN's trained parameters;
        None: the shipped digits CNN) onto tiles with chip seed ``seed``."""
        network = _network(network)
        seed = check_int("seed", seed, 0, 2 ** 63 - 1)
        mapping = map_network(network, config.geometry, strict=False)
        _check_encodings(config, mapping)
        gpw = {ql.name: config.pcm.g_max / np.maximum(np.abs(ql.w_int).max(axis=0), 1) for ql in network.layers}
        tiles = {}
        for a in mapping.tiles:
            w = network.layers[a.layer_index].w_int[a.row_start:a.row_stop, a.col_start:a.col_stop]
            tiles[a.tile] = _program_tile(w, gpw[a.layer][a.col_start:a.col_stop], tile_seed(seed, a.tile), config)
            _manufacture(tiles[a.tile], a, seed, config)
        i_fs = _calibrate_ifs(network, mapping, tiles, config)
        chip = cls(network, seed, config, tiles, i_fs, {})
        chip.set_adc_ranges(i_fs)
        return chip

    def set_adc_ranges(self, i_fs):
        """Set each tile's ADC full-scale current (dict tile -> A; equal within a reduction group) and recompute the
        BN registers that fold the ADC LSB in."""
        if set(i_fs) != set(self.tiles):
            raise ValueError(f"i_fs must give a current for each of the tiles {sorted(self.tiles)}, got {sorted(i_fs)}")
        for n in self.tiles:
            check_positive(f"i_fs of tile {n} (A)", i_fs[n])
            group = self.mapping.reduction_group(n)
            if len({i_fs[m] for m in group}) != 1:
                raise ValueError(f"i_fs must be equal over the reduction group {group}, got "
                                 f"{[i_fs[m] for m in group]}")
        for n, tile in self.tiles.items():
            self.tiles[n] = tile.with_adc(AdcConfig(self.config.fmt.b_adc, float(i_fs[n]), self.config.frac_bits))
        self.i_fs = dict(i_fs)
        self.registers = {}
        for a in self.mapping.tiles:
            if a.row_block:
                continue
            ql, tile = self.qlayers[a.layer_index], self.tiles[a.tile]
            cs = slice(a.col_start, a.col_stop)
            unit = tile.acc_unit(self.encoding(a.tile))
            self.registers[(a.layer, a.col_block)] = affine_registers(
                ql.mult[cs] * unit, ql.offset[cs], self.config.fmt, f"layer {a.layer}, column block {a.col_block}")

    def encoding(self, n):
        """The input encoding of tile ``n`` (what its MODE register selects)."""
        return self.config.encoding_of(n)

    def works(self):
        """model/workload.py ``LayerWork`` of every layer as mapped, in layer order, each with signed ``out_bits``
        outputs (``last``) exactly when its BN unit runs in last mode: the network's output and every residual branch
        that only an Add reads (model/quantise.py), whose outputs the chip moves at ``out_bits``, not ``b_in``."""
        return works_from_mapping(self.mapping, wide=self.network.wide_layers)

    # -- inference --------------------------------------------------------------------------------------------------
    def run(self, x, t, seed, record=False, progress=None, adc_counts=None, mvm_hook=None, timer=None):
        """Run inputs ``x`` (the network's ONNX layout, e.g. (N, 1, 8, 8) for the digits CNN) at ``t`` seconds after
        programming with read-noise seed ``seed``.

        Returns the output codes (N, ...), int64 (a classifier's signed logits), and, with ``record``, a
        :class:`RunTrace` as well. ``progress(done, total)`` is called after every chunk of inputs. ``adc_counts``, a
        dict, receives {layer: :class:`AdcCounts`} of the run. ``mvm_hook(tile, vectors)`` sees every tile's MVM
        inputs of the real inputs, chunk by chunk (for statistics of a network too big to record). ``timer``, a
        model/tile.py ``StageTimer``, accumulates the tiles' time per stage (the benchmark).
        """
        t = check_nonnegative("t (s)", t)
        seed = check_int("seed", seed, 0, 2 ** 63 - 1)
        q_all = self.network.input_codes(x)
        trace = RunTrace() if record else None
        chunk = self.config.chunk
        outs = []
        for ci, c0 in enumerate(range(0, len(q_all), chunk)):
            q = q_all[c0:c0 + chunk]
            keep = len(q)
            # A short last chunk is padded with zero inputs so every chunk draws the same read noise.
            q = np.concatenate([q, np.zeros((chunk - keep,) + q.shape[1:], q.dtype)])
            outs.append(self._run_chunk(q, t, seed, ci, trace, keep, adc_counts, mvm_hook, timer)[:keep])
            if progress:
                progress(c0 + keep, len(q_all))
        shape = self.network.network.shape(self.network.network.output)
        out = np.concatenate(outs) if outs else np.zeros((0,) + shape, np.int64)
        if record:
            for d in vars(trace).values():
                for k, v in d.items():
                    d[k] = np.concatenate(v, axis=1 if v[0].ndim == 3 else 0)
            return out, trace
        return out

    def _run_chunk(self, q, t, seed, ci, trace, keep, adc_counts, mvm_hook, timer):
        def layer(ql, x):
            rows_kept = keep * (len(x) // len(q))      # MVMs of the real (not padding) inputs
            acc = self.layer_accumulators(ql, x, t, seed, ci, trace, rows_kept, adc_counts, mvm_hook, timer)
            y = self.layer_outputs(ql, acc)
            if trace is not None:
                trace.layer_acc.setdefault(ql.name, []).append(acc[:rows_kept])
                trace.layer_out.setdefault(ql.name, []).append(y[:rows_kept])
            return y

        return run_schedule(self.network, q, layer)

    def layer_accumulators(self, ql, x, t, seed, ci, trace=None, rows_kept=None, adc_counts=None, mvm_hook=None,
                           timer=None):
        """Accumulators (MVMs, c_out) of layer ``ql`` (one of ``qlayers``) after partial-sum reduction, for its MVM
        inputs ``x`` (MVMs, fan_in) of chunk ``ci`` of a run at ``t`` with read-noise seed ``seed`` (:meth:`tile_mvm`).
        The first ``rows_kept`` MVMs (default all) are the real inputs': with a ``trace``, every tile's inputs and
        results (whole tile width) are recorded for them; ``adc_counts`` and ``mvm_hook`` as in :meth:`run`. Without a
        trace, the tiles compute their used columns only."""
        fmt = self.config.fmt
        rows_kept = len(x) if rows_kept is None else rows_kept
        acc = np.zeros((len(x), ql.layer.c_out), np.int64)
        counts = adc_counts.setdefault(ql.name, AdcCounts()) if adc_counts is not None else None
        tiles = self.mapping.layer_tiles(ql.name)

        def mvm(a):
            return self.tile_mvm(a.tile, x[:, a.row_start:a.row_stop], t, seed, ci, keep_reads=trace is not None,
                                 rails=a.columns if counts is not None else 0, real=rows_kept, timer=timer,
                                 columns=None if trace is not None else a.columns)

        # The tiles' MVMs run side by side (each draws from its own generators) with BLAS on one thread each: many
        # small products on threads of their own beat BLAS threads that wait for cores. The rest runs in mapping
        # order, as the saturating reduction of a group's partial sums depends on the order.
        with _one_blas_thread() if self.workers > 1 else nullcontext():
            results = map_parallel(mvm, tiles, self.workers)
        for a, res in zip(tiles, results):
            xs = x[:, a.row_start:a.row_stop]
            if trace is not None:
                trace.tile_inputs.setdefault(a.tile, []).append(xs[:rows_kept])
                trace.tile_currents.setdefault(a.tile, []).append(res.currents[:, :rows_kept])
                trace.tile_codes.setdefault(a.tile, []).append(res.codes[:, :rows_kept])
                trace.tile_acc.setdefault(a.tile, []).append(res.acc[:rows_kept])
            if mvm_hook is not None:
                mvm_hook(a.tile, xs[:rows_kept])
            if counts is not None:
                reads = self.encoding(a.tile).reads(fmt.b_in)
                counts.conversions += reads * rows_kept * a.columns
                counts.low += res.rails[0]
                counts.high += res.rails[1]
            part = res.acc[:, :a.columns]
            if a.row_block:
                part, _ = reduce_partial_sums(np.stack([acc[:, a.col_start:a.col_stop], part]), fmt)
            acc[:, a.col_start:a.col_stop] = part
        return acc

    def tile_mvm(self, n, x, t, seed, chunk, tile=None, keep_reads=False, rails=0, real=None, encoding=None,
                 timer=None, columns=None):
        """Tile ``n``'s MVMs of vectors ``x`` (a chunk's batch, (MVMs, rows)) at ``t`` with read-noise seed
        ``seed``, in blocks of ``MVM_BLOCK`` vectors (block k draws from ``default_rng([seed, n, chunk] + [k] if k
        else [])``). ``tile``: the CrossbarTile to use (default the programmed one); ``encoding``: its input encoding
        (default the configured one). ``keep_reads``: keep the reads' currents and codes. ``rails``: count the codes
        at an ADC rail in the first ``rails`` columns of the first ``real`` MVMs (default all). ``columns``: compute
        only the first ``columns`` logical columns (``CrossbarTile.mvm``; default all)."""
        tile = self.tiles[n] if tile is None else tile
        encoding = self.encoding(n) if encoding is None else encoding
        real = len(x) if real is None else real
        accs, currents, codes, low, high = [], [], [], 0, 0
        for k, b0 in enumerate(range(0, max(len(x), 1), MVM_BLOCK)):
            rng = np.random.default_rng([seed, n, chunk] + ([k] if k else []))
            res = tile.mvm(x[b0:b0 + MVM_BLOCK], t, rng, encoding=encoding, timer=timer, columns=columns)
            accs.append(res.acc)
            if keep_reads:
                currents.append(res.currents)
                codes.append(res.codes)
            if rails and real > b0:
                lo, hi = rail_hits(res.codes[:, :real - b0, :rails], tile.adc)
                low, high = low + int(np.count_nonzero(lo)), high + int(np.count_nonzero(hi))
        if len(accs) == 1:
            return TileMvm(accs[0], currents[0] if keep_reads else None, codes[0] if keep_reads else None,
                           (low, high))
        return TileMvm(np.concatenate(accs), np.concatenate(currents, axis=1) if keep_reads else None,
                       np.concatenate(codes, axis=1) if keep_reads else None, (low, high))

    def layer_outputs(self, ql, acc, registers=None):
        """Outputs (MVMs, c_out) of layer ``ql`` (one of ``qlayers``) from its accumulators after partial-sum
        reduction ``acc``: each column block through ``bn_requantise`` with its ``registers`` (default: the chip's)."""
        registers = self.registers if registers is None else registers
        cols = self.config.tile.columns
        y = np.zeros_like(acc)
        for (name, cb), regs in registers.items():
            if name == ql.name:
                cs = slice(cb * cols, cb * cols + regs.channels)
                y[:, cs], _ = regs.requantise(acc[:, cs], self.config.fmt, relu=ql.relu, last=ql.last)
        return y

    # -- per-tile workloads for testbenches ------------------------------------------------------------------------
    def tile_workload(self, n, images=4, t=3600.0, seed=0, trace=None):
        """Tile ``n``'s workload on the first ``images`` test inputs (or an array of test-input indices) at ``t``
        seconds after programming, read-noise seed ``seed``: a :class:`TileWorkload`.

        The earlier layers run on the chip model too (same seed), so the inputs are what the tile sees in a
        whole-chip run. Pass ``trace`` (from :meth:`run` with ``record=True`` on the same inputs) to avoid re-running.
        """
        a = self.mapping.tile(n)
        idx = self._image_indices(images)
        if trace is None:
            _, trace = self.run(self.network.test.x[idx], t, seed, record=True)
        ql = self.qlayers[a.layer_index]
        cols = self.config.tile.columns
        group = self.mapping.reduction_group(n)
        group_acc, _ = reduce_partial_sums(np.stack([trace.tile_acc[m] for m in group]), self.config.fmt)
        regs = self.registers[(a.layer, a.col_block)]
        pad = lambda v: np.concatenate([v, np.zeros(cols - len(v), np.int64)])
        bn = BnRegisters(pad(regs.scale), pad(regs.bias), regs.shift)
        out, _ = bn.requantise(group_acc, self.config.fmt, relu=ql.relu, last=ql.last)
        cs = slice(a.col_start, a.col_stop)
        tile, currents = self.tiles[n], trace.tile_currents[n]
        adc_currents = currents
        if tile.column_adc is not None:
            if tile.column_adc.draws:
                raise ValueError(f"tile {n} has comparator noise: a tile workload holds one current code per read, "
                                 "and each comparison would need its own")
            adc_currents = tile.column_adc.adc_input(currents, tile.adc)
        return TileWorkload(
            tile=n, layer=a.layer, layer_index=a.layer_index, row_start=a.row_start, rows=a.rows,
            col_start=a.col_start, n_cols=a.columns, columns=cols, group=group,
            weights=ql.w_int[a.row_start:a.row_stop, cs].copy(), g_per_weight=self.tiles[n].g_per_weight.copy(),
            adc=self.tiles[n].adc, fmt=self.config.fmt, t=float(t), seed=int(seed), images=idx,
            encoding=self.encoding(n), inputs=trace.tile_inputs[n], currents=currents, adc_currents=adc_currents,
            current_codes=current_code(adc_currents, tile.adc), codes=trace.tile_codes[n],
            acc=trace.tile_acc[n],
            group_acc=group_acc, bn=bn, relu=ql.relu, last=ql.last, outputs=out)

    def _image_indices(self, images):
        n_test = max_images(self.network)
        if np.ndim(images) == 0:
            return np.arange(check_int("images", images, 1, n_test))
        idx = np.asarray(images)
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n_test:
            raise ValueError(f"images must be a count in [1, {n_test}] or a 1-D array of test-input indices in "
                             f"[0, {n_test - 1}], got {images!r}")
        return idx

    # -- persistence ------------------------------------------------------------------------------------------------
    def save(self, path):
        """Write the whole programmed chip (network, every tile's devices and ADC, registers, config) to one file."""
        from neurophase.model.network_file import save_network
        blobs = {}
        for n, tile in self.tiles.items():
            buf = io.BytesIO()
            tile.save(buf)
            blobs[f"tile.{n}"] = np.frombuffer(buf.getvalue(), np.uint8)
        buf = io.BytesIO()
        save_network(self.network, buf)
        blobs["network"] = np.frombuffer(buf.getvalue(), np.uint8)
        regs = {}
        for i, ((name, cb), bn) in enumerate(self.registers.items()):
            regs.update({f"reg.{i}.scale": bn.scale, f"reg.{i}.bias": bn.bias, f"reg.{i}.shift": np.array(bn.shift),
                         f"reg.{i}.layer": np.array(name), f"reg.{i}.block": np.array(cb)})
        cfg = {k: repr(_literal(v)) for k, v in vars(self.config).items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **blobs, **regs, seed=np.array(self.seed),
                            i_fs=np.array([self.i_fs[n] for n in sorted(self.i_fs)]), config=np.array(repr(cfg)))

    @classmethod
    def load(cls, path):
        """Load a chip written by :meth:`save`."""
        from neurophase.model.network_file import load_network
        path = Path(path)
        if not path.exists():
            raise ValueError(f"chip file {path} does not exist")
        with np.load(path) as f:
            raw = ast.literal_eval(str(f["config"]))
            kinds = {"pcm": PcmModel, "fmt": PeripheryFormat, "tile": TileConfig, "adc_errors": AdcErrors,
                     "faults": FaultConfig}
            config = ChipConfig(**{k: kinds[k](**ast.literal_eval(v)) if k in kinds else ast.literal_eval(v)
                                   for k, v in raw.items()})
            network = load_network(io.BytesIO(f["network"].tobytes()))
            tiles = {int(k[5:]): CrossbarTile.load(io.BytesIO(f[k].tobytes())) for k in f.files
                     if k.startswith("tile.")}
            i_fs = dict(zip(sorted(tiles), f["i_fs"].tolist()))
            regs = {}
            for k in f.files:
                if k.startswith("reg.") and k.endswith(".scale"):
                    base = k[:-len(".scale")]
                    regs[(str(f[base + ".layer"]), int(f[base + ".block"]))] = BnRegisters(
                        f[base + ".scale"], f[base + ".bias"], int(f[base + ".shift"]))
            return cls(network, int(f["seed"]), config, tiles, i_fs, regs)


def max_images(network=None):
    """Number of test inputs a run or a workload can use (default: the digits CNN's 360 held-out images)."""
    if network is None:
        from neurophase.model.network import N_TEST
        return N_TEST
    if network.test is None:
        raise ValueError(f"network {network.name!r} has no test set")
    return len(network.test)


def _network(network):
    """A QuantNetwork from what :meth:`Chip.program` takes."""
    from neurophase.model.network import digits_network
    if network is None or isinstance(network, dict):
        return digits_network(network)
    if not hasattr(network, "layer_shapes"):
        raise ValueError(f"network must be a QuantNetwork (model/quantise.py), the digits CNN's parameters or None, "
                         f"got {type(network).__name__}")
    return network


_REFERENCE = {}


def reference_chip(chip_seed=0, config=ChipConfig(), network=None):
    """The shipped digits CNN (or ``network``, a QuantNetwork) programmed with ``chip_seed`` (kept in memory:
    programming takes about a second)."""
    key = (check_int("chip_seed", chip_seed, 0, 2 ** 63 - 1), config, None if network is None else id(network))
    if key not in _REFERENCE:
        _REFERENCE[key] = Chip.program(network, seed=chip_seed, config=config)
    return _REFERENCE[key]


def tile_workload(tile, *, images=4, t=3600.0, seed=0, chip_seed=0, config=ChipConfig()):
    """Tile ``tile``'s workload on the first ``images`` test images of the reference chip programmed with
    ``chip_seed``, at ``t`` s after programming, read-noise seed ``seed`` (see :meth:`Chip.tile_workload`)."""
    return reference_chip(chip_seed, config).tile_workload(tile, images=images, t=t, seed=seed)


def _literal(v):
    """A configuration value as a Python literal (dataclasses as dicts, encodings by label) for :meth:`Chip.save`."""
    if hasattr(v, "__dataclass_fields__"):
        return asdict(v)
    if isinstance(v, InputEncoding):
        return v.label
    if isinstance(v, tuple):
        return tuple(_literal(e) for e in v)
    return v


def _check_encodings(config, mapping):
    """Every tile named in ``config.tile_encodings`` holds weights, and a reduction group shares one encoding."""
    mapped = [a.tile for a in mapping.tiles]
    for n, _ in config.tile_encodings:
        if n not in mapped:
            raise ValueError(f"tile_encodings names tile {n}, which holds no weights; mapped tiles are "
                             f"{mapped[0]}..{mapped[-1]}")
    for a in mapping.tiles:
        if a.row_block:
            continue
        group = mapping.reduction_group(a.tile)
        if len({config.encoding_of(m) for m in group}) != 1:
            raise ValueError(f"the tiles of reduction group {group} must share one input encoding, got "
                             f"{[config.encoding_of(m).label for m in group]}")


def _program_tile(w, gpw, seed, config):
    """Program integer weights ``w`` (rows x cols) with the given siemens per weight unit of each column."""
    return CrossbarTile.program(w, seed=seed, scale=gpw, pcm=config.pcm, fmt=config.fmt, config=config.tile,
                                adc=AdcConfig(config.fmt.b_adc, 1e-6, config.frac_bits))


def _manufacture(tile, assignment, chip_seed, config):
    """Give a freshly programmed tile the defects it was made with (model/faults.py, model/adc_errors.py): dead
    lines among those its assignment uses, and its column ADCs' offsets and gains; each from its own seeded stream."""
    if config.faults.enabled:
        rng = manufacture_rng(chip_seed, assignment.tile, LINE_STREAM)
        tile.line_faults = config.faults.draw(assignment.rows, 2 * assignment.columns, rng)
    if config.adc_errors.enabled:
        rng = manufacture_rng(chip_seed, assignment.tile, ADC_STREAM)
        tile.column_adc = config.adc_errors.manufacture(config.tile.columns, rng)


def _evenly(x, k):
    """At most ``k`` rows of ``x``, evenly spaced (all of them when there are no more)."""
    if len(x) <= k:
        return x
    return x[np.linspace(0, len(x) - 1, k).round().astype(np.int64)]


def _calibration_vectors(network, config):
    """Each layer's MVM input vectors on the first ``n_calibration`` calibration inputs, from the 8-bit digital
    path, evenly spaced, as many as ``calibration_macs`` allows for the layer's bit-serial reads: {layer: (MVMs,
    fan_in)}."""
    calib = network.calibration[:config.n_calibration]
    parts = {ql.name: [] for ql in network.layers}
    reads = config.fmt.b_in
    for b0 in range(0, len(calib), CALIBRATION_BATCH):
        batch = min(CALIBRATION_BATCH, len(calib) - b0)

        def layer(ql, x):
            cap = max(1, config.calibration_macs // (reads * ql.layer.fan_in * ql.layer.c_out))
            parts[ql.name].append(_evenly(x, -(-cap * batch // len(calib))))
            return digital_forward_layer(ql, x)

        run_schedule(network, network.input_codes(calib[b0:b0 + CALIBRATION_BATCH]), layer)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _calibrate_ifs(network, mapping, tiles, config):
    """I_fs per tile: a percentile of |read current| (bit-plane currents, or PWM window mean currents) of its reduction
    group with target conductances, on the 8-bit digital path's activations of the calibration inputs."""
    inputs = _calibration_vectors(network, config)
    v = config.tile.v_read
    i_fs = {}
    for a in mapping.tiles:
        if a.row_block:
            continue
        group = mapping.reduction_group(a.tile)
        encoding = config.encoding_of(a.tile)
        window = read_window(encoding, config.fmt.b_in)
        mags = []
        for m in group:
            b = mapping.tile(m)
            w = network.layers[b.layer_index].w_int[b.row_start:b.row_stop, b.col_start:b.col_stop]
            pulses = wordline_pulses(inputs[b.layer][:, b.row_start:b.row_stop], encoding, config.fmt.b_in)
            # The target conductance difference of a pair is w gpw: the integer sum first, in float32 where it is
            # exact (below 2^24: every bit-plane, and PWM windows of 256 rows at 8 bits), then the scale.
            exact = np.float32 if window * W_LEVELS * b.rows < 1 << 24 else np.float64
            sums = pulses.astype(exact) @ w.astype(exact)
            mags.append(np.abs(v * (sums * tiles[m].g_per_weight) / window).ravel())
        level = float(np.percentile(np.concatenate(mags), config.ifs_percentile))
        for m in group:
            i_fs[m] = adc_range_current(adc_range_covering(level))
    return i_fs


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def _one_blas_thread():
    """A context with BLAS on one thread (a kept controller: about 10 us, against 1.5 ms for threadpool_limits)."""
    return _blas_controller().limit(limits=1, user_api="blas")
