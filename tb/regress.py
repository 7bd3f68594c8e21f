"""`make regress`: constrained-random networks through the whole-chip RTL, bit for bit, on one simulator build.

Ref: docs/architecture.md D16. model/random_network.py draws each seed's network; the host compiler compiles it for
the regression chip (reduced tiles, :class:`~neurophase.model.random_network.RegressionChip`; each layer's tiles
reading bit-serially or by PWM as the seed draws, on tiles that implement both); tb/chip_tb.py's
``random_networks_match_golden`` runs the seeds one after another in one simulation and scores every response word,
the logits, every layer's event counts and its cycles against the golden executor and ``CycleModel``. The harness
depends on the regression chip only, never on the seeds, so every seed list reuses one build. Writes
``build/reports/regress.json``.
"""

import json
import os
import time
from dataclasses import asdict

from neurophase.model.checks import check_int
from neurophase.model.random_network import MAX_HW, RegressionChip
from neurophase.tb.runner import build_root, locked, run_cocotb, write_report

__all__ = ["regression_harness", "run_regress", "regress_summary", "replay_command"]

_TIMEOUT_US_PER_SEED = 50_000       # ~10x the simulated time of the largest random network (2 inputs, all PWM)


def _depth(n):
    return 1 << max(4, (n - 1).bit_length())


def regression_harness(rc=RegressionChip()):
    """The chip harness for every network ``rc`` allows: replay memories sized from its bounds (a layer has at most
    ``MAX_HW^2`` MVMs per input, each a read per bit-plane or one PWM read of ``width_bits`` wordline entries; every
    tile of the chip may serve one layer)."""
    from neurophase.model.arith import PeripheryFormat
    from neurophase.model.chip import ChipConfig
    from neurophase.model.interface import act_words
    from neurophase.tb.chip_harness import ChipHarness
    from neurophase.tb.pwm_check import PwmWindow
    mvms = rc.images * MAX_HW ** 2
    fmt = PeripheryFormat()
    entries = max(fmt.b_in, PwmWindow(fmt.b_in).width_bits)
    words_per_mvm = 1 + act_words(rc.rows, fmt.b_in)
    cmd = rc.tiles * (mvms * words_per_mvm + 2 * (2 + 2 * rc.columns)) + 4096
    resp = mvms * rc.tiles * rc.columns + 256
    return ChipHarness(tiles=rc.tiles, rows=rc.rows, columns=rc.columns, fmt=fmt, acts_per_beat=16,
                       frac_bits=ChipConfig().frac_bits, max_group=rc.max_group, plane_depth=_depth(mvms * entries),
                       cmd_depth=_depth(cmd), resp_depth=_depth(resp))


def replay_command(seed):
    """The command that runs seed ``seed`` alone."""
    return f"make regress SEEDS=1 START={seed}   (or: neurophase regress --seeds 1 --start {seed})"


def run_regress(seeds, *, sim="verilator", rc=RegressionChip(), t=3600.0, report_dir=None, log=print):
    """Run the random networks of ``seeds`` (an iterable of integers) through the chip RTL; write and return the
    report (per seed: network shapes, words checked, mismatches, cycles and CycleModel's, wall time)."""
    from neurophase.tb.chip_harness import HDL_SOURCES, VERILATOR_CONFIG
    from neurophase.tb.chip_sim import TB_MODULE, TOPLEVEL
    seeds = [check_int("seed", s, 0, 2 ** 32 - 1) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed, got none")
    harness = regression_harness(rc)
    workdir = build_root() / "sim" / "regress"
    with locked(workdir):    # another run of the same kind waits: they share the workload and result files
        workdir.mkdir(parents=True, exist_ok=True)
        result_path = workdir / "result.json"
        result_path.unlink(missing_ok=True)
        parameters = dict(seeds=seeds, chip=asdict(rc), t=t, icode_bits=harness.icode_bits, result=str(result_path),
                          cmd_depth=harness.cmd_depth, resp_depth=harness.resp_depth, planes_depth=harness.plane_depth)
        case = f"regress_t{rc.tiles}_{rc.rows}x{rc.columns}_g{rc.max_group}_i{rc.images}"
        log(f"regress: {len(seeds)} random network(s), seeds {seeds[0]}..{seeds[-1]}, on {rc.tiles} tiles of "
            f"{rc.rows} x {rc.columns} ({sim}) ...")
        wall0 = time.perf_counter()
        error = None
        try:
            run_cocotb(component=harness, toplevel=TOPLEVEL, test_module=TB_MODULE, sim=sim, parameters=parameters,
                       case=case, extra_sources=list(HDL_SOURCES) + ([VERILATOR_CONFIG] if sim == "verilator" else []),
                       testcase="random_networks_match_golden", workdir=workdir,
                       extra_env={"NEUROPHASE_TEST_TIMEOUT_US": str(2000 + _TIMEOUT_US_PER_SEED * len(seeds))})
        except RuntimeError as e:
            error = str(e)
        runs = json.loads(result_path.read_text()) if result_path.exists() else []
    report = regress_summary(seeds, runs, rc, sim, time.perf_counter() - wall0, error)
    path = write_report(report, "regress.json", report_dir)
    for r in report["runs"]:
        f = r["features"]
        log(f"  seed {r['seed']:>5}: {f['layers']} layers, {f['tiles']} tiles, group {f['max_group']}, "
            f"{f['max_col_blocks']} col blocks, {f['residual_adds']} adds, {f['pwm_layers']} PWM layers  "
            f"{r['words_checked']} words  "
            f"{r['mismatches']} mismatches  {r['cycles']} cycles (model {r['cycles_model']})  {r['wall_s']:.1f} s")
    for seed in report["failed_seeds"]:
        log(f"seed {seed} FAILED; replay: {replay_command(seed)}")
    log(f"regress: {len(report['runs'])} of {len(seeds)} seeds run, {report['mismatches']} mismatches of "
        f"{report['words_checked']} words, {report['wall_s']:.0f} s (load {report['load_average']})")
    log(f"report: {path}")
    if error:
        log(f"error: {error}")
    return report


def regress_summary(seeds, runs, rc, sim, wall, error):
    """The regress.json report of ``runs`` (the testbench's per-seed reports) for ``seeds``: a seed with mismatches or
    without a report (the simulation stopped before it) is failed, with its replay command."""
    done = {r["seed"] for r in runs}
    failed = [r["seed"] for r in runs if r["mismatches"]] + [s for s in seeds if s not in done]
    keep = ("seed", "features", "images", "words_checked", "mismatches", "output_mismatches", "logit_mismatches",
            "event_mismatches", "wordline_errors", "plane_errors", "chip_errors", "tile_errors", "cycles",
            "cycles_model", "wall_s", "wall_sim_s", "wall_python_s", "wall_total_s")
    report = dict(sim=sim, chip=asdict(rc), seeds=seeds, failed_seeds=failed,
                  replay={s: replay_command(s) for s in failed},
                  words_checked=sum(r["words_checked"] for r in runs), mismatches=sum(r["mismatches"] for r in runs),
                  cycles=sum(r["cycles"] for r in runs), wall_s=round(wall, 2),
                  load_average=[round(x, 2) for x in os.getloadavg()],
                  runs=[{k: r[k] for k in keep if k in r} for r in runs])
    if error:
        report["error"] = error
    return report

