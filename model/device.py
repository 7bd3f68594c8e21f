"""PCM device population: programming, drift and read noise as three separate steps.

Ref: docs/architecture.md §3; Nandakumar et al., IEEE ICECS 2019, as used by Joshi et al., Nat. Commun. 11, 2473
(2020) and IBM aihwkit's ``PCMLikeNoiseModel``.

With gr = G_target / Gmax:

* programming (frozen, once): G_prog = max(0, G_T + sigma_prog(gr) * N(0, 1)),
  sigma_prog = (0.26348 + 1.9650 gr - 1.1731 gr^2) uS * Gmax / 25 uS; a drift exponent
  nu = |mu(gr) + sd(gr) * N(0, 1)| is drawn per device, mu = clip(-0.0155 ln gr + 0.0244, 0.049, 0.1),
  sd = clip(-0.0125 ln gr - 0.0059, 0.008, 0.045).
* drift to time t after programming: G(t) = G_prog * ((t + t0) / t0)^(-nu), t0 = 20 s. Time is counted from
  the end of programming and the model's reference read is t0 later, as in aihwkit (t_inference + t0), so t = 0
  is the freshly programmed state.
* read (fresh on every read): G_read = G(t) * (1 + sigma_read * N(0, 1)),
  sigma_read = min(0.0088 / gr^0.65, 0.2) * sqrt(ln((t + t0 + t_read) / (2 t_read))), t_read = 250 ns, with gr of
  the target conductance. The time in the 1/f law has the drift's origin, t + t0 (aihwkit uses t_inference + t0 for
  both), so a freshly programmed device (t = 0) already has read noise.

Optional stuck-at faults: a fraction of devices stuck at SET (Gmax) or RESET (0), drawn at programming and
permanent: reprogramming leaves a stuck device stuck (and makes no new one). Law and use: docs/architecture.md D13.

Also here, for the fresh noise of the tile's hot path: ``box_muller`` (exact N(0, 1) draws, fast),
``spawn_generators`` and ``run_parallel`` (deterministic parallel draws), ``scratch`` (reusable temporaries).
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from neurophase.model.checks import check_finite_array, check_nonnegative, check_positive, check_probability

__all__ = ["PcmModel", "ProgrammedDevices", "STUCK_SET", "STUCK_RESET", "box_muller", "spawn_generators",
           "run_parallel", "map_parallel", "scratch"]

_US = 1e-6
STUCK_SET, STUCK_RESET = 1, -1      # ProgrammedDevices.stuck codes


@dataclass(frozen=True)
class PcmModel:
    """Statistics of the PCM devices. Every field is a parameter; defaults from Nandakumar et al. 2019.

    g_max : largest programmable conductance (S).
    t0 : drift reference time (s).
    t_read : read duration in the 1/f noise law (s).
    prog_noise, drift, read_noise : switch each non-ideality on or off.
    p_stuck_set, p_stuck_reset : probability that a device is stuck at Gmax / at 0.
    """
    g_max: float = 25 * _US
    t0: float = 20.0
    t_read: float = 250e-9
    prog_noise: bool = True
    drift: bool = True
    read_noise: bool = True
    p_stuck_set: float = 0.0
    p_stuck_reset: float = 0.0

    def __post_init__(self):
        check_positive("g_max (S)", self.g_max)
        check_positive("t0 (s)", self.t0)
        check_positive("t_read (s)", self.t_read)
        check_probability("p_stuck_set", self.p_stuck_set)
        check_probability("p_stuck_reset", self.p_stuck_reset)
        if self.p_stuck_set + self.p_stuck_reset > 1:
            raise ValueError("p_stuck_set + p_stuck_reset must be <= 1, got "
                             f"{self.p_stuck_set} + {self.p_stuck_reset}")

    def ideal(self):
        """The same model with every non-ideality off."""
        return replace(self, prog_noise=False, drift=False, read_noise=False, p_stuck_set=0.0, p_stuck_reset=0.0)

    # -- the statistics, as functions of gr = G_target / Gmax ----------------------------------------------------
    def sigma_prog(self, gr):
        """Programming-noise standard deviation (S)."""
        gr = np.asarray(gr, dtype=np.float64)
        return (0.26348 + 1.9650 * gr - 1.1731 * gr ** 2) * _US * (self.g_max / (25 * _US))

    @staticmethod
    def drift_mu_sd(gr):
        """Mean and spread of the drift exponent's underlying normal."""
        with np.errstate(divide="ignore"):
            lg = np.log(np.asarray(gr, dtype=np.float64))
        mu = np.clip(-0.0155 * lg + 0.0244, 0.049, 0.1)
        sd = np.clip(-0.0125 * lg - 0.0059, 0.008, 0.045)
        return mu, sd

    def drift_factor(self, nu, t):
        """(t + t0)/t0 to the power -nu."""
        return ((t + self.t0) / self.t0) ** (-np.asarray(nu))

    def read_sigma(self, gr, age):
        """Relative read-noise standard deviation of a read ``age`` seconds after programming (vectorised): the 1/f
        law over the time since the drift's reference, ``age + t0`` (docs/architecture.md D1)."""
        with np.errstate(divide="ignore"):
            q = np.minimum(0.0088 / np.asarray(gr, dtype=np.float64) ** 0.65, 0.2)
        arg = np.log((np.asarray(age, dtype=np.float64) + self.t0 + self.t_read) / (2 * self.t_read))
        return q * np.sqrt(arg)

    # -- the three steps --------------------------------------------------------------------------------------------
    def program(self, g_target, rng, t_program=0.0):
        """Program devices to ``g_target`` (S) at absolute time ``t_program`` (s); returns the frozen state."""
        g_target = check_finite_array("g_target (S)", g_target)
        t_program = check_nonnegative("t_program (s)", t_program)
        if g_target.size and (g_target.min() < 0 or g_target.max() > self.g_max * (1 + 1e-12)):
            raise ValueError(f"g_target must lie in [0, g_max={self.g_max:g} S], "
                             f"got [{g_target.min():g}, {g_target.max():g}]")
        gr = g_target / self.g_max
        if self.prog_noise:
            g_prog = np.maximum(0.0, g_target + self.sigma_prog(gr) * rng.standard_normal(g_target.shape))
        else:
            g_prog = g_target.copy()
        if self.drift:
            mu, sd = self.drift_mu_sd(gr)
            nu = np.abs(mu + sd * rng.standard_normal(g_target.shape))
        else:
            nu = np.zeros(g_target.shape)
        stuck = None
        if self.p_stuck_set or self.p_stuck_reset:
            u = rng.random(g_target.shape)
            stuck = np.where(u < self.p_stuck_set, STUCK_SET,
                             np.where(u < self.p_stuck_set + self.p_stuck_reset, STUCK_RESET, 0)).astype(np.int8)
            g_prog, nu = self.apply_stuck(stuck, g_prog, nu)
        return ProgrammedDevices(g_target=g_target, g_prog=g_prog, nu=nu,
                                 t_program=np.full(g_target.shape, t_program), stuck=stuck)

    def apply_stuck(self, stuck, g_prog, nu):
        """Conductances and drift exponents with the stuck devices (``stuck``: STUCK_SET / STUCK_RESET / 0) at Gmax
        or 0 S, without drift."""
        g_prog = np.where(stuck == STUCK_SET, self.g_max, np.where(stuck == STUCK_RESET, 0.0, g_prog))
        return g_prog, np.where(stuck != 0, 0.0, nu)

    def conductance_at(self, devices, t):
        """Drifted conductance (S) of every device at absolute time ``t`` (s); no read noise."""
        t = check_nonnegative("t (s)", t)
        age = t - devices.t_program
        if np.any(age < 0):
            raise ValueError(f"t (s) must be >= the latest programming time of the devices, "
                             f"{devices.t_program.max():g} s, got {t:g}")
        if not self.drift:
            return devices.g_prog.copy()
        return devices.g_prog * ((age + self.t0) / self.t0) ** (-devices.nu)

    def read(self, devices, t, rng):
        """One read of every device at absolute time ``t``: drifted conductance with fresh 1/f read noise."""
        g = self.conductance_at(devices, t)
        if not self.read_noise:
            return g
        return g * (1.0 + self.read_sigma_of(devices, t) * rng.standard_normal(g.shape))

    def read_sigma_of(self, devices, t):
        """Relative read-noise sigma of every device at absolute time ``t`` (zero when read noise is off)."""
        if not self.read_noise:
            return np.zeros(devices.g_prog.shape)
        return self.read_sigma(devices.g_target / self.g_max, t - devices.t_program)


@dataclass
class ProgrammedDevices:
    """Frozen state of programmed devices: targets, programmed conductances, drift exponents, programming times.

    ``generation`` counts reprogramming events, so holders of derived data (a tile's cached conductance matrices)
    can tell that the devices changed under them.
    """
    g_target: np.ndarray
    g_prog: np.ndarray
    nu: np.ndarray
    t_program: np.ndarray
    stuck: np.ndarray = None        # int8 STUCK_SET / STUCK_RESET / 0 per device; None: no stuck device
    generation: int = field(default=0, compare=False)

    def reprogram(self, model, mask, rng, t_now):
        """Reprogram the devices where ``mask`` is true at time ``t_now``: fresh noise, fresh nu, drift clock reset;
        a stuck device stays stuck. Returns the number of devices rewritten (stuck ones included: they were tried).
        """
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != self.g_target.shape:
            raise ValueError(f"mask must be a boolean array of shape {self.g_target.shape}, "
                             f"got {mask.dtype} {mask.shape}")
        t_now = check_nonnegative("t_now (s)", t_now)
        if mask.any() and t_now < self.t_program[mask].max():
            raise ValueError(f"t_now must be >= the last programming time of the masked devices "
                             f"({self.t_program[mask].max():g} s), got {t_now:g}")
        fresh = replace(model, p_stuck_set=0.0, p_stuck_reset=0.0).program(self.g_target[mask], rng, t_program=t_now)
        g_prog, nu = fresh.g_prog, fresh.nu
        if self.stuck is not None:
            g_prog, nu = model.apply_stuck(self.stuck[mask], g_prog, nu)
        self.g_prog[mask] = g_prog
        self.nu[mask] = nu
        self.t_program[mask] = t_now
        self.generation += 1
        return int(mask.sum())


def box_muller(gen, n, out=None, keep=None):
    """``n`` fresh independent N(0, 1) samples (float32, 1-D) from generator ``gen``: exact, and fast.

    Box-Muller: for u1 uniform on (0, 1] and u2 uniform on [0, 1), sqrt(-2 ln u1) cos(2 pi u2) and
    sqrt(-2 ln u1) sin(2 pi u2) are two independent standard normals, exactly. u1 is a float64 with 53 random
    bits, so the tails reach sqrt(106 ln 2) = 8.57 sigma (the normal mass beyond is 1e-17); u2 has 24 bits of
    angle; the rest is float32 rounding. It is about twice as fast as numpy's ziggurat (float32) here because
    numpy's float32 log, sin and cos are vectorised. The first half of the result holds the cosines and the second
    half the sines of the same pairs.

    ``out``, if given, is a float32 array of at least n + n % 2 elements; the result is then a view of it.
    Temporaries live in this thread's :func:`scratch`.

    ``keep = (c, k)``: the n samples are rows of c values (n a multiple of c), of which only the first k of each row
    are wanted; returns them, (n // c, k), equal bit for bit to ``box_muller(gen, n).reshape(-1, c)[:, :k]``. The
    generator draws every uniform (it advances as for n samples); the logarithms, roots and sines are computed for
    the kept samples only (a tile's used columns: ``CrossbarTile.mvm(columns=...)``).
    """
    half = (n + 1) // 2
    u1 = gen.random(out=scratch("box_muller u1", half, np.float64))
    angle = gen.random(out=scratch("box_muller angle", half, np.float32), dtype=np.float32)
    if keep is None:
        radius, angle = _polar(u1, angle)
        out = np.empty(2 * half, dtype=np.float32) if out is None else out.reshape(-1)[:2 * half]
        parts = ((radius, angle, out[:half]), (radius, angle, out[half:]))
    else:
        c, k = keep
        out = np.empty(n // c * k, dtype=np.float32) if out is None else out.reshape(-1)[:n // c * k]
        if n % (2 * c) == 0:        # an even number of rows: cosines in the first half of the rows, sines in the rest
            radius, angle = _polar(_kept(u1, c, k, "u1"), _kept(angle, c, k, "angle"))
            parts = ((radius, angle, out[:radius.size]), (radius, angle, out[radius.size:]))
        else:                       # sample i >= half is the sine of pair i - half
            pair = (np.arange(n // c)[:, None] * c + np.arange(k)).ravel()
            split = int(np.searchsorted(pair, half))
            pair[split:] -= half
            radius, angle = _polar(np.take(u1, pair), np.take(angle, pair))
            parts = ((radius[:split], angle[:split], out[:split]), (radius[split:], angle[split:], out[split:]))
    for (r, a, o), trig in zip(parts, (np.cos, np.sin)):
        trig(a, out=o)
        o *= r
    return out[:n] if keep is None else out.reshape(-1, k)


def _kept(draws, c, k, name):
    """The first ``k`` of every ``c`` uniform draws, copied into a contiguous scratch array (so numpy takes the same
    vectorised loops on them as on the whole draw)."""
    kept = scratch(f"box_muller {name} kept", (draws.size // c, k), draws.dtype)
    np.copyto(kept, draws.reshape(-1, c)[:, :k])
    return kept.reshape(-1)


def _polar(u1, angle):
    """Box-Muller radius sqrt(-2 ln(1 - u1)) (float32) and angle 2 pi u2 of uniform pairs, in place in ``u1`` and
    ``angle``."""
    np.subtract(1.0, u1, out=u1)            # [0, 1) -> (0, 1], so the log is finite
    np.log(u1, out=u1)
    radius = scratch("box_muller radius", u1.size, np.float32)
    np.multiply(u1, -2.0, out=radius)
    np.sqrt(radius, out=radius)
    angle *= np.float32(2 * np.pi)
    return radius, angle


_local = threading.local()


def scratch(name, shape, dtype):
    """A reusable, uninitialised array of ``shape`` and ``dtype`` owned by the calling thread, one per ``name``.

    For temporaries of the hot path: fresh memory costs a page fault per 4 KiB page on first touch (about 1 ms per
    2 MB measured here), more than the arithmetic on it. The buffer behind a name grows to the largest size asked
    for and is kept; the returned array is only valid until the same thread asks for the same name again.
    """
    arrays = _local.__dict__.setdefault("arrays", {})
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = arrays.get(name)
    if buf is None or buf.size < nbytes:
        buf = arrays[name] = np.empty(nbytes, dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def spawn_generators(rng, n):
    """``n`` independent generators (SFC64, the fastest numpy bit generator) spawned with SeedSequence.spawn from
    entropy drawn out of ``rng``: deterministic for the state of ``rng``, and ``rng`` advances."""
    entropy = np.random.SeedSequence(rng.integers(0, 1 << 63, size=2))
    return [np.random.Generator(np.random.SFC64(s)) for s in entropy.spawn(n)]


_pool, _pool_size = None, 0


def run_parallel(jobs):
    """Call the callables ``jobs``, the first on this thread and the rest on a shared thread pool (numpy releases the
    GIL in bulk draws and ufunc loops, so they run in parallel); return their results in order. Inside a job of
    :func:`map_parallel` they run one after another on the calling thread: the cores are taken already."""
    global _pool, _pool_size
    if len(jobs) == 1 or getattr(_local, "in_map", False):
        return [job() for job in jobs]
    if len(jobs) - 1 > _pool_size:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool, _pool_size = ThreadPoolExecutor(len(jobs) - 1, thread_name_prefix="neurophase-model"), len(jobs) - 1
    futures = [_pool.submit(job) for job in jobs[1:]]
    first = jobs[0]()
    return [first] + [f.result() for f in futures]


def map_parallel(fn, items, workers):
    """``[fn(item) for item in items]`` on up to ``workers`` threads, in order. Each call's own :func:`run_parallel`
    jobs run on its thread, so the threads never exceed ``workers``; the results equal the serial ones whenever each
    call draws from its own generators (the chip's tiles: one per tile, chunk and block)."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]

    def job(item):
        _local.in_map = True
        try:
            return fn(item)
        finally:
            _local.in_map = False

    global _map_pool, _map_pool_size
    if workers != _map_pool_size:       # a kept pool: its threads keep their scratch buffers from call to call
        if _map_pool is not None:
            _map_pool.shutdown(wait=False)
        _map_pool, _map_pool_size = ThreadPoolExecutor(workers, thread_name_prefix="neurophase-tiles"), workers
    return list(_map_pool.map(job, items))


_map_pool, _map_pool_size = None, 0
