"""`make sim` without TILE: whole-chip inference of test inputs through the chip RTL, checked bit for bit.

Ref: docs/architecture.md §5, D7, D8, D16. Builds tb/chip_harness.py (the chip top with as many tiles as the
network's mapping uses, crossbar stand-ins replaying the golden model's currents) under Icarus or Verilator, runs
tb/chip_tb.py's ``chip_inference_matches_golden`` on a network (tb/chip_networks.py: the digits CNN by default, or
any network file on full-size tiles) and writes ``build/reports/chip.json``. The tiles read bit-serially or by PWM
as the chip model's configuration says (``encoding`` for every tile, ``tile_encodings`` for exceptions); the tiles
implement both, so every configuration runs on the same build.
"""

import json
import time
from pathlib import Path

from neurophase.model.checks import check_int, check_nonnegative, count_text
from neurophase.model.interface import InputEncoding, act_words
from neurophase.tb.chip_networks import DIGITS_SPEC, chip_for, network_inputs
from neurophase.tb.runner import build_root, locked, run_cocotb, write_report

__all__ = ["run_chip", "run_chip_sim", "run_command_errors", "harness_for", "TB_MODULE", "TOPLEVEL"]

TB_MODULE = "neurophase.tb.chip_tb"
TOPLEVEL = "np_chip_harness"


def run_command_errors(sim):
    """tb/chip_tb.py's ``command_errors_are_flagged`` on a small 2-tile chip under ``sim`` (raises when it fails)."""
    from neurophase.model.arith import PeripheryFormat
    from neurophase.tb.chip_harness import HDL_SOURCES, VERILATOR_CONFIG, ChipHarness
    harness = ChipHarness(tiles=2, rows=16, columns=8, fmt=PeripheryFormat(), acts_per_beat=4, frac_bits=8,
                          max_group=2, plane_depth=16, cmd_depth=64, resp_depth=16)
    run_cocotb(component=harness, toplevel=TOPLEVEL, test_module=TB_MODULE, sim=sim,
               parameters=dict(tiles=2, rows=16, icode_bits=harness.icode_bits), case="errors_2x16x8",
               extra_sources=list(HDL_SOURCES) + ([VERILATOR_CONFIG] if sim == "verilator" else []),
               testcase="command_errors_are_flagged")


def harness_for(chip):
    """The harness for ``chip`` (model/chip.py) with replay memories deep enough for a whole chunk of images in
    either encoding (so one simulator build serves every image count and encoding)."""
    from neurophase.model.chip import CHUNK
    from neurophase.model.executor import chip_max_group
    from neurophase.tb.chip_harness import ChipHarness
    from neurophase.tb.pwm_check import PwmWindow
    fmt = chip.config.fmt
    per_chunk = CHUNK
    entries = max(fmt.b_in, PwmWindow(fmt.b_in).width_bits)     # wordline entries per MVM: planes, or widths
    planes = per_chunk * max(a.mvms_per_image for a in chip.mapping.tiles) * entries
    cmd_words = resp_words = 1
    for a in chip.mapping.tiles:
        cmd_words = max(cmd_words, per_chunk * a.mvms_per_image * (2 + act_words(a.rows, fmt.b_in)) * 2 + 4096)
        resp_words = max(resp_words, per_chunk * a.mvms_per_image * a.columns + 64)
    depth = lambda n: 1 << max(4, (n - 1).bit_length())
    return ChipHarness(tiles=chip.mapping.tiles_needed, rows=chip.config.tile.rows,
                       columns=chip.config.tile.columns, fmt=fmt, acts_per_beat=16,
                       frac_bits=chip.config.frac_bits, max_group=chip_max_group(chip),
                       plane_depth=depth(planes), cmd_depth=depth(cmd_words), resp_depth=depth(resp_words))


def _timeout_us(images, pwm):
    # ~20k cycles of 10 ns per image bit-serial, ~50k with PWM reads, with a wide margin
    return 2000 + images * (1200 if pwm else 400)


def run_chip(*, sim, images, t=3600.0, seed=0, chip_seed=0, encoding=InputEncoding.BIT_SERIAL, tile_encodings=(),
             testcase="chip_inference_matches_golden", waves=False, workdir=None, test_module=TB_MODULE,
             calibration=0, network=DIGITS_SPEC):
    """Run the chip testbench on the ``network`` spec (tb/chip_networks.py); returns the result dict of
    ``chip_inference_matches_golden`` (plus ``wall_total_s`` and, of it, ``wall_build_s``, the export and build;
    ``error`` when a cocotb test failed). Every tile reads with ``encoding`` but those in ``tile_encodings`` (((tile,
    encoding), ...), model/chip.py ``ChipConfig``). The same harness build runs tb/chip_recal_tb.py (``test_module``
    ``neurophase.tb.chip_recal_tb``, testcase ``chip_bn_recalibration_matches_golden``, the digits CNN): BN
    recalibration on ``calibration`` images first."""
    from neurophase.model.chip import ChipConfig
    from neurophase.tb.chip_harness import HDL_SOURCES, VERILATOR_CONFIG
    config = ChipConfig(encoding=encoding, tile_encodings=tuple(tile_encodings))
    chip = chip_for(network, chip_seed, config)
    network_inputs(chip, images)                # the count checked here, not inside the simulator
    harness = harness_for(chip)
    workdir = Path(workdir or build_root() / "sim" / "chip_runs" / sim)
    with locked(workdir):    # another run of the same kind waits: they share the workload and result files
        workdir.mkdir(parents=True, exist_ok=True)
        result_path = workdir / "result.json"
        result_path.unlink(missing_ok=True)
        parameters = dict(images=images, calibration=calibration, t=t, seed=seed, chip_seed=chip_seed,
                          encoding=config.encoding.label,
                          tile_encodings=[[n, e.label] for n, e in config.tile_encodings], result=str(result_path),
                          network=network, icode_bits=harness.icode_bits, tiles=harness.chip.n_tiles,
                          rows=harness.chip.rows, cmd_depth=harness.cmd_depth, resp_depth=harness.resp_depth,
                          planes_depth=harness.plane_depth)
        c = harness.chip
        case = (f"tiles{c.n_tiles}_{c.rows}x{c.columns}_g{c.max_group}_planes{harness.plane_depth}"
                f"_cmd{harness.cmd_depth}_resp{harness.resp_depth}" + ("_waves" if waves else ""))
        pwm = any(chip.encoding(a.tile) is InputEncoding.PWM for a in chip.mapping.tiles)
        wall0 = time.perf_counter()
        error, timings = None, {}
        try:
            run_cocotb(component=harness, toplevel=TOPLEVEL, test_module=test_module, sim=sim, parameters=parameters,
                       case=case, extra_sources=list(HDL_SOURCES) + ([VERILATOR_CONFIG] if sim == "verilator" else []),
                       testcase=testcase, waves=waves, workdir=workdir, timings=timings,
                       extra_env={"NEUROPHASE_TEST_TIMEOUT_US": str(_timeout_us(images + calibration, pwm))})
        except RuntimeError as e:
            error = str(e)
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
    result["wall_total_s"] = time.perf_counter() - wall0
    result["wall_build_s"] = timings.get("build_s")
    if error is not None:
        result["error"] = error
    return result


def run_chip_sim(*, sim="icarus", images=4, t=3600.0, seed=0, encoding=InputEncoding.BIT_SERIAL, waves=False,
                 report_dir=None, log=print, network=DIGITS_SPEC):
    """`neurophase sim` without --tile: every tile reading with ``encoding``; print a summary, write ``chip.json``
    and return the report. ``network``: a spec of tb/chip_networks.py (default the digits CNN)."""
    from neurophase.model.chip import max_images
    images = check_int("images", images, 1, max_images() if network == DIGITS_SPEC else None)
    t = check_nonnegative("time (s)", t)
    seed = check_int("seed", seed, 0, 2 ** 32 - 1)
    encoding = InputEncoding.parse(encoding)
    name = network.get("path", network["kind"])
    log(f"chip: {count_text(images, 'test input')} of {name} through the chip RTL ({sim}), {encoding.label} inputs, "
        f"t = {t:g} s, seed {seed} ...")
    r = run_chip(sim=sim, images=images, t=t, seed=seed, encoding=encoding, waves=waves, network=network)
    report = dict(network=name, images=images, encoding=encoding.label, mismatches=r.get("mismatches"),
                  accuracy=r.get("accuracy"), golden_accuracy=r.get("golden_accuracy"),
                  cycles_per_image=r.get("cycles_per_image"),
                  images_per_s=r.get("images_per_s"), sim=sim, time=t, seed=seed,
                  wall_s=r.get("wall_s"), wall_sim_s=r.get("wall_sim_s"), wall_python_s=r.get("wall_python_s"),
                  wall_golden_s=r.get("wall_golden_s"), wall_files_s=r.get("wall_files_s"),
                  wall_check_s=r.get("wall_check_s"), wall_build_s=r.get("wall_build_s"),
                  wall_total_s=round(r["wall_total_s"], 2), words_checked=r.get("words_checked"),
                  output_mismatches=r.get("output_mismatches"), logit_mismatches=r.get("logit_mismatches"),
                  wordline_errors=r.get("wordline_errors"), event_mismatches=r.get("event_mismatches"),
                  cycles=r.get("cycles"), cycles_model=r.get("cycles_model"), events=r.get("events"))
    if "error" in r:
        report["error"] = r["error"]
    path = write_report(report, "chip.json", report_dir)
    if r.get("mismatches") is not None:
        log(f"chip  images {images}  mismatches {report['mismatches']} of {report['words_checked']} words + "
            f"logits  accuracy {100 * report['accuracy']:.1f}% (golden model {100 * report['golden_accuracy']:.1f}%)"
            f"  cycles/image {report['cycles_per_image']:.0f}  {report['images_per_s']:.2f} images/s "
            f"({sim}; simulator {report['wall_sim_s']:.1f} s, Python {report['wall_python_s']:.1f} s of which golden "
            f"model {report['wall_golden_s']:.1f} s and replay files {report['wall_files_s']:.1f} s; "
            f"{report['wall_total_s']:.1f} s in total with the build, {report['wall_build_s']:.1f} s, and the check "
            f"after the run, {report['wall_check_s']:.1f} s)")
    log(f"report: {path}")
    if "error" in report:
        log(f"error: {report['error']}")
    return report
