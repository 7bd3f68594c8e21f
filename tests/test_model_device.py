"""PCM device statistics of the golden model against docs/architecture.md §3 and decision D1.

Tolerances: every statistic is compared with its expectation within Z = 5 standard errors of the estimator at the
sample size used (two-sided normal tail 5.7e-7 per comparison), the standard error derived from the sample size,
never tuned. The expectations are written here from the spec's formulas, not taken from the model.
"""

import math

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss

from neurophase.model.device import PcmModel, ProgrammedDevices, box_muller, spawn_generators

Z = 5.0
N = 100_000
US = 1e-6
G_MAX = 25 * US
T0 = 20.0
HOUR, DAY, YEAR = 3600.0, 86400.0, 365 * 86400.0


def sigma_prog_spec(gr):
    """docs/architecture.md §3: programming-noise sigma (S) at Gmax = 25 uS."""
    return (0.26348 + 1.9650 * gr - 1.1731 * gr ** 2) * US


def drift_mu_sd_spec(gr):
    mu = min(max(-0.0155 * math.log(gr) + 0.0244, 0.049), 0.1)
    sd = min(max(-0.0125 * math.log(gr) - 0.0059, 0.008), 0.045)
    return mu, sd


def normal_cdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def mean_drift_factor(gr, t):
    """E[((t + t0)/t0)^-|mu + sd N|] in closed form: with L = ln((t + t0)/t0) and Y ~ N(mu, sd^2),
    E[e^{-L|Y|}] = e^{-L mu + L^2 sd^2 / 2} Phi(mu/sd - L sd) + e^{L mu + L^2 sd^2 / 2} Phi(-mu/sd - L sd)
    (complete the square on each side of Y = 0)."""
    mu, sd = drift_mu_sd_spec(gr)
    lg = math.log((t + T0) / T0)
    return (math.exp(-lg * mu + (lg * sd) ** 2 / 2) * normal_cdf(mu / sd - lg * sd)
            + math.exp(lg * mu + (lg * sd) ** 2 / 2) * normal_cdf(-mu / sd - lg * sd))


def mean_drift_factor_quadrature(gr, t, nodes=80):
    """The same expectation by Gauss-Hermite quadrature (probabilists' weight e^{-x^2/2})."""
    mu, sd = drift_mu_sd_spec(gr)
    x, w = hermegauss(nodes)
    return float(np.sum(w * ((t + T0) / T0) ** -np.abs(mu + sd * x)) / math.sqrt(2 * math.pi))


def program_population(pcm, gr, seed, n=N):
    return pcm.program(np.full(n, gr * pcm.g_max), np.random.default_rng(seed))


@pytest.mark.parametrize("gr", [0.5, 1.0])
def test_programming_noise_sigma_matches_spec(gr):
    pcm = PcmModel(drift=False, read_noise=False)
    g = program_population(pcm, gr, seed=11).g_prog
    sigma = sigma_prog_spec(gr)
    # Far from the clip at 0 (> 10 sigma) the programmed conductance is normal: se(mean) = sigma / sqrt(n),
    # se(std) = sigma / sqrt(2 (n - 1)).
    assert abs(g.mean() - gr * G_MAX) <= Z * sigma / math.sqrt(N)
    assert abs(g.std(ddof=1) - sigma) <= Z * sigma / math.sqrt(2 * (N - 1))


def test_programming_noise_at_zero_target_is_half_normal():
    pcm = PcmModel(drift=False, read_noise=False)
    g = program_population(pcm, 0.0, seed=12).g_prog
    s = sigma_prog_spec(0.0)
    # max(0, s N): P(G = 0) = 1/2, E[G] = s / sqrt(2 pi), E[G^2] = s^2 / 2, Var[G^2] = E[G^4] - E[G^2]^2 = 5 s^4 / 4.
    assert g.min() == 0.0
    assert abs(np.mean(g == 0) - 0.5) <= Z * math.sqrt(0.25 / N)
    assert abs(g.mean() - s / math.sqrt(2 * math.pi)) <= Z * s * math.sqrt(0.5 - 1 / (2 * math.pi)) / math.sqrt(N)
    assert abs(np.mean(g ** 2) - s ** 2 / 2) <= Z * s ** 2 * math.sqrt(5 / 4) / math.sqrt(N)


@pytest.mark.parametrize("gr", [0.5, 1.0])
def test_closed_form_drift_expectation_agrees_with_gauss_hermite(gr):
    # Where mu > 6 sd the fold |.| is immaterial and the quadrature of a smooth integrand converges: a check on
    # the closed form used below.
    for t in (HOUR, DAY, YEAR):
        assert mean_drift_factor(gr, t) == pytest.approx(mean_drift_factor_quadrature(gr, t), rel=1e-9)


@pytest.mark.parametrize("gr", [0.01, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("t", [HOUR, DAY, YEAR], ids=["1h", "1d", "1y"])
def test_mean_drift_factor_matches_expectation(gr, t):
    pcm = PcmModel(prog_noise=False, read_noise=False)
    devices = program_population(pcm, gr, seed=13)
    factor = pcm.conductance_at(devices, t) / devices.g_prog
    assert abs(factor.mean() - mean_drift_factor(gr, t)) <= Z * factor.std(ddof=1) / math.sqrt(N)


@pytest.mark.parametrize("nu, t, expected", [
    (0.049, HOUR, 0.775), (0.049, DAY, 0.664), (0.049, 30 * DAY, 0.562), (0.049, YEAR, 0.497),
    (0.1, HOUR, 0.595), (0.1, DAY, 0.433), (0.1, 30 * DAY, 0.308), (0.1, YEAR, 0.240)])
def test_fixed_nu_drift_factor_matches_references(nu, t, expected):
    # docs/references.md (first part, PCM device statistics) gives these factors to 3 decimals, so they agree within
    # half a unit of the last digit.
    g = np.full(4, 10 * US)
    devices = ProgrammedDevices(g.copy(), g.copy(), np.full(4, nu), np.zeros(4))
    factor = PcmModel(prog_noise=False, read_noise=False).conductance_at(devices, t) / g
    np.testing.assert_allclose(factor, expected, atol=5e-4)


def test_drift_clock_starts_at_programming_time():
    pcm = PcmModel(prog_noise=False, read_noise=False)
    devices = pcm.program(np.full(100, 10 * US), np.random.default_rng(1), t_program=1000.0)
    np.testing.assert_array_equal(pcm.conductance_at(devices, 1000.0), devices.g_prog)
    later = pcm.conductance_at(devices, 1000.0 + DAY) / devices.g_prog
    np.testing.assert_allclose(later, ((DAY + T0) / T0) ** -devices.nu, rtol=1e-12)


@pytest.mark.parametrize("gr", [0.005, 0.5, 1.0])
@pytest.mark.parametrize("t", [0.0, 1.0, 3600.0, DAY])
def test_read_noise_sigma_matches_spec(gr, t):
    """The 1/f law with the drift's time origin, t + t0 (D1), as aihwkit: read noise is not zero at t = 0."""
    pcm = PcmModel(prog_noise=False)
    devices = program_population(pcm, gr, seed=14)
    g_t = pcm.conductance_at(devices, t)
    rel = pcm.read(devices, t, np.random.default_rng(15)) / g_t - 1
    sigma = min(0.0088 / gr ** 0.65, 0.2) * math.sqrt(math.log((t + T0 + 250e-9) / (2 * 250e-9)))
    assert sigma > 0
    assert abs(rel.mean()) <= Z * sigma / math.sqrt(N)
    assert abs(rel.std(ddof=1) - sigma) <= Z * sigma / math.sqrt(2 * (N - 1))


def test_read_noise_is_fresh_on_every_read():
    pcm = PcmModel(prog_noise=False)
    devices = program_population(pcm, 0.5, seed=16)
    rng = np.random.default_rng(17)
    a, b = (pcm.read(devices, DAY, rng) / pcm.conductance_at(devices, DAY) - 1 for _ in range(2))
    # Independent reads: the sample correlation has standard error 1 / sqrt(n).
    assert abs(np.corrcoef(a, b)[0, 1]) <= Z / math.sqrt(N)


def test_programming_is_reproducible_for_a_seed():
    pcm = PcmModel(p_stuck_set=0.01, p_stuck_reset=0.01)
    g = np.linspace(0, G_MAX, 1000)
    first, again, other = (pcm.program(g, np.random.default_rng(s)) for s in (5, 5, 6))
    for name in ("g_prog", "nu"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
        assert not np.array_equal(getattr(first, name), getattr(other, name))


def test_stuck_at_fault_fractions_and_values():
    n, p_set, p_reset = 200_000, 0.01, 0.03
    pcm = PcmModel(p_stuck_set=p_set, p_stuck_reset=p_reset)
    devices = program_population(pcm, 0.5, seed=18, n=n)
    # Mid-range targets never program to exactly Gmax or 0 (13 sigma away), so these are the stuck devices.
    stuck_set, stuck_reset = devices.g_prog == G_MAX, devices.g_prog == 0.0
    for frac, p in ((stuck_set.mean(), p_set), (stuck_reset.mean(), p_reset)):
        assert abs(frac - p) <= Z * math.sqrt(p * (1 - p) / n)
    # Stuck devices do not drift.
    g_year = pcm.conductance_at(devices, YEAR)
    assert np.all(g_year[stuck_set] == G_MAX) and np.all(g_year[stuck_reset] == 0.0)
    assert np.all(g_year[~(stuck_set | stuck_reset)] < devices.g_prog[~(stuck_set | stuck_reset)])


def test_reprogramming_resets_the_drift_clock_of_masked_devices_only():
    pcm = PcmModel()
    devices = program_population(pcm, 0.5, seed=19, n=1000)
    before = devices.g_prog.copy(), devices.nu.copy()
    mask = np.zeros(1000, dtype=bool)
    mask[::3] = True
    assert devices.reprogram(pcm, mask, np.random.default_rng(20), DAY) == mask.sum()
    assert devices.generation == 1
    np.testing.assert_array_equal(devices.t_program, np.where(mask, DAY, 0.0))
    np.testing.assert_array_equal(devices.g_prog[~mask], before[0][~mask])
    np.testing.assert_array_equal(devices.nu[~mask], before[1][~mask])
    assert np.all(devices.g_prog[mask] != before[0][mask])
    np.testing.assert_array_equal(pcm.conductance_at(devices, DAY)[mask], devices.g_prog[mask])


def test_box_muller_samples_are_standard_normal():
    n = 1_000_000
    z = box_muller(np.random.Generator(np.random.SFC64(21)), n).astype(np.float64)
    assert z.shape == (n,)
    assert abs(z.mean()) <= Z / math.sqrt(n)
    assert abs(z.var() - 1) <= Z * math.sqrt(2 / n)
    assert abs(np.mean(z ** 4) - 3) <= Z * math.sqrt(96 / n)          # Var[z^4] = E[z^8] - 9 = 96
    for k in (1, 2, 3, 4):
        p = math.erfc(k / math.sqrt(2))                                 # P(|z| > k)
        assert abs(np.mean(np.abs(z) > k) - p) <= Z * math.sqrt(p * (1 - p) / n)
    # Neighbours, and the cosine and sine halves (which share radii), are uncorrelated, also in magnitude.
    cos, sin = z[:n // 2], z[n // 2:]
    for a, b in ((z[:-1], z[1:]), (cos, sin), (cos ** 2, sin ** 2)):
        assert abs(np.corrcoef(a, b)[0, 1]) <= Z / math.sqrt(a.size)


@pytest.mark.parametrize("n", [7, 8, 1001])
def test_box_muller_into_a_buffer_equals_a_fresh_draw(n):
    fresh = box_muller(np.random.Generator(np.random.SFC64(1)), n)
    buf = np.full(n + n % 2 + 3, np.nan, dtype=np.float32)
    into = box_muller(np.random.Generator(np.random.SFC64(1)), n, out=buf)
    assert fresh.shape == into.shape == (n,) and fresh.dtype == np.float32 and np.all(np.isfinite(fresh))
    np.testing.assert_array_equal(fresh, into)
    assert np.shares_memory(into, buf)


@pytest.mark.parametrize("rows, c", [(16, 128), (5, 128), (7, 3), (1, 2), (64, 1)])
def test_box_muller_keeping_the_first_columns_equals_the_whole_draw_cut(rows, c):
    """The tile's used-columns path: same generator, same values (even row counts, where the sines fill the second
    half of the rows, and odd ones, where a row holds cosines and sines); the generator ends in the same state."""
    n = rows * c
    for k in sorted({1, (c + 1) // 2, c}):
        whole_gen, kept_gen = (np.random.Generator(np.random.SFC64(5)) for _ in range(2))
        whole = box_muller(whole_gen, n).reshape(rows, c)
        kept = box_muller(kept_gen, n, keep=(c, k))
        assert kept.shape == (rows, k) and kept.dtype == np.float32
        np.testing.assert_array_equal(kept, whole[:, :k])
        assert kept_gen.random() == whole_gen.random()


def test_spawned_generators_depend_only_on_the_seed():
    def draws(seed):
        return [g.random(4) for g in spawn_generators(np.random.default_rng(seed), 3)]
    a, b, c = draws(3), draws(3), draws(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])
