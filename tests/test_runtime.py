"""Host compiler (model/host.py) and golden executor (model/executor.py): command encoding, compiled programs, the
golden executor against Chip.run; the BN recalibration program against model/drift.py's recalibration."""

import copy

import numpy as np
import pytest

from neurophase.model.arith import BnRegisters
from neurophase.model.chip import CHUNK, ChipConfig, reference_chip
from neurophase.model.drift import CALIBRATION_SEED, calibration_images
from neurophase.model.interface import (CHIP_ID, CHIP_TARGET, TILE_MODE, ChipErr, ChipReg, InputEncoding, Op, TileErr,
                                        TileReg, adc_range_covering, adc_range_current, decode_header, header,
                                        pack_activations)
from neurophase.model.executor import GoldenExecutor, run_golden
from neurophase.model.host import Host, Segment, register_mismatches, run_program


@pytest.fixture(scope="module")
def chip():
    return reference_chip()


@pytest.fixture(scope="module")
def test_pixels(chip):
    return chip.network.test.x, chip.network.test.y


def test_golden_executor_equals_chip_run_bit_for_bit(chip, test_pixels):
    # 40 images: a full chunk and a short one (padded for the read-noise draw).
    x, _ = test_pixels
    images = x[:CHUNK + 8]
    result = run_golden(chip, images, 3600.0, 11)
    logits, trace = chip.run(images, 3600.0, 11, record=True)
    assert np.array_equal(result.logits, logits)
    assert set(result.layer_out) == set(trace.layer_out)
    for name, y in trace.layer_out.items():
        assert np.array_equal(result.layer_out[name], y), name


# A chip whose tiles all read by pulse-width modulation, and one with conv2 and conv3 (tiles 1, 2, 3) PWM, conv1 and fc
# bit-serial.
PWM_CONFIGS = {"all-pwm": ChipConfig(encoding=InputEncoding.PWM),
               "mixed": ChipConfig(tile_encodings=tuple((n, InputEncoding.PWM) for n in (1, 2, 3)))}


@pytest.mark.parametrize("config", PWM_CONFIGS)
def test_golden_executor_runs_each_tile_with_the_encoding_its_mode_register_holds(config, test_pixels):
    chip = reference_chip(0, PWM_CONFIGS[config])
    host = Host(chip)
    config_words = host.config_segment().words
    modes = {decode_header(h).tile: TILE_MODE.decode(v).encoding for h, v in zip(config_words[0::2], config_words[1::2])
             if decode_header(h).op == Op.WRITE and decode_header(h).arg == TileReg.MODE}
    assert modes == {a.tile: chip.encoding(a.tile) for a in chip.mapping.tiles}
    x, _ = test_pixels
    images = x[:CHUNK + 8]
    result = run_golden(chip, images, 3600.0, 11)
    logits, trace = chip.run(images, 3600.0, 11, record=True)
    assert np.array_equal(result.logits, logits)
    for name, y in trace.layer_out.items():
        assert np.array_equal(result.layer_out[name], y), name
    # Run bit-serial, the PWM tiles' outputs would differ: the encoding matters, so it is the MODE register's.
    bit_serial = reference_chip(0).run(images, 3600.0, 11, record=True)[1]
    assert not np.array_equal(bit_serial.layer_out["conv2"], trace.layer_out["conv2"])


def test_golden_executor_flags_a_mode_encoding_the_tiles_do_not_have_and_keeps_the_mode(chip):
    ex = GoldenExecutor(chip, 0.0, 0)
    words = [header(Op.WRITE, 0, TileReg.MODE), TILE_MODE.encode(encoding=InputEncoding.PWM),
             header(Op.WRITE, 0, TileReg.MODE), TILE_MODE.encode(encoding=2),
             header(Op.READ, 0, TileReg.MODE), header(Op.READ, 0, TileReg.ERRORS)]
    got = ex.execute(Segment("mode", np.array(words, np.uint32), 2))
    assert got.tolist() == [TILE_MODE.encode(encoding=InputEncoding.PWM), TileErr.BAD_VALUE]
    assert ex.encoding(0) is InputEncoding.PWM


def test_golden_executor_depends_on_the_read_noise_seed(chip, test_pixels):
    x, _ = test_pixels
    a = run_golden(chip, x[:4], 3600.0, 1).layer_out["conv3"]
    b = run_golden(chip, x[:4], 3600.0, 2).layer_out["conv3"]
    assert not np.array_equal(a, b)


def test_program_configures_every_mapped_tile_and_routes_the_row_split_layer(chip, test_pixels):
    host = Host(chip)
    config = host.config_segment()
    heads = [decode_header(w) for w in config.words[0::2]]
    written = {(h.tile, h.arg) for h in heads if h.op == Op.WRITE}
    for a in chip.mapping.tiles:
        for reg in (TileReg.ROWS_USED, TileReg.COLS_USED, TileReg.ADC_RANGE, TileReg.MODE):
            assert (a.tile, reg) in written
    raw_tiles = {h.tile for h, v in zip(heads, config.words[1::2])
                 if h.op == Op.WRITE and h.arg == TileReg.MODE and TILE_MODE.decode(v).raw}
    assert raw_tiles == {2, 3}      # conv3's reduction group
    x, _ = test_pixels
    from neurophase.model.host_ops import schedule
    _, vectors = next(schedule(chip.network, chip.network.input_codes(x[:2])))
    conv1 = host.layer_segment(0, vectors, chunk=0)
    assert int(conv1.words[0]) == header(Op.ROUTE, 0, 1)
    assert conv1.n_resp == 2 * 64 * 16
    # Each MVM: a header and ceil(9 / 4) = 3 words of activations.
    assert len(conv1.words) == 1 + 2 * 64 * 4


def test_pack_activations_puts_activation_zero_in_the_low_bits():
    words = pack_activations(np.array([[1, 2, 3, 4, 255]]), 8)
    assert words.tolist() == [[0x04030201, 0xFF]]


def test_adc_range_covering_is_the_smallest_register_value_at_or_above_a_current():
    assert [adc_range_covering(i) for i in (0.0, 1e-9, 10e-9, 10.5e-9, 1e-6)] == [1, 1, 1, 2, 100]
    assert adc_range_current(adc_range_covering(123e-9)) == pytest.approx(130e-9)
    with pytest.raises(ValueError, match=r"current \(A\) must be a finite number >= 0, got -1e-09"):
        adc_range_covering(-1e-9)


def test_header_rejects_out_of_range_fields():
    with pytest.raises(ValueError, match=r"tile must be an integer in \[0, 255\], got 256"):
        header(Op.WRITE, 256)
    with pytest.raises(ValueError, match=r"arg must be an integer in \[0, 1048575\], got 1048576"):
        header(Op.ACT, 0, 1 << 20)


@pytest.mark.parametrize("words, chip_errors, tile0_errors", [
    ([header(Op.WRITE, 7, TileReg.ROWS_USED), 1], ChipErr.BAD_TILE, 0),
    ([0xF000_0000], ChipErr.BAD_OPCODE, 0),
    ([header(Op.ROUTE, 0, 1), header(Op.ACT, 1, 144)] + [0] * 36, ChipErr.BAD_ROUTE, 0),
    ([header(Op.ACT, 0, 300)] + [0] * 75, ChipErr.BAD_VALUE, 0),
    ([header(Op.ROUTE, 4, 2)], ChipErr.BAD_TILE, 0),
    ([header(Op.WRITE, CHIP_TARGET, 0x01), 0], ChipErr.CHIP_REG, 0),
    ([header(Op.WRITE, CHIP_TARGET, 0x1F), 0], ChipErr.CHIP_REG, 0),
    ([header(Op.WRITE, 0, TileReg.ROWS_USED), 0], ChipErr.TILE_ERROR, TileErr.BAD_VALUE),
    ([header(Op.WRITE, 0, TileReg.ID), 0], ChipErr.TILE_ERROR, TileErr.ILLEGAL_ADDRESS),
])
def test_golden_executor_answers_illegal_commands_as_the_chip_does(chip, words, chip_errors, tile0_errors):
    """Flagged in ERRORS, the bad command's data words skipped: the next commands are read in step."""
    ex = GoldenExecutor(chip, 0.0, 0)
    reads = [header(Op.READ, CHIP_TARGET, ChipReg.ERRORS), header(Op.READ, 0, TileReg.ERRORS),
             header(Op.READ, CHIP_TARGET, ChipReg.ID)]
    got = ex.execute(Segment("bad", np.array(words + reads, np.uint32), 3))
    assert got.tolist() == [chip_errors, tile0_errors, CHIP_ID]
    assert ex.chip_errors == chip_errors and ex.tile_errors(0) == tile0_errors


def test_golden_executor_reads_an_unmapped_register_as_0_and_flags_it(chip):
    ex = GoldenExecutor(chip, 0.0, 0)
    got = ex.execute(Segment("unmapped", np.array([header(Op.READ, CHIP_TARGET, 0x1F), header(Op.READ, 1, 0x1F),
                                                   header(Op.READ, 1, TileReg.ERRORS)], np.uint32), 3))
    assert got.tolist() == [0, 0, TileErr.ILLEGAL_ADDRESS]
    assert ex.chip_errors == ChipErr.CHIP_REG | ChipErr.TILE_ERROR


def test_golden_executor_finishes_a_cut_off_command_with_the_next_segment(chip):
    ex = GoldenExecutor(chip, 0.0, 0)
    assert ex.execute(Segment("cut", np.array([header(Op.WRITE, 0, TileReg.COLS_USED)], np.uint32), 0)).size == 0
    got = ex.execute(Segment("rest", np.array([5, header(Op.READ, 0, TileReg.COLS_USED)], np.uint32), 1))
    assert got.tolist() == [5]


def test_golden_executor_refuses_an_act_count_the_chip_does_not_flag(chip):
    ex = GoldenExecutor(chip, 0.0, 0)
    with pytest.raises(ValueError, match=r"ACT of 5 activations to tile 0 using 256 rows \(the chip does not flag "
                                         r"it\)"):
        ex.execute(Segment("bad", np.array([header(Op.ROUTE, 0, 1), header(Op.ACT, 0, 5), 0, 0], np.uint32), 0))


def test_run_program_returns_the_session_result(chip, test_pixels):
    x, _ = test_pixels
    ex = GoldenExecutor(chip, 0.0, 3)
    seen = []

    def execute(seg):
        seen.append(seg.name)
        return ex.execute(seg)

    result = run_program(Host(chip).session(x[:2]), execute)
    assert seen == ["config", "conv1", "conv2", "conv3", "fc"]
    assert result.logits.shape == (2, 10)


# -- BN recalibration through the command interface ------------------------------------------------------------------
YEAR = 365.25 * 86400.0


@pytest.fixture(scope="module")
def reference(chip):
    """The reference chip's statistics on 40 calibration images (a full chunk and a short, padded one)."""
    from neurophase.model.drift import record_reference
    return record_reference(chip, 40)


@pytest.fixture(scope="module")
def golden_recalibration(chip, reference):
    """model/drift.py's recalibration at one year on a copy of the chip: (registers, the copy)."""
    from neurophase.model.drift import recalibrate_bn
    recal = copy.copy(chip)
    return recalibrate_bn(recal, YEAR, reference), recal


def _recalibrate(chip, reference, pixels, corrupt=None):
    """Run the recalibration program on the golden executor (test images read-noise seed 9); ``corrupt(seg, resp)``
    may alter the response words on their way back to the host."""
    ex = GoldenExecutor(chip, YEAR, 9)
    names = []

    def execute(seg):
        names.append(seg.name)
        resp = ex.execute(seg)
        return resp if corrupt is None else corrupt(seg, resp.copy())

    return run_program(Host(chip).recalibration_session(reference, pixels), execute), names


def test_recalibration_program_gives_the_golden_registers_and_logits_bit_for_bit(chip, reference,
                                                                                 golden_recalibration, test_pixels):
    x, _ = test_pixels
    want, recal = golden_recalibration
    result, names = _recalibrate(chip, reference, x[:3])
    assert names == ["config"] + [f"{n}.{kind}" for n in ("conv1", "conv2", "conv3", "fc")
                                  for kind in ("raw", "raw", "registers")] + ["conv1", "conv2", "conv3", "fc"]
    assert register_mismatches(result.registers, want) == 0
    assert register_mismatches(result.registers, reference.registers) > 0, "recalibration changed nothing"
    assert result.readback_mismatches() == 0
    assert np.array_equal(result.readback[("conv3", 0)].bias, want[("conv3", 0)].bias)  # the reducer's bias too
    assert np.array_equal(result.run.logits, recal.run(x[:3], YEAR, 9))
    _, trace = recal.run(calibration_images(chip.network, 40), YEAR, CALIBRATION_SEED, record=True)
    assert np.array_equal(result.acc["fc"], trace.layer_acc["fc"])


def test_recalibration_registers_follow_the_raw_words_the_chip_returns(chip, reference, golden_recalibration):
    """One raw conv2 accumulator word off by 4096 (as a faulty chip would return it) gives other registers; one
    read-back word off counts as a read-back mismatch: the comparisons the RTL test relies on can fail."""
    want, _ = golden_recalibration

    def raw_off(seg, resp):
        if seg.name == "conv2.raw" and seg.chunk == 0:
            resp[100] += 4096
        return resp

    result, _ = _recalibrate(chip, reference, None, raw_off)
    assert register_mismatches(result.registers, want) > 0
    assert result.run is None

    def readback_off(seg, resp):
        if seg.name == "fc.registers":
            resp[0] ^= 1
        return resp

    result, _ = _recalibrate(chip, reference, None, readback_off)
    assert register_mismatches(result.registers, want) == 0 and result.readback_mismatches() == 1


def test_register_mismatches_counts_every_differing_value():
    a = {("l", 0): BnRegisters(np.array([1, 2, 3]), np.array([4, 5, 6]), 7)}
    b = {("l", 0): BnRegisters(np.array([1, 0, 3]), np.array([4, 5, 0]), 8)}
    wider = {("l", 0): BnRegisters(np.array([1, 2, 3, 4]), np.array([4, 5, 6, 7]), 7)}
    assert register_mismatches(a, a) == 0
    assert register_mismatches(a, b) == 3
    assert register_mismatches(a, {}) == 7
    assert register_mismatches(a, wider) == 9


def test_golden_executor_reads_back_bn_registers_as_the_chip_does(chip):
    words = [header(Op.WRITE, 0, TileReg.BN_CHANNEL), 0, header(Op.WRITE, 0, TileReg.BN_SCALE), 0xFFFF_FFFE,
             header(Op.WRITE, 0, TileReg.BN_BIAS), 1234, header(Op.READ, 0, TileReg.BN_SCALE),
             header(Op.READ, 0, TileReg.BN_BIAS), header(Op.READ, 0, TileReg.BN_CHANNEL),
             header(Op.WRITE, CHIP_TARGET, ChipReg.RED_BN_SCALE), 77,
             header(Op.WRITE, CHIP_TARGET, ChipReg.RED_BN_BIAS), 0xFFFF_FFF0,
             header(Op.READ, CHIP_TARGET, ChipReg.RED_BN_SCALE), header(Op.READ, CHIP_TARGET, ChipReg.RED_BN_BIAS),
             header(Op.READ, CHIP_TARGET, ChipReg.RED_BN_CHANNEL)]
    got = GoldenExecutor(chip, 0.0, 0).execute(Segment("regs", np.array(words, np.uint32), 6))
    assert got.tolist() == [0xFFFF_FFFE, 1234, 1, 77, 0xFFFF_FFF0, 1]
    counters = Segment("cycles", np.array([header(Op.READ, CHIP_TARGET, ChipReg.CYCLES)], np.uint32), 1)
    with pytest.raises(ValueError, match=r"segment cycles, word 0: the golden executor does not model register 0x8 of "
                                         r"the chip \(a count that depends on timing or the analog side\)"):
        GoldenExecutor(chip, 0.0, 0).execute(counters)


# -- a network brought as ONNX: row groups, column blocks, a residual add, several chips ------------------------------
@pytest.fixture(scope="module")
def imported():
    """tests/onnx_builders.py's residual network, imported: a layer of 360 rows x 160 outputs (2 row groups x 2 column
    blocks), one of 1440 rows (6 row groups), a residual add of two signed branches, an average pool."""
    from onnx_builders import residual_net

    from neurophase.model.network_file import import_network
    from neurophase.model.quantise import LabelledSet
    rng = np.random.default_rng(2)
    return import_network(residual_net(), rng.normal(size=(48, 4, 8, 8)),
                          LabelledSet(rng.normal(size=(40, 4, 8, 8)), rng.integers(0, 10, 40)))


@pytest.mark.parametrize("config", [
    pytest.param(dict(), id="one-chip"),
    pytest.param(dict(tiles=6), id="four-chips"),
    pytest.param(dict(encoding="pwm"), id="pwm"),
])
def test_golden_executor_equals_chip_run_on_an_imported_residual_network(imported, config):
    from neurophase.model.chip import Chip, ChipConfig
    chip = Chip.program(imported, seed=1, config=ChipConfig(**config))
    groups = {len(chip.mapping.reduction_group(a.tile)) for a in chip.mapping.tiles}
    assert groups == {1, 2, 6} and chip.mapping.layer_tiles("block.conv")[-1].col_block == 1
    assert chip.mapping.chips == (4 if config.get("tiles") else 1)
    x = imported.test.x
    result = run_golden(chip, x, 86400.0, 5)
    logits, trace = chip.run(x, 86400.0, 5, record=True)
    assert np.array_equal(result.logits, logits)
    for name, y in trace.layer_out.items():
        assert np.array_equal(result.layer_out[name], y), name


def test_recalibration_program_on_an_imported_network_gives_the_golden_registers(imported):
    from neurophase.model.chip import Chip, ChipConfig
    from neurophase.model.drift import recalibrate_bn, record_reference
    chip = Chip.program(imported, seed=2, config=ChipConfig(tiles=8))
    reference = record_reference(chip, 40)
    want = recalibrate_bn(copy.copy(chip), YEAR, reference)
    executors = [GoldenExecutor(chip, YEAR, 9, c) for c in range(chip.mapping.chips)]
    result = run_program(Host(chip).recalibration_session(reference), lambda seg: executors[seg.chip].execute(seg))
    assert register_mismatches(result.registers, want) == 0 and result.readback_mismatches() == 0
    assert register_mismatches(result.registers, reference.registers) > 0
