"""Chip top (rtl/chip.py): whole-network inference against the golden model with event counts and cycles equal to the
analytic ones, command errors, the 144-tile export and lint."""

import pytest

from neurophase.model.arith import PeripheryFormat
from neurophase.rtl.chip import ChipTop


def _check_inference(result, images):
    assert "error" not in result, result.get("error")
    assert result["images"] == images
    assert result["mismatches"] == 0, {k: result[k] for k in ("output_mismatches", "logit_mismatches",
                                                               "wordline_errors", "plane_errors")}
    assert result["accuracy"] == result["golden_accuracy"]
    assert result["chip_errors"] == 0 and not any(result["tile_errors"])


def _check_events(result, images):
    """model/events.py EventCounts filled from the RTL run (the chip's counters read after every layer segment,
    words moved, the wordlines the tiles drove with a 1 as the crossbar stand-ins saw them) equal count_events on the
    reference mapping in every field, layer by layer: the clock cycles (the chip's CYCLES count of a segment, first
    command word to last response word) and the 1-drives, which count_events takes from the activations the golden
    model's run of the same images gives each layer."""
    from neurophase.model.activity import measured_activity, traced_layer_inputs
    from neurophase.model.chip import CHUNK, reference_chip
    from neurophase.model.events import EventCounts, count_events
    from neurophase.model.network import load_split
    from neurophase.model.workload import works_from_mapping
    chip = reference_chip()
    _, trace = chip.run(load_split()[2][:images], 3600.0, 0, record=True)   # run_chip's defaults: t = 1 h, seed 0
    fmt = chip.config.fmt

    def chunk_events(w, c0, n):
        x = traced_layer_inputs(trace, chip.mapping, w.name, slice(c0 * w.mvms, (c0 + n) * w.mvms))
        return count_events(w, activity=measured_activity(x, fmt.b_in), fmt=fmt, images=n)

    chunks = [(c0, min(CHUNK, images - c0)) for c0 in range(0, images, CHUNK)]
    analytic = {w.name: sum((chunk_events(w, c0, n) for c0, n in chunks), EventCounts())
                for w in works_from_mapping(chip.mapping)}
    rtl = {name: EventCounts(**ev) for name, ev in result["layer_events"].items()}
    assert {name: ev.diff(analytic[name]) for name, ev in rtl.items()} == dict.fromkeys(analytic, {})
    assert result["events"] == sum(analytic.values(), EventCounts()).as_dict()
    assert result["cycles"] == result["events"]["cycles"]


# The chip RTL (five full-size tiles, ~17k cycles per image) simulates at about 30k cycles per wall second under
# Verilator (2 images/s; its build takes ~2 min) and a few hundred under Icarus: the default suite runs 20 images
# under Verilator and one under Icarus.
@pytest.mark.sim
def test_chip_rtl_classifies_20_test_images_bit_for_bit_and_counts_events_under_verilator():
    from neurophase.tb.chip_sim import run_chip
    result = run_chip(sim="verilator", images=20)
    _check_inference(result, 20)
    _check_events(result, 20)


@pytest.mark.sim
def test_chip_rtl_classifies_a_test_image_bit_for_bit_and_counts_events_under_icarus():
    from neurophase.tb.chip_sim import run_chip
    result = run_chip(sim="icarus", images=1)
    _check_inference(result, 1)
    _check_events(result, 1)


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
               parameters=dict(tiles=2, rows=16), case="errors_2x16x8",
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
