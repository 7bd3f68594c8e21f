"""Chip top (rtl/chip.py): whole-network inference against the golden model with event counts and cycles equal to the
analytic ones, with bit-serial, PWM and mixed input encodings; command errors, the 144-tile export and lint."""

import pytest

from neurophase.model.arith import PeripheryFormat
from neurophase.model.interface import InputEncoding
from neurophase.rtl.chip import ChipTop

# Input encodings of the reference chip's tiles (run_chip's keywords): all bit-serial, all PWM, and mixed: conv3's
# reduction group and fc (tiles 2, 3, 4: a PWM partial-sum reduction and the signed last layer) PWM, conv1 and conv2
# bit-serial; the mixed chip costs about 1.15 times the bit-serial one (conv3 and fc have the fewest MVMs). One build
# serves all three (every tile implements both).
ENCODINGS = {"bit-serial": {}, "all-pwm": dict(encoding=InputEncoding.PWM),
             "mixed": dict(tile_encodings=tuple((n, InputEncoding.PWM) for n in (2, 3, 4)))}


def _check_inference(result, images):
    assert "error" not in result, result.get("error")
    assert result["images"] == images
    assert result["mismatches"] == 0, {k: result[k] for k in ("output_mismatches", "logit_mismatches",
                                                               "wordline_errors", "plane_errors")}
    assert result["accuracy"] == result["golden_accuracy"]
    assert result["chip_errors"] == 0 and not any(result["tile_errors"])


def _check_events(result):
    """model/events.py EventCounts filled from the RTL run (the chip's counters read after every layer segment,
    words moved, the wordlines the tiles drove with a 1 as the crossbar stand-ins saw them) equal count_events on the
    mapping in every field, layer by layer, each layer counted with its tiles' input encoding (tb/chip_tb.py
    ``run_network`` compares them with tb/chip_networks.py ``expected_layer_events``): the clock cycles (the chip's
    CYCLES count of a segment, first command word to last response word, against CycleModel) and the 1-drives, which
    count_events takes from the activations the golden model's run of the same images gives each layer."""
    assert result["event_mismatches"] == {}
    assert result["cycles"] == result["events"]["cycles"] == result["cycles_model"] > 0


def _check_encodings(result, encodings):
    """The testbench ran the reference chip's tiles with the encodings asked for (run_chip's keywords)."""
    from neurophase.model.chip import ChipConfig, reference_chip
    chip = reference_chip(0, ChipConfig(**encodings))
    assert result["encodings"] == {str(a.tile): chip.encoding(a.tile).label for a in chip.mapping.tiles}


# The chip RTL (five full-size tiles, ~17k cycles per image bit-serial, ~20k mixed, ~44k all PWM) simulates at about
# 30k cycles per wall second under Verilator (its build takes ~2 min, shared by every encoding) and a few hundred
# under Icarus. The default suite runs 20 images bit-serial and 4 mixed under Verilator and one mixed image under
# Icarus (both encodings in one run); an all-bit-serial and an all-PWM image under Icarus and 8 all-PWM images under
# Verilator are in the slow set.
SLOW = pytest.mark.slow


@pytest.mark.sim
@pytest.mark.parametrize("encodings, images", [("bit-serial", 20), ("mixed", 4),
                                               pytest.param("all-pwm", 8, marks=SLOW)])
def test_chip_rtl_classifies_test_images_bit_for_bit_and_counts_events_under_verilator(encodings, images, tmp_path):
    from neurophase.tb.chip_sim import run_chip
    result = run_chip(sim="verilator", images=images, workdir=tmp_path, **ENCODINGS[encodings])
    _check_inference(result, images)
    _check_encodings(result, ENCODINGS[encodings])
    _check_events(result)


@pytest.mark.sim
@pytest.mark.timeout(2400)  # ~70 s idle; 32 minutes at load average 20-30 (Icarus gets a small share of a core)
@pytest.mark.parametrize("encodings", [pytest.param("bit-serial", marks=SLOW), "mixed",
                                       pytest.param("all-pwm", marks=SLOW)])
def test_chip_rtl_classifies_a_test_image_bit_for_bit_and_counts_events_under_icarus(encodings, tmp_path):
    from neurophase.tb.chip_sim import run_chip
    result = run_chip(sim="icarus", images=1, workdir=tmp_path, **ENCODINGS[encodings])
    _check_inference(result, 1)
    _check_encodings(result, ENCODINGS[encodings])
    _check_events(result)


@pytest.mark.sim
def test_command_interface_flags_bad_commands(sim):
    """Bad opcode, tile number, ACT count, ROUTE size, ACT outside the route and illegal chip registers are flagged
    in ERRORS and on the error pin, and the decoder stays in step (tb/chip_tb.py, a small 2-tile chip)."""
    from neurophase.tb.chip_sim import run_command_errors
    run_command_errors(sim)


@pytest.mark.parametrize("kw, msg", [
    (dict(tiles=0), r"tiles must be an integer in \[1, 254\], got 0"),
    (dict(tiles=2, max_group=3), r"max_group must be an integer in \[1, 2\], got 3"),
    (dict(tiles=2, acts_per_beat=6), r"acts_per_beat must be a multiple of 4 \(activations per command word\), "
                                     r"got 6"),
])
def test_chip_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        ChipTop(**kw)


def test_replay_files_hold_each_row_as_one_binary_word_with_lane_0_lowest():
    """tb/chip_tb.py writes the crossbar stand-ins' files ($fread): each row of signed lanes is one two's complement
    number of lanes x bits bits, in as many bytes as that needs, the most significant first."""
    import numpy as np

    from neurophase.tb.chip_tb import binary_rows, lane_bits
    rng = np.random.default_rng(0)
    for bits, lanes in ((14, 128), (18, 128), (1, 5), (32, 1), (33, 3)):
        v = rng.integers(-(1 << bits - 1), 1 << bits - 1, (9, lanes))
        width = bits * lanes
        want = b"".join(sum((int(x) & ((1 << bits) - 1)) << (bits * k) for k, x in enumerate(row)).to_bytes(
            -(-width // 8), "big") for row in v)
        assert binary_rows(lane_bits(v, bits)) == want


def _export_144(tmp_path):
    from neurophase.rtl.export import write_verilog
    return write_verilog(ChipTop(tiles=144), "np_chip_144", tmp_path)


def test_full_144_tile_chip_elaborates_and_exports(tmp_path):
    # ~30 s: the tile's Verilog once, 144 instances of it.
    text = _export_144(tmp_path).read_text()
    assert text.count("np_chip_tile tile") == 144
    assert text.count("module np_chip_tile(") == 1


@pytest.mark.slow  # Verilator needs 10-15 minutes and about 6 GB to lint 144 tile instances
@pytest.mark.timeout(3600)
def test_full_144_tile_chip_is_verilator_lint_clean(tmp_path):
    # make lint covers a 4-tile chip (rtl/export.py TOPS); this is the chip's full configuration.
    from neurophase.lint import lint_file
    result = lint_file(_export_144(tmp_path))
    assert result.ok, result.summary()


@pytest.mark.slow  # a Verilator build of 8 full-size tiles (several minutes), then seconds
@pytest.mark.sim
@pytest.mark.timeout(3600)
def test_resnet50_bottleneck_block_runs_bit_for_bit_through_the_chip_rtl(tmp_path):
    """ResNet-50's layer1.0 (model/zoo/resnet50.py build_bottleneck: its weights and BN statistics, a 4 x 4 patch of
    its real input, 16 output positions) imported like any ONNX file onto 8 full-size tiles (a 3-tile reduction group,
    two 2-column-block layers, the residual add on the host), 2 inputs through the chip RTL under Verilator. conv3
    and the shortcut feed only the Add: the chip makes their outputs in the BN unit's last mode (as its BN_CTRL
    registers read back say), and both the RTL's and the model's event counts move them at 16 bits."""
    from neurophase.tb.chip_networks import bottleneck_spec
    from neurophase.tb.chip_sim import run_chip
    result = run_chip(sim="verilator", images=2, network=bottleneck_spec(tmp_path))
    _check_inference(result, 2)
    _check_events(result)
    for layer in ("layer1.0.conv3", "layer1.0.downsample"):
        assert result["layer_events"][layer]["activation_out_bits"] == 2 * 16 * 256 * 16


@pytest.mark.slow  # a Verilator build of 18 full-size tiles (9 minutes at load 2-4), then seconds
@pytest.mark.sim
@pytest.mark.timeout(7200)
def test_a_full_size_reduction_group_of_18_tiles_runs_bit_for_bit_through_the_chip_rtl(tmp_path):
    """ResNet-50's largest fan-in, a 3 x 3 convolution over 512 channels (4,608 rows), on full-size tiles: one
    reduction group of 18 tiles of 256 x 128, the most the chip's reducer adds (model/interface.py CHIP_MAX_GROUP), its
    partial sums added through the reducer's whole chain; 2 inputs, every word, the outputs and event counts checked."""
    import numpy as np
    import onnx
    from onnx_builders import OnnxBuilder

    from neurophase.tb.chip_sim import run_chip
    b = OnnxBuilder((512, 3, 3), seed=3, name="group18")
    y = b.node("Relu", [b.bn(b.conv("input", 512, 32, 3, bias=False, name="conv"), 32)])
    onnx.save_model(b.model(y, (32, 1, 1)), str(tmp_path / "group18.onnx"))
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "calib.npz", x=rng.normal(size=(16, 512, 3, 3)))
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(2, 512, 3, 3)), y=np.zeros(2, np.int64))
    spec = {"kind": "file", "path": str(tmp_path / "group18.onnx"), "calib": str(tmp_path / "calib.npz"),
            "data": str(tmp_path / "test.npz")}
    result = run_chip(sim="verilator", images=2, network=spec)
    _check_inference(result, 2)
    _check_events(result)
    assert result["counters"]["conv"]["mvms"] == 2 * 18 and result["tile_errors"] == [0] * 18
