"""One NeuroPhase tile: a 256x256 PCM crossbar with differential column pairs, column ADCs and shift-and-add.

Ref: docs/architecture.md §2-§4, D2, D3, D8.

Weights map to conductances on differential pairs: logical column j uses bitline 2j for G+ and 2j+1 for G-,
G+ = gpw_j * max(w, 0), G- = gpw_j * max(-w, 0), where gpw_j (siemens per weight unit) puts the column's largest
|w| at Gmax (``scale="column"``) or the tile's largest |w| (``scale="tile"``).

Input encodings (``InputEncoding``, model/arith.py ``wordline_pulses``). Bit-serial (the default): the B_in bit-planes
of the unsigned activations are applied MSB first, one read each: a plane is one V_read pulse on every wordline whose
bit is 1; the ADC of column j converts I+ - I- of each plane and shift-and-add combines the planes. PWM (D8): one read
per MVM, in which wordline i is driven for x_i unit times of a window of W = 2^B_in - 1 unit times; the ADC converts
the window's mean current (the integrated charge over the window length) once, and that code is the accumulator. In
weight units both give ``acc * W_enc * I_lsb / (V_read * gpw_j) ~= W^T x`` with W_enc = 1 (bit-serial) or W (PWM):
:meth:`CrossbarTile.acc_unit`.

Read noise is drawn afresh for every read: each device's conductance gets an independent Gaussian factor, held for
the whole read (for PWM a pulse of x_i units carries x_i times the device's conductance error: D8). The bitline
current of a read is then a sum of independent Gaussians, so the model draws the *current* noise directly, with
variance V_read^2 * sum_i p_i^2 * ((sigma_i G_i+)^2 + (sigma_i G_i-)^2) / W_enc^2 for pulse lengths p_i (0 or 1 for
a bit-plane, x_i for PWM): exact in distribution, and 256x cheaper than drawing every device. ``read_devices=True``
draws every device instead (slow; the tests use it to check the fast path).

Optional non-idealities of the array and its ADCs, each off by default (docs/architecture.md D11-D13): wire (IR)
drop (``TileConfig.r_wordline``, ``r_bitline``: the read uses the effective conductance matrix of model/ir_drop.py,
computed with the drifted conductances once per read time), dead lines (``CrossbarTile.line_faults``,
model/faults.py) and column ADC offset, gain and comparator noise (``CrossbarTile.column_adc``, model/adc_errors.py).
With IR drop the read noise of a device is scaled by its IR-drop factor (``sigma G_eff``: a device's conductance
error reaches the ADC through the same attenuation as its current). With ADC errors the codes are
``column_adc.convert(currents)``: the recorded currents stay the bitline currents.

Numerics of the fast path: a float32 matmul of the stacked pulse lengths with [G+ - G- | noise variance] (cached per
read time) gives each read's mean current and variance (for bit-serial, whose pulse lengths are 0 or 1, one matmul;
for PWM a second one with the squared pulse lengths); fresh N(0, 1) draws (``device.box_muller``) scale the noise;
currents are returned in float64 amperes and the codes are exactly ``adc.convert(currents)``. After the matmul the
work runs in row chunks on ``threads`` threads, each chunk with its own generator spawned from ``rng``. Temporaries
are reused per thread (``device.scratch``): only the returned arrays are fresh memory.
"""

import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from neurophase.model import adc as _adc
from neurophase.model.adc import AdcConfig
from neurophase.model.adc_errors import ColumnAdc
from neurophase.model.arith import PeripheryFormat, accumulate_valid, read_window, wordline_pulses
from neurophase.model.checks import check_finite_array, check_int, check_nonnegative, check_positive, check_shape
from neurophase.model.device import PcmModel, ProgrammedDevices, box_muller, run_parallel, scratch, spawn_generators
from neurophase.model.faults import LineFaults
from neurophase.model.heap import keep_freed_memory
from neurophase.model.interface import InputEncoding
from neurophase.model.ir_drop import effective_conductance

keep_freed_memory()        # the hot path's multi-MB arrays: reuse freed memory, no mmap per array (model/heap.py)

__all__ = ["TileConfig", "CrossbarTile", "MvmResult", "StageTimer"]

_MIN_CHUNK = 32768
# StageTimer names of the input encoder's and the accumulation's work in an MVM, per encoding.
_STAGES = {InputEncoding.BIT_SERIAL: ("bit-planes", "shift-and-add"),
           InputEncoding.PWM: ("wordline pulses", "accumulate")}


@dataclass(frozen=True)
class TileConfig:
    """Geometry and electrical parameters of a tile.

    rows : wordlines (inputs). bitlines : physical columns; logical signed outputs = bitlines // 2.
    v_read : read voltage per active wordline (V). t_pulse : wordline pulse width (s).
    r_wordline, r_bitline : wire resistance per cell pitch of the wordlines and bitlines (ohm); 0 and 0: no IR drop.
    ir_exact : compute the IR drop with the exact nodal solve instead of the ladder method (model/ir_drop.py).
    """
    rows: int = 256
    bitlines: int = 256
    v_read: float = 0.2
    t_pulse: float = 10e-9
    r_wordline: float = 0.0
    r_bitline: float = 0.0
    ir_exact: bool = False

    def __post_init__(self):
        check_int("rows", self.rows, 1, 4096)
        check_int("bitlines", self.bitlines, 2, 4096)
        if self.bitlines % 2:
            raise ValueError(f"bitlines must be even (differential pairs), got {self.bitlines}")
        check_positive("v_read (V)", self.v_read)
        check_positive("t_pulse (s)", self.t_pulse)
        check_nonnegative("r_wordline (ohm)", self.r_wordline)
        check_nonnegative("r_bitline (ohm)", self.r_bitline)
        if self.ir_exact not in (False, True):
            raise ValueError(f"ir_exact must be True or False, got {self.ir_exact!r}")

    @property
    def columns(self):
        """Logical signed output columns."""
        return self.bitlines // 2


@dataclass
class MvmResult:
    """Everything one batched tile MVM produced, read by read; ``codes == adc.convert(currents)`` exactly. Reads are
    the b_in bit-planes, MSB first (bit-serial), or the one PWM read (its current is the window's mean current)."""
    currents: np.ndarray        # (reads, batch, columns) differential bitline currents, A
    codes: np.ndarray           # (reads, batch, columns) ADC codes
    acc: np.ndarray             # (batch, columns) accumulators (model/arith.py accumulate)
    adc_saturations: tuple      # (low, high) conversion counts
    acc_saturations: int
    encoding: InputEncoding


class CrossbarTile:
    """A programmed tile. Create with :meth:`program` or :meth:`load`."""

    def __init__(self, devices, weight_shape, g_per_weight, *, pcm=PcmModel(), adc=AdcConfig(),
                 fmt=PeripheryFormat(), config=TileConfig(), seed=None, line_faults=LineFaults(), column_adc=None):
        if fmt.b_adc != adc.bits:
            raise ValueError(f"fmt.b_adc ({fmt.b_adc}) must equal adc.bits ({adc.bits})")
        self.devices = devices
        self.weight_shape = tuple(weight_shape)
        self.g_per_weight = np.asarray(g_per_weight, dtype=np.float64)
        self.pcm, self.adc, self.fmt, self.config, self.seed = pcm, adc, fmt, config, seed
        self.threads = 2
        self._cache_key = None
        self.line_faults, self.column_adc = line_faults, column_adc

    @property
    def line_faults(self):
        """The tile's dead lines (model/faults.py :class:`LineFaults`; none by default)."""
        return self._line_faults

    @line_faults.setter
    def line_faults(self, faults):
        if not isinstance(faults, LineFaults):
            raise ValueError(f"line_faults must be a LineFaults, got {faults!r}")
        if any(r >= self.config.rows for r in faults.dead_wordlines) or \
                any(b >= self.config.bitlines for b in faults.dead_bitlines):
            raise ValueError(f"line_faults must name wordlines < {self.config.rows} and bitlines < "
                             f"{self.config.bitlines}, got {faults}")
        self._line_faults = faults
        self._cache_key = None

    @property
    def column_adc(self):
        """The tile's column ADCs as made (model/adc_errors.py :class:`ColumnAdc`), or None: ideal ADCs."""
        return self._column_adc

    @column_adc.setter
    def column_adc(self, column_adc):
        if column_adc is not None and (not isinstance(column_adc, ColumnAdc)
                                       or column_adc.offset_lsb.shape != (self.config.columns,)):
            raise ValueError(f"column_adc must be None or a ColumnAdc of {self.config.columns} columns, "
                             f"got {column_adc!r}")
        self._column_adc = column_adc

    # -- programming ------------------------------------------------------------------------------------------------
    @classmethod
    def program(cls, weights, *, seed, t_program=0.0, scale="column", pcm=PcmModel(), adc=AdcConfig(),
                fmt=PeripheryFormat(), config=TileConfig()):
        """Map ``weights`` (rows_used x columns_used, weight units) onto a tile and program it with ``seed``.

        ``scale`` is ``"column"`` (each column's largest |w| at Gmax), ``"tile"`` (the tile's largest |w| at Gmax), or
        an array of siemens per weight unit per column, for tiles that must share a scale (a row-split layer's tiles,
        whose accumulators are added); weights beyond Gmax at that scale are an error, not clipped.
        """
        w = check_finite_array("weights", weights)
        if w.ndim != 2 or not (1 <= w.shape[0] <= config.rows) or not (1 <= w.shape[1] <= config.columns):
            raise ValueError(f"weights must be a 2-D array of at most {config.rows} rows x {config.columns} "
                             f"columns, got shape {w.shape}")
        t_program = check_nonnegative("t_program (s)", t_program)
        if isinstance(scale, str):
            if scale not in ("column", "tile"):
                raise ValueError(f"scale must be 'column', 'tile' or an array of S per weight unit, got {scale!r}")
            absmax = np.abs(w).max(axis=0) if scale == "column" else np.full(w.shape[1], np.abs(w).max())
            g_per_weight = pcm.g_max / np.where(absmax > 0, absmax, 1.0)
        else:
            g_per_weight = check_finite_array("scale (S per weight unit)", scale)
            check_shape("scale (S per weight unit)", g_per_weight, (w.shape[1],))
            if np.any(g_per_weight <= 0):
                raise ValueError("scale (S per weight unit) must be > 0 in every column")
            if np.any(np.abs(w) * g_per_weight > pcm.g_max * (1 + 1e-12)):
                raise ValueError(f"weights x scale must stay within g_max={pcm.g_max:g} S")
        g_target = np.zeros((config.rows, config.bitlines))
        g_target[:w.shape[0], 0:2 * w.shape[1]:2] = np.minimum(np.maximum(w, 0) * g_per_weight, pcm.g_max)
        g_target[:w.shape[0], 1:2 * w.shape[1]:2] = np.minimum(np.maximum(-w, 0) * g_per_weight, pcm.g_max)
        devices = pcm.program(g_target, np.random.default_rng(seed), t_program=t_program)
        return cls(devices, w.shape, g_per_weight, pcm=pcm, adc=adc, fmt=fmt, config=config, seed=seed)

    def with_adc(self, adc):
        """The same programmed devices seen through another ADC setting (e.g. another full-scale current)."""
        fmt = PeripheryFormat(**{**asdict(self.fmt), "b_adc": adc.bits})
        return CrossbarTile(self.devices, self.weight_shape, self.g_per_weight, pcm=self.pcm, adc=adc, fmt=fmt,
                            config=self.config, seed=self.seed, line_faults=self.line_faults,
                            column_adc=self.column_adc)

    # -- analog front end -------------------------------------------------------------------------------------------
    def _front_end(self, t, lo=0, hi=None):
        """Cached (rows_used, 2 (hi - lo)) float32 matrix at time t for logical columns lo..hi (default all):
        [V_read (G+ - G-) in nA | read-noise variance of the pair V_read^2 ((sigma G+)^2 + (sigma G-)^2) in nA^2], so
        one matmul with the bit-planes gives every plane's mean current and its noise variance. Nanoamperes keep the
        variances far from float32 denormals. A column range is a contiguous copy, cached too."""
        key = (t, self.devices.generation)
        if self._cache_key != key:
            rows = self.weight_shape[0]
            g = self.read_conductance(self.pcm.conductance_at(self.devices, t))[:rows] * (self.config.v_read * 1e9)
            var = (self.pcm.read_sigma_of(self.devices, t)[:rows] * g) ** 2
            self._stacked = np.concatenate([g[:, 0::2] - g[:, 1::2], var[:, 0::2] + var[:, 1::2]],
                                           axis=1).astype(np.float32)
            self._stacked_ranges = {}
            self._cache_key = key
        cols = self._stacked.shape[1] // 2
        hi = cols if hi is None else hi
        if (lo, hi) == (0, cols):
            return self._stacked
        if (lo, hi) not in self._stacked_ranges:
            self._stacked_ranges[lo, hi] = np.ascontiguousarray(np.concatenate(
                [self._stacked[:, lo:hi], self._stacked[:, cols + lo:cols + hi]], axis=1))
        return self._stacked_ranges[lo, hi]

    def read_conductance(self, g):
        """What a read sees of device conductances ``g`` (rows x bitlines, S): the effective conductances after the
        dead bitlines, the IR drop and the dead wordlines (``g`` itself when none is on)."""
        faults, cfg = self.line_faults, self.config
        g_eff = effective_conductance(faults.open_bitlines(g), cfg.r_wordline, cfg.r_bitline, cfg.ir_exact)
        return faults.undriven_wordlines(g_eff)

    def _pulses(self, x, encoding):
        """Validated activations (batch, rows_used) -> wordline pulse lengths (reads, batch, rows_used)."""
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None]
        check_shape("activations", x, (None, self.weight_shape[0]))
        return wordline_pulses(x, encoding, self.fmt.b_in)

    def bitline_currents(self, x, t, rng, read_devices=False, encoding=InputEncoding.BIT_SERIAL):
        """Differential bitline currents (A), shape (reads, batch, columns), of activations ``x`` (batch, rows_used)
        read at absolute time ``t`` (s) with ``encoding``; each device's programming time is held in the devices.
        A PWM read's current is the mean current over its integration window (D8).

        ``read_devices=True`` draws the read noise of every device on every read instead of the current noise
        (slow; the reference for the fast path)."""
        t = check_nonnegative("t (s)", t)
        encoding = InputEncoding.parse(encoding)
        return self._analog(self._pulses(x, encoding), encoding, t, rng, read_devices, False, _NO_TIMER)[0]

    def _analog(self, pulses, encoding, t, rng, read_devices, adc, timer, used=None):
        """Currents (A) of every read and, when ``adc``, their codes and ADC saturations (low, high), of the first
        ``used`` logical columns (default all)."""
        cols = self.config.columns
        used = cols if used is None else used
        if used < cols and adc and self.column_adc is not None:
            # Column ADC errors and comparator draws are laid out over the whole width: convert it, keep the first.
            currents, codes, sats = self._analog(pulses, encoding, t, rng, read_devices, adc, timer)
            return currents[..., :used], codes[..., :used], sats
        shape = pulses.shape[:2] + (used,)
        window = read_window(encoding, self.fmt.b_in)
        if read_devices:
            currents, codes, sats = self._analog_devices(pulses, window, t, rng, adc)
            return currents[..., :used], (codes[..., :used] if adc else None), sats
        timer.start()
        self._front_end(t)                   # the drifted conductances: computed at the first MVM at a new time
        timer.lap("drift (cached)")
        mean, var = self._column_moments(pulses, t, window, used)
        timer.lap("matmul")
        # The rest runs in row chunks on up to `threads` threads (one chunk per _MIN_CHUNK values at least, as a
        # thread costs ~0.1 ms), each chunk with its own spawned generator: the result depends on the seed, the
        # thread count and the shape, never on timing.
        n_chunks = max(1, min(self.threads, mean.shape[0] * cols // _MIN_CHUNK))
        column_adc = self.column_adc
        draws = self.pcm.read_noise or (adc and column_adc is not None and column_adc.draws)
        gens = spawn_generators(rng, n_chunks) if draws else [None] * n_chunks
        bounds = np.linspace(0, mean.shape[0], n_chunks + 1).astype(int)
        currents = np.empty((mean.shape[0], used))
        codes = np.empty((mean.shape[0], used), dtype=np.int64) if adc else None
        to_amperes = 1e-9 / window           # nA x unit times -> the window's mean current in A

        def chunk(k):
            timer.start()
            lo, hi = bounds[k], bounds[k + 1]
            current = mean[lo:hi]
            if self.pcm.read_noise:
                noise = self._read_noise(gens[k], hi - lo, used)
                timer.lap("noise draw")
                noise *= np.sqrt(var[lo:hi], out=var[lo:hi])
                noise += current
                current = noise
            np.multiply(current, to_amperes, out=currents[lo:hi], dtype=np.float64)
            timer.lap("noise add")
            if adc and column_adc is not None:
                _, sats = column_adc.convert(currents[lo:hi], self.adc, gens[k], out=codes[lo:hi])
                timer.lap("ADC")
                return sats
            if adc:
                _, sats = _adc.convert_finite(currents[lo:hi], self.adc, out=codes[lo:hi],
                                              work=scratch("tile adc", (hi - lo, used), np.float64))
                timer.lap("ADC")
                return sats
            return (0, 0)

        sats = run_parallel([lambda k=k: chunk(k) for k in range(n_chunks)])
        sats = tuple(int(sum(s[i] for s in sats)) for i in range(2))
        return currents.reshape(shape), (codes.reshape(shape) if adc else None), sats

    def _column_moments(self, pulses, t, window, used):
        """Mean charge and read-noise variance (reads x batch, ``used``) of the first ``used`` logical columns.

        The matmul spans the tile's programmed columns (its weights' width), then, only when more are asked (a
        whole-width MVM), the unprogrammed rest in a second product: BLAS may sum a product of another width in
        another order, so the programmed columns get the same float32 values whichever width is asked."""
        programmed = self.weight_shape[1]
        mean, var = self._moments(pulses, self._front_end(t, 0, programmed), window)
        if used <= programmed:
            return mean[:, :used], var[:, :used]
        mean, var = mean.copy(), var.copy()      # the second product reuses the scratch buffers
        extra = used - programmed
        rest = self._moments(pulses, self._front_end(t, programmed, self.config.columns), window)
        return np.concatenate([mean, rest[0][:, :extra]], axis=1), np.concatenate([var, rest[1][:, :extra]], axis=1)

    def _read_noise(self, gen, reads, used):
        """N(0, 1) read noise (reads, ``used``) of one chunk from generator ``gen``, drawn for every column of the
        tile (the Box-Muller transform computed for the used ones only), so the used columns get the same noise
        whichever width is asked."""
        cols = self.config.columns
        n = reads * cols
        return box_muller(gen, n, scratch("tile noise", n + n % 2, np.float32),
                          keep=None if used == cols else (cols, used)).reshape(reads, used)

    @staticmethod
    def _moments(pulses, m, window):
        """Charge (nA x unit times) of every read and column without noise, and its read-noise variance: float32
        (reads x batch, columns) each. Pulse lengths p: mean p @ V(G+ - G-), variance p^2 @ V^2 ((sigma G+)^2 +
        (sigma G-)^2). A pulse never exceeds the window, so in a window of one unit (every bit-serial read) the
        lengths are 0 or 1, p^2 = p, and one matmul with the stacked matrix gives both; PWM takes a second matmul with
        the squared lengths."""
        cols = m.shape[1] // 2
        flat = pulses.reshape(-1, pulses.shape[-1])
        p32 = scratch("tile pulses", flat.shape, np.float32)
        np.copyto(p32, flat)
        y = np.matmul(p32, m if window == 1 else m[:, :cols],
                      out=scratch("tile y", (flat.shape[0], m.shape[1] if window == 1 else cols), np.float32))
        if window == 1:
            return y[:, :cols], y[:, cols:]
        np.multiply(p32, p32, out=p32)      # a device's charge error grows with its pulse length (D8)
        var = np.matmul(p32, m[:, cols:], out=scratch("tile var", (flat.shape[0], cols), np.float32))
        return y, var

    def _analog_devices(self, pulses, window, t, rng, adc):
        """The reference path: every device read afresh (its read-noise factor held for the read) for every read
        and MVM, and the bitline currents summed device by device."""
        rows = self.weight_shape[0]
        v = self.config.v_read
        currents = np.empty(pulses.shape[:2] + (self.config.columns,))
        for r in range(pulses.shape[0]):
            for n in range(pulses.shape[1]):
                g = self.read_conductance(self.pcm.read(self.devices, t, rng))[:rows]
                currents[r, n] = v * (pulses[r, n].astype(np.float64) @ (g[:, 0::2] - g[:, 1::2])) / window
        if not adc:
            return currents, None, None
        if self.column_adc is not None:
            return (currents,) + self.column_adc.convert(currents, self.adc, rng)
        return (currents,) + _adc.convert_finite(currents, self.adc)

    @property
    def threads(self):
        """Threads sharing the work after the matmul (noise draw, noise add, ADC); BLAS threads its own matmul."""
        return self._threads

    @threads.setter
    def threads(self, n):
        self._threads = check_int("threads", n, 1, 64)

    # -- full MVM ---------------------------------------------------------------------------------------------------
    def mvm(self, x, t, rng, read_devices=False, timer=None, encoding=InputEncoding.BIT_SERIAL, columns=None):
        """MVM of activations ``x`` (batch, rows_used) at time t with ``encoding``: currents, ADC codes, accumulators.

        ``timer``, a :class:`StageTimer`, accumulates the time spent in each stage (for the benchmark), summed
        over the threads that share the work. ``columns``: only the first ``columns`` logical columns (the ones
        holding weights) are returned, equal bit for bit to those of the whole-width MVM (the programmed columns'
        matmul comes first, :meth:`_column_moments`; the noise is drawn for every column, :meth:`_read_noise`) for
        a fraction of the work (the studies' hot path); the saturation counts are then those of these columns (with column ADC errors, of the
        whole width, which is converted).
        """
        t = check_nonnegative("t (s)", t)
        encoding = InputEncoding.parse(encoding)
        used = None if columns is None else check_int("columns", columns, 1, self.config.columns)
        timer = timer or _NO_TIMER
        timer.start()
        pulses = self._pulses(x, encoding)
        timer.lap(_STAGES[encoding][0])
        currents, codes, adc_sats = self._analog(pulses, encoding, t, rng, read_devices, True, timer, used)
        timer.start()
        acc, acc_sats = accumulate_valid(codes, self.fmt, encoding)
        timer.lap(_STAGES[encoding][1])
        return MvmResult(currents, codes, acc, adc_sats, acc_sats, encoding)

    def reprogram(self, mask, rng, t_now):
        """Reprogram the devices (rows x bitlines boolean ``mask``) at absolute time ``t_now`` (s): fresh programming
        noise and drift exponents, drift clock reset. Returns the number of devices rewritten."""
        n = self.devices.reprogram(self.pcm, mask, rng, t_now)
        self._cache_key = None
        return n

    def acc_unit(self, encoding=InputEncoding.BIT_SERIAL):
        """Weight x activation units of one accumulator LSB, per column: W_enc * I_lsb / (V_read * gpw), with W_enc
        the read window in unit times (1 bit-serial, 2^B_in - 1 PWM: the ADC sees the window's mean current)."""
        return read_window(encoding, self.fmt.b_in) * self.adc.i_lsb / (self.config.v_read * self.g_per_weight)

    def to_weight_units(self, acc, encoding=InputEncoding.BIT_SERIAL):
        """Convert accumulators back to weight x activation units: acc * :meth:`acc_unit`."""
        return np.asarray(acc) * self.acc_unit(encoding)[:np.shape(acc)[-1]]

    # -- persistence ------------------------------------------------------------------------------------------------
    def save(self, path):
        """Save the programmed tile (conductances, drift exponents, seed, programming times, stuck devices, dead
        lines, column ADC errors, all parameters)."""
        defects = {}
        if self.devices.stuck is not None:
            defects["stuck"] = self.devices.stuck
        if self.column_adc is not None:
            defects.update(adc_offset_lsb=self.column_adc.offset_lsb, adc_gain=self.column_adc.gain,
                           adc_comparator_lsb=np.array(self.column_adc.comparator_lsb))
        np.savez_compressed(
            path, g_target=self.devices.g_target, g_prog=self.devices.g_prog, nu=self.devices.nu,
            t_program=self.devices.t_program, weight_shape=np.array(self.weight_shape),
            g_per_weight=self.g_per_weight, seed=np.array(-1 if self.seed is None else self.seed),
            pcm=np.array(repr(asdict(self.pcm))), adc=np.array(repr(asdict(self.adc))),
            fmt=np.array(repr(asdict(self.fmt))), config=np.array(repr(asdict(self.config))),
            line_faults=np.array(repr(asdict(self.line_faults))), **defects)

    @classmethod
    def load(cls, path):
        """Load a tile written by :meth:`save`."""
        import ast
        with np.load(path) as f:
            devices = ProgrammedDevices(f["g_target"], f["g_prog"], f["nu"], f["t_program"],
                                        f["stuck"] if "stuck" in f.files else None)
            seed = int(f["seed"])
            kw = {k: ast.literal_eval(str(f[k])) for k in ("pcm", "adc", "fmt", "config")}
            faults = LineFaults(**ast.literal_eval(str(f["line_faults"]))) if "line_faults" in f.files else LineFaults()
            column_adc = (ColumnAdc(f["adc_offset_lsb"], f["adc_gain"], float(f["adc_comparator_lsb"]))
                          if "adc_gain" in f.files else None)
            return cls(devices, tuple(int(v) for v in f["weight_shape"]), f["g_per_weight"],
                       pcm=PcmModel(**kw["pcm"]), adc=AdcConfig(**kw["adc"]), fmt=PeripheryFormat(**kw["fmt"]),
                       config=TileConfig(**kw["config"]), seed=None if seed < 0 else seed, line_faults=faults,
                       column_adc=column_adc)


class StageTimer:
    """Accumulates, per stage name, the time between :meth:`start` or the previous :meth:`lap` and each lap.

    ``clock`` is any function returning seconds: ``time.perf_counter`` (wall time) or ``time.thread_time`` (CPU time
    of the calling thread, which other processes' load does not inflate). Several threads may time at once (the
    chip's tiles on :func:`~neurophase.model.device.map_parallel`, a tile's row chunks): each keeps its own start and
    the stages sum over threads (thread-seconds; with ``thread_time``, the CPU time of each stage).
    """

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.seconds = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def start(self):
        self._local.t = self.clock()

    def lap(self, stage):
        now = self.clock()
        elapsed = now - getattr(self._local, "t", now)
        self._local.t = now
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed


class _NullTimer(StageTimer):
    def start(self):
        pass

    def lap(self, stage):
        pass


_NO_TIMER = _NullTimer()
