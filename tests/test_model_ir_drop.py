"""Wire (IR) drop (docs/architecture.md D11): the exact nodal solve against circuits solved by hand, the ladder method
against the exact solve, and the tile's reads with IR drop in both input encodings."""

import numpy as np
import pytest

from neurophase.model.device import PcmModel
from neurophase.model.interface import InputEncoding
from neurophase.model.ir_drop import (effective_conductance, exact_effective_conductance,
                                      ladder_effective_conductance)
from neurophase.model.tile import CrossbarTile, TileConfig

G_MAX = 25e-6


def test_one_cell_is_the_series_circuit_of_wire_device_and_wire():
    g = np.array([[10e-6]])
    want = 1.0 / (2.0 + 1.0 / 10e-6 + 3.0)
    assert exact_effective_conductance(g, 2.0, 3.0)[0, 0] == pytest.approx(want, rel=1e-12)
    assert ladder_effective_conductance(g, 2.0, 3.0)[0, 0] == pytest.approx(want, rel=1e-9)


def test_two_cells_on_one_wordline_solved_by_hand():
    # Driver -r- node0 -r- node1; each node through its device and its bitline's segment to ground. By hand: the
    # branches to ground are series(G, 1/r), the wordline a ladder of two.
    r, g = 1000.0, np.array([[20e-6, 5e-6]])     # large r so the drop is large
    b0, b1 = (1 / (1 / gi + r) for gi in g[0])
    y1 = b1
    y0 = b0 + 1 / (r + 1 / y1)
    v0 = (1 / r) / (1 / r + y0)
    v1 = v0 * (1 / r) / (1 / r + y1)
    want = np.array([[v0 * b0, v1 * b1]])
    np.testing.assert_allclose(exact_effective_conductance(g, r, r), want, rtol=1e-10)


def test_without_wire_resistance_the_effective_conductance_is_the_device_conductance():
    g = np.random.default_rng(0).uniform(0, G_MAX, (8, 6))
    assert effective_conductance(g, 0.0, 0.0) is g
    np.testing.assert_allclose(ladder_effective_conductance(g, 0.0, 0.0), g, rtol=0, atol=0)
    np.testing.assert_allclose(exact_effective_conductance(g, 1e-9, 1e-9), g, rtol=1e-9)


@pytest.mark.parametrize("shape", [(1, 12), (12, 1)], ids=["one wordline", "one bitline"])
def test_ladder_is_exact_when_only_one_line_has_resistance(shape):
    # With one line ideal, the decoupled ladders are the whole circuit (a line of one node has no segment between
    # cells, and the other line's resistance is negligible).
    g = np.random.default_rng(1).uniform(0, G_MAX, shape)
    r_w, r_b = (50.0, 1e-9) if shape[0] == 1 else (1e-9, 50.0)
    np.testing.assert_allclose(ladder_effective_conductance(g, r_w, r_b), exact_effective_conductance(g, r_w, r_b),
                               rtol=1e-6)


# The ladder method's error against the exact solve, as stated in docs/architecture.md D11: the two drops' coupling,
# about a quarter of the relative drop squared, measured as the largest device error over the largest device drop.
@pytest.mark.parametrize("n, r, bound", [(16, 1.0, 0.002), (32, 1.0, 0.004), (64, 0.35, 0.004), (64, 1.0, 0.012),
                                         (64, 2.0, 0.02)])
def test_ladder_method_agrees_with_the_exact_solve_within_the_stated_error(n, r, bound):
    g = np.random.default_rng(n).uniform(0, G_MAX, (n, n))     # every device on: the densest array
    exact = exact_effective_conductance(g, r, r)
    ladder = ladder_effective_conductance(g, r, r)
    drop = g - exact
    assert drop.sum(axis=0).min() > 0             # every bitline loses current (a cell may gain: sneak paths)
    err = np.abs(ladder - exact).max() / drop.max()
    assert err <= bound, err
    assert err > bound / 20                                      # the bound is the error's scale, not a loose cap
    mean_drop = drop.sum() / g.sum()
    assert np.abs((ladder - exact).sum()) / g.sum() <= 0.5 * mean_drop ** 2


def test_farther_cells_lose_more():
    g = np.full((16, 16), 10e-6)
    e = exact_effective_conductance(g, 2.0, 2.0)
    # Row 0 is the farthest from the ADCs, bitline 0 the nearest to the wordline drivers.
    assert np.all(np.diff(e, axis=0) > 0) and np.all(np.diff(e, axis=1) < 0)


def test_exact_solve_rejects_an_ideal_line_and_bad_conductances():
    g = np.ones((2, 2)) * 1e-6
    with pytest.raises(ValueError, match=r"the exact IR-drop solve needs r_wordline and r_bitline > 0 ohm, "
                                         r"got 0.0 and 1.0"):
        exact_effective_conductance(g, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"conductances must be a 2-D array \(rows x bitlines\), got shape \(4,\)"):
        ladder_effective_conductance(g.ravel(), 1.0, 1.0)
    with pytest.raises(ValueError, match=r"r_wordline \(ohm\) must be a finite number >= 0, got -1"):
        TileConfig(r_wordline=-1)


@pytest.mark.parametrize("encoding", list(InputEncoding), ids=lambda e: e.label)
@pytest.mark.parametrize("exact", [False, True], ids=["ladder", "exact"])
def test_tile_reads_are_the_effective_conductance_matrix_in_both_encodings(encoding, exact):
    # The circuit is linear in the wordline voltages, so every read (bit-plane or PWM window) is the effective
    # conductance matrix of the whole array applied to the pulse lengths.
    config = TileConfig(rows=24, bitlines=16, r_wordline=20.0, r_bitline=30.0, ir_exact=exact)
    rng = np.random.default_rng(2)
    tile = CrossbarTile.program(rng.uniform(-1, 1, (20, 6)), seed=3, config=config, pcm=PcmModel().ideal())
    x = rng.integers(0, 256, (5, 20))
    g = tile.devices.g_prog
    g_eff = (exact_effective_conductance if exact else ladder_effective_conductance)(g, 20.0, 30.0)[:20]
    from neurophase.model.arith import read_window, wordline_pulses
    p = wordline_pulses(x, encoding, 8).astype(np.float64)
    want = config.v_read * p @ (g_eff[:, 0::2] - g_eff[:, 1::2]) / read_window(encoding, 8)
    got = tile.bitline_currents(x, 0.0, np.random.default_rng(4), encoding=encoding)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    # The drop is visible: the plain conductances give larger currents.
    plain = config.v_read * p @ (g[:20, 0::2] - g[:20, 1::2]) / read_window(encoding, 8)
    assert np.abs(plain - want).max() > 1e-3 * np.abs(want).max()


def test_read_noise_with_ir_drop_agrees_with_per_device_reads():
    # Fast path: each device's read noise scaled by its IR-drop factor (sigma G_eff); reference: every device read
    # afresh and the effective conductances of the noisy array solved per read. They agree to first order in the
    # noise, up to the device's own share of the drop (D11), here about 1%: within 5 standard errors of the pooled
    # variance ratio.
    config = TileConfig(rows=8, bitlines=4, r_wordline=50.0, r_bitline=50.0)
    tile = CrossbarTile.program(np.random.default_rng(5).uniform(-1, 1, (8, 2)), seed=6, config=config)
    x = np.full((20_000, 8), 255)
    n = 3000
    fast = tile.bitline_currents(x, 3600.0, np.random.default_rng(7))
    slow = tile.bitline_currents(x[:n], 3600.0, np.random.default_rng(8), read_devices=True)
    var_fast, var_slow = fast.var(axis=1, ddof=1), slow.var(axis=1, ddof=1)
    ratio = (var_slow / var_fast).mean()
    assert abs(ratio - 1) <= 5 * np.sqrt(2 / (n * var_fast.size)) + 0.01, ratio
    np.testing.assert_allclose(slow.mean(axis=1), fast.mean(axis=1), rtol=0, atol=5 * np.sqrt(var_fast.max() / n))
