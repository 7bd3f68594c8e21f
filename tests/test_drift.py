"""Drift remedies (model/drift.py, model/drift_training.py): what each one does, on seeded chips, and BN
recalibration through the tile RTL equal to the golden model bit for bit."""

import copy

import numpy as np
import pytest

from neurophase.model.arith import BnRegisters, PeripheryFormat
from neurophase.model.chip import Chip
from neurophase.model.drift import (CALIBRATION_SEED, N_CALIBRATION, calibration_images, channel_stats,
                                    compensate_global_drift, conductance_fisher, fisher_diagonal, layer_keys,
                                    recalibrate_bn, recalibrate_registers, record_reference, reprogram_selected,
                                    select_sensitive)
from neurophase.model.drift_study import YEAR
from neurophase.model.drift_training import DRIFT_WEIGHTS_PATH, DeviceNoiseInjector
from neurophase.model.network import load_split, load_weights, quant_layers
from neurophase.model.quantise import affine_registers
from neurophase.model.train import forward

CHIP_SEED = 5


@pytest.fixture(scope="module")
def programmed():
    """A seeded chip and its reference, recorded right after programming (shared, never mutated)."""
    chip = Chip.program(seed=CHIP_SEED)
    for tile in chip.tiles.values():
        tile.threads = 1
    return chip, record_reference(chip)


@pytest.fixture(scope="module")
def recalibrated(programmed):
    """The same chip one year later, BN-recalibrated: (chip, registers)."""
    chip = copy.deepcopy(programmed[0])
    return chip, recalibrate_bn(chip, YEAR, programmed[1])


def _affine_stats(acc, regs):
    return channel_stats(acc * regs.multiplier + regs.offset)


def test_recalibrate_registers_restores_channel_statistics_of_decayed_accumulators():
    rng = np.random.default_rng(0)
    fmt = PeripheryFormat()
    acc0 = rng.normal([300, -200, 50, 0], [80, 40, 120, 1], size=(100, 4)).round().astype(np.int64)
    acc0[:, 3] = 7                                        # a constant channel: std 0
    base = affine_registers(np.array([0.01, 0.02, -0.005, 0.1]), np.array([1.5, -3.0, 2.0, 0.0]), fmt)
    ref_mean, ref_std = channel_stats(acc0)
    acc_t = np.round(acc0 * [0.4, 0.55, 0.7, 1.0] + [5, -10, 0, -2]).astype(np.int64)
    regs = recalibrate_registers(acc_t, ref_mean, ref_std, base, fmt)
    want, got = _affine_stats(acc0, base), _affine_stats(acc_t, regs)
    scale = np.abs(base.multiplier) * np.maximum(ref_std, 1)
    np.testing.assert_allclose(got[0], want[0], atol=1e-3 * scale.max() + 2 ** -base.shift)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-3, atol=1e-9)
    # Unchanged statistics give back the programming-time registers.
    same = recalibrate_registers(acc0, ref_mean, ref_std, base, fmt)
    assert same.mismatches(base) == 0


def test_recalibrate_registers_rejects_mismatched_shapes():
    fmt = PeripheryFormat()
    base = BnRegisters(np.array([100, 200]), np.array([0, 0]), 10)
    with pytest.raises(ValueError, match=r"acc must have shape \(any, 2\), got \(5, 3\)"):
        recalibrate_registers(np.zeros((5, 3), np.int64), np.zeros(2), np.ones(2), base, fmt)
    with pytest.raises(ValueError, match=r"ref_std must have shape \(2\), got \(3,\)"):
        recalibrate_registers(np.zeros((5, 2), np.int64), np.zeros(2), np.ones(3), base, fmt)


def test_bn_recalibration_on_the_drifted_chip_matches_the_recorded_statistics(programmed, recalibrated):
    """After recalibration at one year, every layer's BN-mapped calibration statistics equal the ones recorded right
    after programming (to within 1% of a channel's spread), where the uncorrected chip is far off."""
    chip0, ref = programmed
    chip, regs = recalibrated
    _, trace = chip.run(calibration_images(chip.network), YEAR, CALIBRATION_SEED, record=True)
    plain = copy.deepcopy(chip0)
    _, trace_plain = plain.run(calibration_images(chip.network), YEAR, CALIBRATION_SEED, record=True)
    for ql in chip.qlayers:
        name = ql.name
        for key, cs in layer_keys(chip, name):
            want_mean, want_std = _affine_stats(_ref_acc(ref, name, cs), ref.registers[key])
            got_mean, got_std = _affine_stats(trace.layer_acc[name][:, cs], regs[key])
            bad_mean, _ = _affine_stats(trace_plain.layer_acc[name][:, cs], ref.registers[key])
            spread = np.maximum(want_std, 1e-3)
            assert np.all(np.abs(got_mean - want_mean) <= 0.01 * spread + 0.01), name
            assert np.all(np.abs(got_std - want_std) <= 0.01 * spread + 0.01), name
            assert np.max(np.abs(bad_mean - want_mean) / spread) > 0.3, f"{name}: drift left the statistics unchanged"


def _ref_acc(ref, name, cs):
    """Two samples with the recorded mean and standard deviation of the channels ``cs`` of layer ``name``."""
    m, s = ref.mean[name][cs], ref.std[name][cs]
    return np.stack([m - s, m + s])


def test_global_drift_compensation_scales_registers_by_the_probe_readout_ratio(programmed):
    chip0, ref = programmed
    chip = copy.deepcopy(chip0)
    alphas = compensate_global_drift(chip, YEAR, ref)
    # One year of drift with nu ~ 0.05-0.1 shrinks conductances by a factor ~2-3: alpha undoes it.
    assert all(1.5 < a < 4 for a in alphas.values()), alphas
    for a in chip.mapping.tiles:
        if a.row_block:
            continue
        base, now = ref.registers[(a.layer, a.col_block)], chip.registers[(a.layer, a.col_block)]
        np.testing.assert_allclose(now.multiplier, base.multiplier * alphas[a.tile], rtol=2e-3, atol=2.0 ** -now.shift)


def test_selective_reprogramming_rewrites_the_budget_and_resets_their_drift_clock(programmed):
    chip0, _ = programmed
    params, _ = load_weights()
    x_tr, _, _, _ = load_split()
    sens = conductance_fisher(quant_layers(params), fisher_diagonal(params, x_tr[:64]))
    sel = select_sensitive(sens, 0.05)
    n_weights = sum(s.size for s in sens.values())
    assert sum(int(s.sum()) for s in sel.values()) == int(0.05 * n_weights)
    chosen = np.concatenate([sens[k][sel[k]] for k in sens])
    rest = np.concatenate([sens[k][~sel[k]] for k in sens])
    assert chosen.min() >= rest.max(), "selection is not the most sensitive weights"
    chip = copy.deepcopy(chip0)
    n = reprogram_selected(chip, sel, YEAR, seed=3)
    assert n == 2 * int(0.05 * n_weights)
    fresh = sum(int((tile.devices.t_program == YEAR).sum()) for tile in chip.tiles.values())
    assert fresh == n
    assert all((t.devices.t_program == 0).sum() + (t.devices.t_program == YEAR).sum() == t.devices.t_program.size
               for t in chip.tiles.values())


def test_select_sensitive_rejects_a_budget_outside_zero_to_one():
    with pytest.raises(ValueError, match=r"budget must be a fraction in \[0, 1\], got 1.5"):
        select_sensitive({"a": np.ones(3)}, 1.5)


def test_drift_aware_weights_are_more_robust_to_the_injected_device_noise_than_plain_ones():
    """What drift-aware training buys in the network itself: under fresh samples of the injected perturbation
    (programming noise and drift spread at one day, common drift divided out), the drift-aware 8-bit network makes
    fewer test errors than the plain one. Same noise draws for both."""
    _, _, x_te, y_te = load_split()
    errors = {}
    for kind, path in (("plain", None), ("dat", DRIFT_WEIGHTS_PATH)):
        params, _ = load_weights() if path is None else load_weights(path)
        inject = DeviceNoiseInjector(seed=99)
        errors[kind] = sum(int(np.sum(np.argmax(forward(params, x_te, "qat", weight_fn=inject)[0], axis=1) != y_te))
                           for _ in range(8))
    assert errors["dat"] < errors["plain"], errors


def test_device_noise_injector_divides_out_the_common_drift():
    w = np.random.default_rng(1).normal(size=(144, 32))
    inject = DeviceNoiseInjector(target_time=YEAR, seed=0)
    w_t = inject(None, w)
    ratio = np.abs(w_t).sum() / np.abs(w).sum()
    assert 0.9 < ratio < 1.1, ratio                     # no factor ~0.4 of a year's common drift
    assert np.corrcoef(w.ravel(), w_t.ravel())[0, 1] > 0.9
    assert not np.allclose(w_t, w)


# -- BN recalibration through the tile RTL ---------------------------------------------------------------------------
# The fc tile's 64 used rows and 10 used columns on a 64 x 16 tile RTL (fast); on the chip's 256 x 128 tile (slow).
RTL_GEOMETRIES = {"fc_64x16": dict(rows=64, columns=16), "fc_256x128": dict(rows=256, columns=128)}


@pytest.mark.sim
@pytest.mark.parametrize("geometry", [pytest.param("fc_64x16"), pytest.param("fc_256x128", marks=pytest.mark.slow)])
def test_bn_recalibration_from_rtl_accumulators_equals_the_golden_registers(sim, geometry, programmed, recalibrated,
                                                                          tmp_path):
    """The fc layer's accumulators on the 100 calibration images one year after programming are read out of the tile
    RTL in raw mode; registers computed from them, written through the register interface, equal the golden flow's
    (model/drift.py recalibrate_bn) bit for bit, and the RTL's BN outputs with them equal the golden model's."""
    from neurophase.model.interface import adc_range_code
    from neurophase.tb.runner import run_cocotb
    from neurophase.tb.tile_harness import HDL_SOURCES, TileHarness
    from neurophase.tb.tile_workload import Workload

    geo = RTL_GEOMETRIES[geometry]
    chip0, ref = programmed
    chip, regs = recalibrated
    _, trace = chip.run(calibration_images(chip.network), YEAR, CALIBRATION_SEED, record=True)   # the measurement run of fc
    a = chip.mapping.layer_tiles("fc")[0]
    tile = chip.tiles[a.tile]
    key = ("fc", 0)
    base = ref.registers[key]
    wl = Workload(rows=geo["rows"], columns=geo["columns"], columns_per_adc=1, acts_per_beat=16, fmt=chip.config.fmt,
                  frac_bits=tile.adc.frac_bits, i_fs=tile.adc.i_fs, adc_range=adc_range_code(tile.adc.i_fs),
                  rows_used=a.rows, cols_used=a.columns, x=trace.tile_inputs[a.tile],
                  currents=trace.tile_currents[a.tile][:, :, :geo["columns"]], scale=base.scale, bias=base.bias,
                  shift=base.shift,
                  relu=False, last=True, raw=True, meta=dict(tile=a.tile, layer="fc", time=YEAR))
    wl_path = wl.save(tmp_path / "workload.npz")
    recal_path = tmp_path / "recal.npz"
    np.savez(recal_path, ref_mean=ref.mean["fc"], ref_std=ref.std["fc"], base_scale=base.scale, base_bias=base.bias,
             base_shift=base.shift)
    result_path = tmp_path / "result.npz"
    harness = TileHarness(rows=wl.rows, columns=wl.columns, columns_per_adc=1, fmt=wl.fmt, acts_per_beat=16,
                          frac_bits=wl.frac_bits)
    run_cocotb(component=harness, toplevel="np_tile_harness", test_module="neurophase.tb.bn_recal_tb", sim=sim,
               parameters=dict(workload=str(wl_path), recal=str(recal_path), result=str(result_path),
                               data_bits=harness.data_bits),
               case=f"bn_recal_{geometry}", extra_sources=list(HDL_SOURCES),
               extra_env={"NEUROPHASE_TEST_TIMEOUT_US": str(N_CALIBRATION * 2 * (40 * wl.columns + 3000) / 100)})
    with np.load(result_path) as f:
        got = {k: f[k] for k in f.files}
    np.testing.assert_array_equal(got["acc"], trace.layer_acc["fc"])
    want = regs[key]
    assert BnRegisters(got["scale"], got["bias"], int(got["shift"])).mismatches(want) == 0
    assert BnRegisters(got["back_scale"], got["back_bias"], int(got["back_shift"])).mismatches(want) == 0
    assert int(got["raw_mismatches"]) == 0 and int(got["bn_mismatches"]) == 0 and int(got["errors"]) == 0
    assert not (want.scale == base.scale).all(), \
        "recalibration left the fc registers unchanged: the test would not see a difference"


@pytest.mark.slow
def test_train_drift_aware_reproduces_the_shipped_drift_aware_weights(tmp_path):
    from neurophase.cli import main
    out = tmp_path / "dat.npz"
    assert main(["train", "--drift-aware", "--out", str(out)]) == 0
    got, meta = load_weights(out)
    want, want_meta = load_weights(DRIFT_WEIGHTS_PATH)
    assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)
    assert meta == want_meta and meta["target_time"] == 86_400.0


def test_train_rejects_a_target_time_without_drift_aware(capsys):
    from neurophase.cli import main
    assert main(["train", "--target-time", "3600", "--out", "unused.npz"]) == 2
    assert "--target-time needs --drift-aware or --noise-injection" in capsys.readouterr().err
