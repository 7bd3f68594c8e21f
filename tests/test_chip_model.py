"""Golden model of the reference network on the chip's tiles, and the per-tile workloads for testbenches."""

import json

import numpy as np
import pytest

from neurophase.cli import main
from neurophase.model.adc import convert, current_code
from neurophase.model.arith import accumulate, bn_requantise, read_window, reduce_partial_sums, shift_and_add
from neurophase.model.chip import CHUNK, Chip, ChipConfig, max_images, reference_chip, tile_workload
from neurophase.model.device import PcmModel
from neurophase.model.interface import ADC_RANGE_STEP_A, InputEncoding
from neurophase.model.network import REFERENCE_NET, load_weights
from neurophase.model.quantise import digital_forward

IDEAL = ChipConfig(pcm=PcmModel().ideal())


@pytest.fixture(scope="module")
def test_set():
    test = reference_chip().network.test
    return test.x, test.y


@pytest.fixture(scope="module", params=list(InputEncoding), ids=lambda e: e.label)
def ideal_run(test_set, request):
    x, _ = test_set
    chip = Chip.program(seed=0, config=ChipConfig(pcm=PcmModel().ideal(), encoding=request.param))
    logits, trace = chip.run(x, 0.0, seed=0, record=True)
    return chip, logits, trace


def test_ideal_chip_agrees_with_the_8bit_digital_path(ideal_run, test_set):
    # With every device non-ideality off, the chip differs from the exact integer path only by its 8-bit ADC:
    # bit-serial, each bit-plane's code is rounded to 1 LSB (the exact plane sum needs ~17 bits); PWM, the whole MVM
    # is rounded to one code of the window's mean current, whose BN scale folds the window in (D8); and the rare
    # read currents beyond I_fs (0.1% on calibration data) clip. The errors are a fraction of a code in the first
    # layers and grow through the network (measured, mean |error| per layer: bit-serial 0.22, 0.49, 1.48; PWM 0.33,
    # 0.53, 1.48); predictions agree on >= 99% of the test images (measured: all of them, for both encodings).
    chip, logits, trace = ideal_run
    x, y = test_set
    digital, outs = digital_forward(chip.network, x, return_all=True)
    for layer, bound in zip(REFERENCE_NET[:3], (0.5, 1.0, 3.0)):
        assert np.abs(trace.layer_out[layer.name] - outs[layer.name]).mean() <= bound, layer.name
    assert np.mean(logits.argmax(axis=1) == digital.argmax(axis=1)) >= 0.99
    assert abs(np.mean(logits.argmax(axis=1) == y) - np.mean(digital.argmax(axis=1) == y)) <= 0.01


def test_ideal_tile_accumulators_are_the_exact_mvm_within_the_adc_rounding_bound(ideal_run, test_set):
    # Bit-serial: acc = sum_b 2^b code_b with |code_b - I_b / I_lsb| <= 1/2 when no code clips, and I_b / I_lsb =
    # (V_read gpw / I_lsb) * exact plane sum: so |acc - exact * V_read gpw / I_lsb| <= (2^8 - 1) / 2.
    # PWM: acc = code of the window's mean current, exact * V_read gpw / ((2^8 - 1) I_lsb), within 1/2.
    chip, _, _ = ideal_run
    x, _ = test_set
    for n in range(chip.mapping.tiles_needed):
        wl = chip.tile_workload(n, images=3, t=0.0, seed=0)
        window = read_window(wl.encoding, wl.fmt.b_in)
        exact = wl.inputs @ wl.weights * (chip.config.tile.v_read * wl.g_per_weight / (window * wl.adc.i_lsb))
        acc = wl.acc[:, :wl.n_cols]
        clean = ~np.any(np.abs(wl.codes[..., :wl.n_cols]) >= 127, axis=0)
        assert clean.mean() > 0.9
        assert np.abs(acc - exact)[clean].max() <= 255 / window / 2 + 1e-3, n


def test_tile_workload_is_self_consistent_for_every_tile():
    chip = reference_chip()
    logits = chip.run(chip.network.test.x[:3], 3600.0, seed=5)
    works = {n: tile_workload(n, images=3, t=3600.0, seed=5) for n in range(5)}
    for n, wl in works.items():
        assert wl.tile == n and wl.layer == chip.mapping.tile(n).layer and wl.inputs.shape[1] == wl.rows
        assert np.array_equal(wl.current_codes, current_code(wl.currents, wl.adc))
        assert np.array_equal(wl.codes, convert(wl.currents, wl.adc))
        assert np.array_equal(wl.acc, shift_and_add(wl.codes, wl.fmt)[0])
        group_acc, _ = reduce_partial_sums(np.stack([works[m].acc for m in wl.group]), wl.fmt)
        assert np.array_equal(wl.group_acc, group_acc)
        out, _ = bn_requantise(wl.group_acc, wl.bn.scale, wl.bn.bias, wl.bn.shift, wl.fmt, relu=wl.relu,
                               last=wl.last)
        assert np.array_equal(wl.outputs, out)
        assert np.all(wl.bn.scale[wl.n_cols:] == 0)
    assert works[2].group == works[3].group == [2, 3] and works[2].rows == 256 and works[3].rows == 32
    assert works[2].adc.i_fs == works[3].adc.i_fs
    assert works[4].last and np.array_equal(works[4].outputs[:, :10], logits)
    assert works[0].mvms == 3 * 64 and works[2].mvms == 3 * 16 and works[4].mvms == 3


def test_pwm_tile_workloads_have_one_read_whose_code_is_the_accumulator():
    config = ChipConfig(encoding="pwm")
    chip = reference_chip(config=config)
    logits = chip.run(chip.network.test.x[:3], 3600.0, seed=5)
    works = {n: tile_workload(n, images=3, t=3600.0, seed=5, config=config) for n in range(5)}
    for n, wl in works.items():
        assert wl.encoding is InputEncoding.PWM and wl.currents.shape == (1, wl.mvms, wl.columns)
        assert np.array_equal(wl.current_codes, current_code(wl.currents, wl.adc))
        assert np.array_equal(wl.codes, convert(wl.currents, wl.adc))
        assert np.array_equal(wl.acc, wl.codes[0])
        assert np.array_equal(wl.acc, accumulate(wl.codes, wl.fmt, InputEncoding.PWM)[0])
        group_acc, _ = reduce_partial_sums(np.stack([works[m].acc for m in wl.group]), wl.fmt)
        assert np.array_equal(wl.group_acc, group_acc)
        out, _ = wl.bn.requantise(wl.group_acc, wl.fmt, relu=wl.relu, last=wl.last)
        assert np.array_equal(wl.outputs, out)
    assert np.array_equal(works[4].outputs[:, :10], logits)


def test_pwm_adc_ranges_come_from_the_window_mean_currents():
    # The same devices read by PWM see the mean current of a 255-unit window, below the bit-plane currents: every
    # tile's range is smaller (measured: 0.53 to 0.79 of the bit-serial range), and the BN scale folds the window in.
    bit_serial, pwm = reference_chip(), reference_chip(config=ChipConfig(encoding="pwm"))
    assert all(np.array_equal(pwm.tiles[n].devices.g_prog, bit_serial.tiles[n].devices.g_prog) for n in pwm.tiles)
    steps = np.array(list(pwm.i_fs.values())) / ADC_RANGE_STEP_A
    assert np.allclose(steps, np.round(steps)) and pwm.i_fs[2] == pwm.i_fs[3]
    assert all(pwm.i_fs[n] < bit_serial.i_fs[n] for n in pwm.tiles)
    for n in pwm.tiles:
        unit = pwm.tiles[n].acc_unit(InputEncoding.PWM) / bit_serial.tiles[n].acc_unit(InputEncoding.BIT_SERIAL)
        np.testing.assert_allclose(unit, 255 * pwm.i_fs[n] / bit_serial.i_fs[n], rtol=1e-12)


def test_tiles_can_use_their_own_encoding_within_uniform_reduction_groups(test_set):
    x, _ = test_set
    config = ChipConfig(tile_encodings=((0, "pwm"), (4, InputEncoding.PWM)))
    assert config.tile_encodings == ((0, InputEncoding.PWM), (4, InputEncoding.PWM))
    chip = Chip.program(seed=0, config=config)
    assert [chip.encoding(n) for n in range(5)] == [InputEncoding.PWM] + [InputEncoding.BIT_SERIAL] * 3 + \
        [InputEncoding.PWM]
    _, trace = chip.run(x[:8], 0.0, seed=0, record=True)
    assert [trace.tile_codes[n].shape[0] for n in range(5)] == [1, 8, 8, 8, 1]
    pure = {e: reference_chip(config=ChipConfig(encoding=e)) for e in InputEncoding}
    assert [chip.i_fs[n] for n in range(5)] == [pure[chip.encoding(n)].i_fs[n] for n in range(5)]
    # Tile 0 sees the network's input: the same reads as on the all-PWM chip (same devices, seed and draws).
    _, pwm_trace = pure[InputEncoding.PWM].run(x[:8], 0.0, seed=0, record=True)
    assert np.array_equal(trace.tile_currents[0], pwm_trace.tile_currents[0])
    assert np.array_equal(trace.layer_out["conv1"], pwm_trace.layer_out["conv1"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(encoding="pulse"), r"input encoding must be one of \['bit-serial', 'pwm'\], got 'pulse'"),
    (dict(tile_encodings=((0, "pulse"),)), r"input encoding must be one of \['bit-serial', 'pwm'\], got 'pulse'"),
    (dict(tile_encodings=(0, "pwm")), r"tile_encodings must be a tuple of \(tile, encoding\) pairs, got \(0, 'pwm'\)"),
    (dict(tile_encodings=((-1, "pwm"),)), r"tile_encodings tile must be an integer in \[0, inf\], got -1"),
    (dict(tile_encodings=((1, "pwm"), (1, "bit-serial"))), r"tile_encodings must name each tile at most once, "
                                                           r"got tiles \[1, 1\]"),
])
def test_bad_encoding_config_raises_naming_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChipConfig(**kwargs)


@pytest.mark.parametrize("pairs, match", [
    (((7, "pwm"),), r"tile_encodings names tile 7, which holds no weights; mapped tiles are 0..4"),
    (((2, "pwm"),), r"the tiles of reduction group \[2, 3\] must share one input encoding, "
                    r"got \['pwm', 'bit-serial'\]"),
])
def test_encodings_the_mapping_cannot_take_raise(pairs, match):
    with pytest.raises(ValueError, match=match):
        Chip.program(seed=0, config=ChipConfig(tile_encodings=pairs))


def test_a_tile_sees_the_same_currents_in_short_and_long_runs():
    short = tile_workload(3, images=2, t=86400.0, seed=9)
    long = tile_workload(3, images=CHUNK + 5, t=86400.0, seed=9)
    assert np.array_equal(long.currents[:, :short.mvms], short.currents)
    assert np.array_equal(long.inputs[:short.mvms], short.inputs)


def test_runs_do_not_depend_on_how_many_threads_run_the_tiles():
    """A layer's tiles run side by side on ``Chip.workers`` threads; outputs, every tile's currents and codes, and
    the ADC rail counts are those of a serial run (a random network with reduction groups and column blocks)."""
    from neurophase.model.random_network import network_features, random_chip
    chip = random_chip(8)
    features = network_features(chip)
    assert features["max_group"] >= 3 and features["max_col_blocks"] >= 3
    x = chip.network.test.x
    runs = []
    for workers in (1, 3):
        chip.workers = workers
        counts = {}
        out, trace = chip.run(x, 86400.0, seed=4, record=True, adc_counts=counts)
        runs.append((out, trace, {k: vars(v) for k, v in counts.items()}, chip.run(x, 86400.0, seed=4)))
    (out1, trace1, counts1, plain1), (out3, trace3, counts3, plain3) = runs
    assert np.array_equal(out1, out3) and np.array_equal(plain1, plain3) and np.array_equal(out1, plain1)
    assert counts1 == counts3
    for n in trace1.tile_codes:
        assert np.array_equal(trace1.tile_currents[n], trace3.tile_currents[n])
        assert np.array_equal(trace1.tile_codes[n], trace3.tile_codes[n])


def test_runs_are_seeded_and_a_saved_chip_loads_identical(tmp_path, test_set):
    x, _ = test_set
    chip = reference_chip()
    a = chip.run(x[:40], 3600.0, seed=1)
    assert np.array_equal(a, chip.run(x[:40], 3600.0, seed=1))
    assert not np.array_equal(a, chip.run(x[:40], 3600.0, seed=2))
    chip.save(tmp_path / "chip.npz")
    loaded = Chip.load(tmp_path / "chip.npz")
    assert loaded.i_fs == chip.i_fs and loaded.seed == chip.seed and loaded.config == chip.config
    assert loaded.registers.keys() == chip.registers.keys()
    assert all(loaded.registers[k].mismatches(v) == 0 for k, v in chip.registers.items())
    assert np.array_equal(loaded.run(x[:40], 3600.0, seed=1), a)
    other = Chip.program(seed=1)
    assert not np.array_equal(other.tiles[1].devices.g_prog, chip.tiles[1].devices.g_prog)


def test_a_saved_chip_keeps_its_input_encodings(tmp_path, test_set):
    x, _ = test_set
    chip = Chip.program(seed=3, config=ChipConfig(encoding="pwm", tile_encodings=((4, "bit-serial"),)))
    chip.save(tmp_path / "chip.npz")
    loaded = Chip.load(tmp_path / "chip.npz")
    assert loaded.config == chip.config and loaded.i_fs == chip.i_fs
    assert [loaded.encoding(n) for n in range(5)] == [InputEncoding.PWM] * 4 + [InputEncoding.BIT_SERIAL]
    assert np.array_equal(loaded.run(x[:40], 86400.0, seed=1), chip.run(x[:40], 86400.0, seed=1))


def test_adc_ranges_come_from_training_images_in_register_steps():
    chip = reference_chip()
    steps = np.array(list(chip.i_fs.values())) / ADC_RANGE_STEP_A
    assert np.allclose(steps, np.round(steps)) and np.all(steps >= 1)
    fewer = Chip.program(seed=0, config=ChipConfig(n_calibration=20))
    assert fewer.i_fs != chip.i_fs                # the ranges follow the calibration images
    with pytest.raises(ValueError, match=r"i_fs must be equal over the reduction group \[2, 3\]"):
        chip.set_adc_ranges({**chip.i_fs, 3: chip.i_fs[3] * 2})


def test_pcm_chip_right_after_programming_classifies_well(test_set):
    x, y = test_set
    logits = reference_chip().run(x, 0.0, seed=0)
    assert np.mean(logits.argmax(axis=1) == y) >= 0.95


@pytest.mark.parametrize("call, match", [
    (lambda c: c.tile_workload(5), r"tile must be an integer in \[0, 4\], got 5"),
    (lambda c: c.tile_workload(0, images=0), r"images must be an integer in \[1, 360\], got 0"),
    (lambda c: c.tile_workload(0, images=np.array([0, 360])), r"images must be a count in \[1, 360\]"),
    (lambda c: c.run(np.zeros((1, 1, 8, 8)), -1.0, 0), r"t \(s\) must be a finite number >= 0"),
    (lambda c: c.run(np.zeros((1, 1, 8, 8)), 0.0, -3), r"seed must be an integer in \[0, "),
    (lambda c: c.run(np.zeros((1, 8, 8, 1)), 0.0, 0), r"inputs must have shape \(any, 1, 8, 8\), got \(1, 8, 8, 1\)"),
])
def test_bad_input_raises_naming_the_range(call, match):
    with pytest.raises(ValueError, match=match):
        call(reference_chip())


def test_bad_chip_config_and_missing_file_raise(tmp_path):
    with pytest.raises(ValueError, match=r"ifs_percentile must be in \[50, 100\], got 10"):
        ChipConfig(ifs_percentile=10)
    with pytest.raises(ValueError, match="chip file .* does not exist"):
        Chip.load(tmp_path / "nope.npz")
    assert max_images() == 360


def test_infer_command_reports_fp32_digital_and_pcm(tmp_path, capsys):
    out = tmp_path / "infer.json"
    assert main(["infer", "--time", "0", "--seeds", "1", "--out", str(out), "--store", str(tmp_path / "s.csv")]) == 0
    r = json.loads(out.read_text())
    _, meta = load_weights()
    assert r["fp32"] == meta["fp32_test_accuracy"] and r["int8_digital"] == meta["int8_test_accuracy"]
    assert r["pcm"][0]["time_s"] == 0.0 and len(r["pcm"][0]["accuracy"]) == 1
    assert "8-bit digital" in capsys.readouterr().out
    assert main(["infer", "--seeds", "0", "--out", str(out)]) == 2


def test_infer_command_runs_either_encoding_and_reports_the_adc_ranges(tmp_path, capsys):
    out = tmp_path / "infer.json"
    assert main(["infer", "--time", "0", "--seeds", "1", "--encoding", "pwm", "--out", str(out),
                 "--store", str(tmp_path / "s.csv")]) == 0
    r = json.loads(out.read_text())
    pwm = reference_chip(config=ChipConfig(encoding="pwm"))
    assert r["encoding"] == "pwm" and r["i_fs_per_tile_A"] == {str(n): i for n, i in pwm.i_fs.items()}
    test = pwm.network.test
    assert r["pcm"][0]["accuracy"] == [float(np.mean(pwm.run(test.x, 0.0, seed=0).argmax(axis=1) == test.y))]
    assert "pwm inputs" in capsys.readouterr().out
    assert main(["infer", "--encoding", "pulse", "--out", str(out)]) == 2
    assert capsys.readouterr().err == ("neurophase infer: error: --encoding: invalid choice: 'pulse' (choose from "
                                       "'bit-serial', 'pwm')\n")
