"""Golden model of the reference network running on the chip's tiles, and the per-tile workloads for testbenches.

Ref: docs/architecture.md §2-§4, D3-D5; model/mapper.py (tile slices), model/network.py (network, 8-bit codes).

Programming. Every mapped tile holds its slice of the layer's integer weights ``w_int`` (model/network.py, levels
-127..127) on differential pairs. The conductance per weight unit of a column, ``gpw_j = Gmax / max_i |w_int[i, j]|``
over the *whole* fan-in of the layer (D5 per-column scale), is shared by the tiles of a row-split layer, so that their
accumulators are in the same units and can be added before BN. Each tile is programmed with its own seed, derived
from the chip seed and the tile number (:func:`tile_seed`).

Input encoding. Each tile drives its wordlines bit-serially or by pulse-width modulation (``InputEncoding``, the
tile's MODE register; docs/architecture.md D8): ``ChipConfig.encoding`` is the chip-wide default and
``ChipConfig.tile_encodings`` names the tiles that use the other one. The tiles of a reduction group share one
encoding (their accumulators are added, so they must be in the same units).

ADC range. The full-scale current I_fs of each reduction group (the tiles whose accumulators are added; for a
layer without row split, one tile) is set from calibration data: the ``ifs_percentile`` percentile of |I| of the
read currents of the group's tiles in their encoding (bit-plane currents, or PWM window mean currents), computed with
the target (noise-free, undrifted) conductances on the first ``n_calibration`` *training* images' activations from
the 8-bit digital path, rounded up to a whole number of the ADC_RANGE register's step (model/interface.py
``ADC_RANGE_STEP_A``, 10 nA). The test set is never used.

Host side (not on the tiles): input codes, zero padding, im2col, 2x2 max pooling and the global average pool work
on the unsigned 8-bit codes exactly (model/network.py ``im2col``, ``host_pool``); argmax of the signed logits.

MVM at time t after programming (t is the drift time of D1): ``CrossbarTile.mvm`` gives the read currents with drift
and fresh read noise, the ADC codes and the accumulators (shift-and-add, or the PWM code); row-split tiles' accumulators
are added
with ``reduce_partial_sums`` in tile order; ``bn_requantise`` with integer registers gives the next layer's codes, or
the signed logits of the last layer.

BN registers. For output channel j, acc_chip ~= acc_int * V_read * gpw_j / (W_enc * I_lsb), where W_enc is the read
window in unit times: 1 for bit-serial (the planes' codes, weighted 2^b by shift-and-add, sum to the whole MVM),
2^B_in - 1 for PWM (the ADC converts the mean current of a window of 2^B_in - 1 unit times, so the code is the MVM
divided by the window: for the same weights, inputs and I_fs, acc_pwm ~= acc_bit_serial / (2^B_in - 1)). So the real
multiplier of the 8-bit path (``QuantLayer.mult``: input scale x weight scale x folded BN / output scale) becomes
``mult_j * W_enc * I_lsb / (V_read * gpw_j)`` (``CrossbarTile.acc_unit``); :func:`model.network.affine_registers`
rounds it and the offset into the
column block's :class:`~neurophase.model.arith.BnRegisters` (one shift per reduction group). No drift
compensation is folded in: remedies for drift rewrite ``Chip.registers``.

Read noise. A run processes its images in order in chunks of ``CHUNK`` images (the last one padded with blank
images), one batched MVM per tile and chunk; tile n draws the read noise of chunk c of a run with seed s from
``default_rng([s, n, c])``. So image i of a run has the same currents in every run with the same seed and the same
image sequence up to i, however many images follow: :meth:`Chip.tile_workload` for the first k test images is a
slice of a whole-chip run over the test set.
"""

import ast
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from neurophase.model.adc import AdcConfig, current_code
from neurophase.model.arith import BnRegisters, PeripheryFormat, read_window, reduce_partial_sums, wordline_pulses
from neurophase.model.checks import check_int, check_nonnegative, check_positive, check_shape
from neurophase.model.device import PcmModel
from neurophase.model.interface import ADC_RANGE_STEP_A, InputEncoding, adc_range_current
from neurophase.model.mapper import ChipGeometry, map_network
from neurophase.model.network import (INPUT_SHAPE, N_TEST, REFERENCE_NET, affine_registers, digital_forward,
                                      input_codes, layer_vectors, load_split, load_weights, next_codes, quant_layers)
from neurophase.model.tile import CrossbarTile, TileConfig

__all__ = ["ChipConfig", "Chip", "TileWorkload", "RunTrace", "tile_seed", "CHUNK", "max_images", "reference_chip",
           "tile_workload"]

CHUNK = 32          # images per batched MVM chunk (fixes the order of read-noise draws)


@dataclass(frozen=True)
class ChipConfig:
    """Everything that defines a programmed chip besides the weights and the seed."""
    pcm: PcmModel = PcmModel()
    fmt: PeripheryFormat = PeripheryFormat()
    tile: TileConfig = TileConfig()
    frac_bits: int = 8                  # comparator resolution of the current code (D3)
    ifs_percentile: float = 99.9        # of |read current| on calibration images
    n_calibration: int = 200            # training images used for the ADC ranges
    encoding: InputEncoding = InputEncoding.BIT_SERIAL  # input encoding of every tile not in tile_encodings (D8)
    tile_encodings: tuple = ()          # ((tile, encoding), ...): tiles whose MODE selects another encoding

    def __post_init__(self):
        if not 50.0 <= self.ifs_percentile <= 100.0:
            raise ValueError(f"ifs_percentile must be in [50, 100], got {self.ifs_percentile}")
        check_int("n_calibration", self.n_calibration, 1, 1437)
        check_int("frac_bits", self.frac_bits, 1, 16)
        # Encodings may be given by label ("pwm"), as a saved chip holds them; they are kept as InputEncoding.
        object.__setattr__(self, "encoding", InputEncoding.parse(self.encoding))
        pairs = self.tile_encodings
        if not isinstance(pairs, (tuple, list)) or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
            raise ValueError(f"tile_encodings must be a tuple of (tile, encoding) pairs, got {pairs!r}")
        tiles = [check_int("tile_encodings tile", n, 0, self.geometry.tiles - 1) for n, _ in pairs]
        if len(set(tiles)) != len(tiles):
            raise ValueError(f"tile_encodings must name each tile at most once, got tiles {tiles}")
        object.__setattr__(self, "tile_encodings",
                           tuple(sorted((int(n), InputEncoding.parse(e)) for n, e in pairs)))

    @property
    def geometry(self):
        return ChipGeometry(rows=self.tile.rows, columns=self.tile.columns)

    def encoding_of(self, tile):
        """The input encoding of tile ``tile``: its entry in ``tile_encodings``, else the chip-wide ``encoding``."""
        return dict(self.tile_encodings).get(tile, self.encoding)


def tile_seed(chip_seed, tile):
    """Programming seed of tile ``tile`` of a chip programmed with ``chip_seed`` (a 32-bit integer)."""
    return int(np.random.SeedSequence(check_int("seed", chip_seed, 0, None), spawn_key=(tile,)).generate_state(1)[0])


@dataclass
class TileWorkload:
    """Tile n's share of a run on k images: what a tile testbench drives and what it must see, bit for bit.

    Arrays span the tile's full width (``columns`` logical columns). Columns past ``n_cols`` hold no weights: their
    devices are programmed to 0 S, but programming noise leaves small conductances, so their currents, codes and
    accumulators are small but not zero; their BN registers are 0, so their outputs are 0. ``outputs`` is
    ``bn.requantise`` of ``group_acc``: on a row-split tile it needs every group tile's accumulators. MVMs are
    ordered image by image, then output position (row-major over the layer's output H x W). Reads are the b_in
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
    images: np.ndarray           # test-image indices
    encoding: InputEncoding      # the tile's input encoding (MODE register)
    inputs: np.ndarray           # (mvms, rows) int64 unsigned 8-bit activations (MVM inputs)
    currents: np.ndarray         # (reads, mvms, columns) differential read currents, A; bit-plane 0 = MSB
    current_codes: np.ndarray    # (reads, mvms, columns) int64, model/adc.py current_code
    codes: np.ndarray            # (reads, mvms, columns) ADC codes
    acc: np.ndarray              # (mvms, columns) this tile's accumulators (model/arith.py accumulate)
    group_acc: np.ndarray        # (mvms, columns) reduce_partial_sums of the ``group`` tiles' accumulators
    bn: BnRegisters              # of this tile's output columns, over its ``columns`` (0 past ``n_cols``)
    relu: bool
    last: bool
    outputs: np.ndarray          # (mvms, columns) BN/requantised outputs (codes, or signed logits if ``last``)

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


class Chip:
    """The reference network programmed onto the chip. Create with :meth:`program` or :meth:`load`."""

    def __init__(self, params, seed, config, tiles, i_fs, registers):
        self.params, self.seed, self.config = params, seed, config
        self.qlayers = quant_layers(params)
        self.mapping = map_network(REFERENCE_NET, config.geometry)
        _check_encodings(config, self.mapping)
        self.tiles = tiles                  # tile number -> CrossbarTile
        self.i_fs = i_fs                    # tile number -> full-scale current (A)
        self.registers = registers          # (layer name, column block) -> BnRegisters over its columns

    # -- programming ------------------------------------------------------------------------------------------------
    @classmethod
    def program(cls, params=None, *, seed, config=ChipConfig()):
        """Program the network (default: the shipped weights) onto tiles with chip seed ``seed``."""
        if params is None:
            params, _ = load_weights()
        seed = check_int("seed", seed, 0, 2 ** 63 - 1)
        qlayers = quant_layers(params)
        mapping = map_network(REFERENCE_NET, config.geometry)
        _check_encodings(config, mapping)
        gpw = {ql.layer.name: config.pcm.g_max / np.maximum(np.abs(ql.w_int).max(axis=0), 1) for ql in qlayers}
        tiles = {}
        for a in mapping.tiles:
            w = qlayers[a.layer_index].w_int[a.row_start:a.row_stop, a.col_start:a.col_stop]
            tiles[a.tile] = _program_tile(w, gpw[a.layer][a.col_start:a.col_stop], tile_seed(seed, a.tile), config)
        i_fs = _calibrate_ifs(qlayers, mapping, tiles, config)
        chip = cls(params, seed, config, tiles, i_fs, {})
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
            self.registers[(a.layer, a.col_block)] = affine_registers(ql.mult[cs] * unit, ql.offset[cs],
                                                                      self.config.fmt)

    def encoding(self, n):
        """The input encoding of tile ``n`` (what its MODE register selects)."""
        return self.config.encoding_of(n)

    # -- inference --------------------------------------------------------------------------------------------------
    def run(self, pixels, t, seed, record=False, progress=None):
        """Classify ``pixels`` (N, 8, 8, 1) at ``t`` seconds after programming with read-noise seed ``seed``.

        Returns the signed logits (N, 10), int64, and, with ``record``, a :class:`RunTrace` as well.
        ``progress(done, total)`` is called after every chunk of images.
        """
        t = check_nonnegative("t (s)", t)
        seed = check_int("seed", seed, 0, 2 ** 63 - 1)
        q_all = input_codes(pixels)
        check_shape("pixels", q_all, (None,) + INPUT_SHAPE)
        trace = RunTrace() if record else None
        logits = []
        for ci, c0 in enumerate(range(0, len(q_all), CHUNK)):
            q = q_all[c0:c0 + CHUNK]
            keep = len(q)
            # A short last chunk is padded with blank images so every chunk draws the same read noise.
            q = np.concatenate([q, np.zeros((CHUNK - keep,) + q.shape[1:], q.dtype)])
            rngs = {n: np.random.default_rng([seed, n, ci]) for n in self.tiles}
            logits.append(self._run_chunk(q, t, rngs, trace, keep)[:keep])
            if progress:
                progress(c0 + keep, len(q_all))
        logits = np.concatenate(logits) if logits else np.zeros((0, REFERENCE_NET[-1].c_out), np.int64)
        if record:
            for d in vars(trace).values():
                for k, v in d.items():
                    d[k] = np.concatenate(v, axis=1 if v[0].ndim == 3 else 0)
            return logits, trace
        return logits

    def _run_chunk(self, q, t, rngs, trace, keep):
        for ql in self.qlayers:
            layer = ql.layer
            x = layer_vectors(q, layer)
            rows_kept = keep * (len(x) // len(q))      # MVMs of the real (not padding) images
            acc = self.layer_accumulators(ql, x, t, rngs, trace, rows_kept)
            y = self.layer_outputs(ql, acc)
            if trace is not None:
                trace.layer_acc.setdefault(layer.name, []).append(acc[:rows_kept])
                trace.layer_out.setdefault(layer.name, []).append(y[:rows_kept])
            q = next_codes(y, q, layer)
        return q

    def layer_accumulators(self, ql, x, t, rngs, trace=None, rows_kept=None):
        """Accumulators (MVMs, c_out) of layer ``ql`` (one of ``qlayers``) after partial-sum reduction, for its MVM
        inputs ``x`` (MVMs, fan_in) at ``t``; tile n draws its read noise from ``rngs[n]``. With a ``trace``, records
        every tile's inputs and results (whole tile width) for the first ``rows_kept`` MVMs; without, the tiles
        compute their used columns only."""
        fmt = self.config.fmt
        acc = np.zeros((len(x), ql.layer.c_out), np.int64)
        for a in self.mapping.layer_tiles(ql.layer.name):
            xs = x[:, a.row_start:a.row_stop]
            res = self.tiles[a.tile].mvm(xs, t, rngs[a.tile], encoding=self.encoding(a.tile),
                                         columns=None if trace is not None else a.columns)
            if trace is not None:
                trace.tile_inputs.setdefault(a.tile, []).append(xs[:rows_kept])
                trace.tile_currents.setdefault(a.tile, []).append(res.currents[:, :rows_kept])
                trace.tile_codes.setdefault(a.tile, []).append(res.codes[:, :rows_kept])
                trace.tile_acc.setdefault(a.tile, []).append(res.acc[:rows_kept])
            part = res.acc[:, :a.columns]
            if a.row_block:
                part, _ = reduce_partial_sums(np.stack([acc[:, a.col_start:a.col_stop], part]), fmt)
            acc[:, a.col_start:a.col_stop] = part
        return acc

    def layer_outputs(self, ql, acc, registers=None):
        """Outputs (MVMs, c_out) of layer ``ql`` (one of ``qlayers``) from its accumulators after partial-sum
        reduction ``acc``: each column block through ``bn_requantise`` with its ``registers`` (default: the chip's)."""
        registers = self.registers if registers is None else registers
        cols = self.config.tile.columns
        y = np.zeros_like(acc)
        for (name, cb), regs in registers.items():
            if name == ql.layer.name:
                cs = slice(cb * cols, cb * cols + regs.channels)
                y[:, cs], _ = regs.requantise(acc[:, cs], self.config.fmt, relu=not ql.last, last=ql.last)
        return y

    # -- per-tile workloads for testbenches ------------------------------------------------------------------------
    def tile_workload(self, n, images=4, t=3600.0, seed=0, trace=None):
        """Tile ``n``'s workload on the first ``images`` test images (or an array of test-image indices) at ``t``
        seconds after programming, read-noise seed ``seed``: a :class:`TileWorkload`.

        The earlier layers run on the chip model too (same seed), so the inputs are what the tile sees in a
        whole-chip run. Pass ``trace`` (from :meth:`run` with ``record=True`` on the same images) to avoid re-running.
        """
        a = self.mapping.tile(n)
        idx = self._image_indices(images)
        if trace is None:
            _, _, x_te, _ = load_split()
            _, trace = self.run(x_te[idx], t, seed, record=True)
        ql = self.qlayers[a.layer_index]
        cols = self.config.tile.columns
        group = self.mapping.reduction_group(n)
        group_acc, _ = reduce_partial_sums(np.stack([trace.tile_acc[m] for m in group]), self.config.fmt)
        regs = self.registers[(a.layer, a.col_block)]
        pad = lambda v: np.concatenate([v, np.zeros(cols - len(v), np.int64)])
        bn = BnRegisters(pad(regs.scale), pad(regs.bias), regs.shift)
        out, _ = bn.requantise(group_acc, self.config.fmt, relu=not ql.last, last=ql.last)
        cs = slice(a.col_start, a.col_stop)
        return TileWorkload(
            tile=n, layer=a.layer, layer_index=a.layer_index, row_start=a.row_start, rows=a.rows,
            col_start=a.col_start, n_cols=a.columns, columns=cols, group=group,
            weights=ql.w_int[a.row_start:a.row_stop, cs].copy(), g_per_weight=self.tiles[n].g_per_weight.copy(),
            adc=self.tiles[n].adc, fmt=self.config.fmt, t=float(t), seed=int(seed), images=idx,
            encoding=self.encoding(n), inputs=trace.tile_inputs[n], currents=trace.tile_currents[n],
            current_codes=current_code(trace.tile_currents[n], self.tiles[n].adc), codes=trace.tile_codes[n],
            acc=trace.tile_acc[n],
            group_acc=group_acc, bn=bn, relu=not ql.last, last=ql.last, outputs=out)

    def _image_indices(self, images):
        if np.ndim(images) == 0:
            return np.arange(check_int("images", images, 1, N_TEST))
        idx = np.asarray(images)
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= N_TEST:
            raise ValueError(f"images must be a count in [1, {N_TEST}] or a 1-D array of test-image indices in "
                             f"[0, {N_TEST - 1}], got {images!r}")
        return idx

    # -- persistence ------------------------------------------------------------------------------------------------
    def save(self, path):
        """Write the whole programmed chip (weights, every tile's devices and ADC, registers, config) to one file."""
        blobs = {}
        for n, tile in self.tiles.items():
            buf = io.BytesIO()
            tile.save(buf)
            blobs[f"tile.{n}"] = np.frombuffer(buf.getvalue(), np.uint8)
        regs = {}
        for (name, cb), bn in self.registers.items():
            regs[f"reg.{name}.{cb}.scale"], regs[f"reg.{name}.{cb}.bias"] = bn.scale, bn.bias
            regs[f"reg.{name}.{cb}.shift"] = np.array(bn.shift)
        cfg = {k: repr(_literal(v)) for k, v in vars(self.config).items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **blobs, **regs, **{f"param.{k}": v for k, v in self.params.items()},
                            seed=np.array(self.seed), i_fs=np.array([self.i_fs[n] for n in sorted(self.i_fs)]),
                            config=np.array(repr(cfg)))

    @classmethod
    def load(cls, path):
        """Load a chip written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise ValueError(f"chip file {path} does not exist")
        with np.load(path) as f:
            raw = ast.literal_eval(str(f["config"]))
            kinds = {"pcm": PcmModel, "fmt": PeripheryFormat, "tile": TileConfig}
            config = ChipConfig(**{k: kinds[k](**ast.literal_eval(v)) if k in kinds else ast.literal_eval(v)
                                   for k, v in raw.items()})
            params = {k[6:]: f[k] for k in f.files if k.startswith("param.")}
            tiles = {int(k[5:]): CrossbarTile.load(io.BytesIO(f[k].tobytes())) for k in f.files
                     if k.startswith("tile.")}
            i_fs = dict(zip(sorted(tiles), f["i_fs"].tolist()))
            regs = {}
            for k in f.files:
                if k.startswith("reg.") and k.endswith(".scale"):
                    _, name, cb, _ = k.split(".")
                    base = f"reg.{name}.{cb}"
                    regs[(name, int(cb))] = BnRegisters(f[base + ".scale"], f[base + ".bias"], int(f[base + ".shift"]))
            return cls(params, int(f["seed"]), config, tiles, i_fs, regs)


def max_images():
    """Number of held-out test images a run or a workload can use."""
    return N_TEST


_REFERENCE = {}


def reference_chip(chip_seed=0, config=ChipConfig()):
    """The shipped network programmed with ``chip_seed`` (kept in memory: programming takes about a second)."""
    key = (check_int("chip_seed", chip_seed, 0, 2 ** 63 - 1), config)
    if key not in _REFERENCE:
        _REFERENCE[key] = Chip.program(seed=chip_seed, config=config)
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
    for n in mapped:
        group = mapping.reduction_group(n)
        if len({config.encoding_of(m) for m in group}) != 1:
            raise ValueError(f"the tiles of reduction group {group} must share one input encoding, got "
                             f"{[config.encoding_of(m).label for m in group]}")


def _program_tile(w, gpw, seed, config):
    """Program integer weights ``w`` (rows x cols) with the given siemens per weight unit of each column."""
    return CrossbarTile.program(w, seed=seed, scale=gpw, pcm=config.pcm, fmt=config.fmt, config=config.tile,
                                adc=AdcConfig(config.fmt.b_adc, 1e-6, config.frac_bits))


def _calibrate_ifs(qlayers, mapping, tiles, config):
    """I_fs per tile: a percentile of |read current| (bit-plane currents, or PWM window mean currents) of its reduction
    group with target conductances, on the 8-bit digital path's activations of the first ``n_calibration`` training
    images."""
    x_tr, _, _, _ = load_split()
    _, outs = digital_forward(qlayers, x_tr[:config.n_calibration], return_all=True)
    q = input_codes(x_tr[:config.n_calibration])
    inputs = []
    for ql, y in zip(qlayers, outs):
        inputs.append(layer_vectors(q, ql.layer))
        q = next_codes(y, q, ql.layer)
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
            gt = tiles[m].devices.g_target[:b.rows]
            gdiff = gt[:, 0:2 * b.columns:2] - gt[:, 1:2 * b.columns:2]
            pulses = wordline_pulses(inputs[b.layer_index][:, b.row_start:b.row_stop], encoding, config.fmt.b_in)
            mags.append(np.abs(v * (pulses.astype(np.float64) @ gdiff) / window).ravel())
        level = float(np.percentile(np.concatenate(mags), config.ifs_percentile))
        steps = max(1, int(np.ceil(level / ADC_RANGE_STEP_A)))
        for m in group:
            i_fs[m] = adc_range_current(steps)
    return i_fs
