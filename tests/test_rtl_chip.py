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


def _check_events(result, images, encodings):
    """model/events.py EventCounts filled from the RTL run (the chip's counters read after every layer segment,
    words moved, the wordlines the tiles drove with a 1 as the crossbar stand-ins saw them) equal count_events on the
    reference mapping in every field, layer by layer: the clock cycles (the chip's CYCLES count of a segment, first
    command word to last response word) and the 1-drives, which count_events takes from the activations the golden
    model's run of the same images gives each layer; each layer counted with its tiles' input encoding."""
    from neurophase.model.activity import measured_activity, traced_layer_inputs
    from neurophase.model.chip import CHUNK, ChipConfig, reference_chip
    from neurophase.model.events import EventCounts, count_events
    from neurophase.model.workload import works_from_mapping
    chip = reference_chip(0, ChipConfig(**encodings))
    _, trace = chip.run(chip.network.test.x[:images], 3600.0, 0, record=True)   # run_chip's defaults: t = 1 h, seed 0
    fmt = chip.config.fmt
    assert result["encodings"] == {str(a.tile): chip.encoding(a.tile).label for a in chip.mapping.tiles}

    def chunk_events(w, c0, n):
        x = traced_layer_inputs(trace, chip.mapping, w.name, slice(c0 * w.mvms, (c0 + n) * w.mvms))
        encoding = chip.encoding(chip.mapping.layer_tiles(w.name)[0].tile)
        return count_events(w, activity=measured_activity(x, fmt.b_in), encoding=encoding, fmt=fmt, images=n)

    chunks = [(c0, min(CHUNK, images - c0)) for c0 in range(0, images, CHUNK)]
    analytic = {w.name: sum((chunk_events(w, c0, n) for c0, n in chunks), EventCounts())
                for w in works_from_mapping(chip.mapping)}
    rtl = {name: EventCounts(**ev) for name, ev in result["layer_events"].items()}
    assert {name: ev.diff(analytic[name]) for name, ev in rtl.items()} == dict.fromkeys(analytic, {})
    assert result["events"] == sum(analytic.values(), EventCounts()).as_dict()
    assert result["cycles"] == result["events"]["cycles"]


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
    _check_events(result, images, ENCODINGS[encodings])


@pytest.mark.sim
@pytest.mark.timeout(2400)  # ~70 s idle; 32 minutes at load average 20-30 (Icarus gets a small share of a core)
@pytest.mark.parametrize("encodings", [pytest.param("bit-serial", marks=SLOW), "mixed",
                                       pytest.param("all-pwm", marks=SLOW)])
def test_chip_rtl_classifies_a_test_image_bit_for_bit_and_counts_events_under_icarus(encodings, tmp_path):
    from neurophase.tb.chip_sim import run_chip
    result = run_chip(sim="icarus", images=1, workdir=tmp_path, **ENCODINGS[encodings])
    _check_inference(result, 1)
    _check_events(result, 1, ENCODINGS[encodings])


@pytest.mark.sim
def test_command_interface_flags_bad_commands(sim):
    """Bad opcode, tile number, ACT count, ROUTE size, ACT outside the route and illegal chip registers are flagged
    in ERRORS and on the error pin, and the decoder stays in step (tb/chip_tb.py, a small 2-tile chip)."""
    from neurophase.tb.chip_harness import HDL_SOURCES, VERILATOR_CONFIG, ChipHarness
    from neurophase.tb.chip_sim import TB_MODULE, TOPLEVEL
    from neurophase.tb.runner import run_cocotb
    harness = ChipHarness(tiles=2, rows=16, columns=8, fmt=PeripheryFormat(), acts_per_beat=4, frac_bits=8,
                          max_group=2, plane_depth=16, cmd_depth=64, resp_depth=16)
    run_cocotb(component=harness, toplevel=TOPLEVEL, test_module=TB_MODULE, sim=sim,
               parameters=dict(tiles=2, rows=16, icode_bits=harness.icode_bits), case="errors_2x16x8",
               extra_sources=list(HDL_SOURCES) + ([VERILATOR_CONFIG] if sim == "verilator" else []),
               testcase="command_errors_are_flagged")


@pytest.mark.parametrize("kw, msg", [
    (dict(tiles=0), r"tiles must be an integer in \[1, 254\], got 0"),
    (dict(tiles=2, max_group=3), r"max_group must be an integer in \[1, 2\], got 3"),
    (dict(tiles=2, acts_per_beat=6), r"acts_per_beat must be a multiple of 4 \(activations per command word\), "
                                     r"got 6"),
])
def test_chip_rejects_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        ChipTop(**kw)


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
