"""`make sim TILE=n`: run tile n's share of the reference network through the full-size tile RTL, checked bit for bit.

Ref: docs/architecture.md §4, §5. The golden model (model/chip.py) gives the tile's layer, the activation vectors
of its MVMs for ``images`` test images and the per-plane column currents (programming noise, drift to ``time``,
fresh read noise per plane; all seeded by ``seed``) and the BN registers. They are written as a
:class:`~neurophase.tb.tile_workload.Workload` file, the cocotb testbench (tb/tile_tb.py) replays it through
tb/tile_harness.py under Icarus or Verilator and scores every output with model/adc.py and model/arith.py; the
summary goes to the terminal and to ``build/reports/sim_tile<n>.json``.
"""

import json
import time
from pathlib import Path

from neurophase.model.checks import check_int, check_nonnegative, count_text
from neurophase.tb.runner import build_root, run_cocotb, write_report
from neurophase.tb.tile_workload import Workload

__all__ = ["run_workload", "run_tile_sim", "TB_MODULE", "TOPLEVEL"]

TB_MODULE = "neurophase.tb.tile_tb"
TOPLEVEL = "np_tile_harness"


def _harness(wl):
    from neurophase.tb.tile_harness import TileHarness
    return TileHarness(rows=wl.rows, columns=wl.columns, columns_per_adc=wl.columns_per_adc, fmt=wl.fmt,
                       acts_per_beat=wl.acts_per_beat, frac_bits=wl.frac_bits)


def _timeout_us(wl):
    """Simulated-time limit: generous for the set-up and every MVM, so only a hang hits it."""
    per_mvm = wl.fmt.b_in * (wl.columns_per_adc * wl.fmt.b_adc + 2) * 3 + 4 * wl.columns + wl.rows
    cycles = 20_000 + 8 * wl.columns + wl.mvms * per_mvm * 2
    return cycles * 10 / 1000 + 100


def run_workload(wl, *, sim, case, workdir, testcase=None, waves=False, fault_offset=None):
    """Save ``wl``, run the tile testbench on it (every test, or ``testcase``) and return the result dict of
    ``workload_matches_golden`` (mvms, cycles, mismatches, counters, wall time; plus ``waves`` when asked).

    Raises RuntimeError (from the runner) when a cocotb test failed, after the result file was written.
    """
    from neurophase.tb.tile_harness import COMPARATOR_BANK_V
    workdir = Path(workdir)
    wl_path = wl.save(workdir / "workload.npz")
    result_path = workdir / "result.json"
    result_path.unlink(missing_ok=True)
    harness = _harness(wl)
    parameters = dict(workload=str(wl_path), result=str(result_path), data_bits=harness.data_bits)
    if fault_offset is not None:
        parameters["fault_offset"] = int(fault_offset)
    error = None
    wall0 = time.perf_counter()
    try:
        _, build_dir = run_cocotb(component=harness, toplevel=TOPLEVEL, test_module=TB_MODULE, sim=sim,
                                  parameters=parameters, case=case + ("_waves" if waves else ""),
                                  extra_sources=[COMPARATOR_BANK_V], testcase=testcase, waves=waves,
                                  extra_env={"NEUROPHASE_TEST_TIMEOUT_US": str(_timeout_us(wl))})
    except RuntimeError as e:
        error = e
        build_dir = None
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    result["wall_s"] = time.perf_counter() - wall0
    if waves and build_dir is not None:
        found = sorted(Path(build_dir).glob("*.vcd"))
        result["waves"] = str(found[0]) if found else None
    if error is not None:
        result.setdefault("mismatches", None)
        result["error"] = str(error)
        if result["mismatches"] is None or testcase is None:
            raise error
    return result


def run_tile_sim(tile, *, sim="icarus", images=2, t=3600.0, seed=0, waves=False, report_dir=None,
                 fault_offset=None, log=print):
    """Simulate tile ``tile``'s MVMs for ``images`` test images; print a summary, write the JSON report and return
    it. ``fault_offset`` (tests only) makes the RTL's configuration wrong on purpose (tb/tile_tb.py) so the
    comparison must fail."""
    from neurophase.model import chip
    check_tile(tile)
    images = check_int("images", images, 1, chip.max_images())
    t = check_nonnegative("time (s)", t)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    wl = chip_workload(tile, images=images, t=t, seed=seed)
    workdir = build_root() / "sim" / "tile_runs" / f"tile{tile}_{sim}"
    log(f"tile {tile}: layer {wl.meta['layer']}, {wl.mvms} MVMs ({count_text(images, 'image')}), {wl.rows_used} "
        f"rows x {wl.cols_used} columns, {'raw partial sums' if wl.raw else 'BN outputs'}; simulating with {sim} ...")
    result = run_workload(wl, sim=sim, case="full_chip_tile", workdir=workdir, testcase="workload_matches_golden",
                          waves=waves, fault_offset=fault_offset)
    cycles = result.get("cycles", 0)
    mvm_wall = result.get("mvm_wall_s") or float("nan")
    report = dict(tile=tile, layer=wl.meta["layer"], mvms=wl.mvms, cycles=cycles,
                  mismatches=result["mismatches"], outputs_checked=result.get("outputs_checked", 0),
                  sim=sim, images=images, time=t, seed=seed, wall_s=round(result["wall_s"], 3),
                  cycles_per_mvm=result.get("cycles_per_mvm"), cycles_per_wall_s=round(cycles / mvm_wall, 1),
                  rows_used=wl.rows_used, cols_used=wl.cols_used, output="raw" if wl.raw else "bn",
                  counters=result.get("counters"), waves=result.get("waves"))
    if "error" in result:
        report["error"] = result["error"]
    path = write_report(report, f"sim_tile{tile}.json", report_dir)
    log(f"tile {tile}  layer {report['layer']}  MVMs {report['mvms']}  cycles {cycles}  "
        f"mismatches {report['mismatches']} of {report['outputs_checked']} outputs  "
        f"{report['cycles_per_wall_s']:.0f} simulated cycles/s ({sim}, {report['wall_s']:.1f} s wall in total)")
    if report["waves"]:
        log(f"waveform: {report['waves']}")
    log(f"report: {path}")
    if "error" in report:
        log(f"error: {report['error']}")
    return report


def check_tile(tile):
    """Validate a chip tile number: in the chip's range, and mapped (holding work) in the reference network."""
    from neurophase.model.chip import ChipConfig
    from neurophase.model.mapper import map_network
    geometry = ChipConfig().geometry
    n_tiles = geometry.tiles
    tile = check_int("tile", tile, 0, n_tiles - 1)
    used = map_network(geometry=geometry).tiles_needed
    if tile >= used:
        raise ValueError(f"tile {tile} has no work: the reference network is mapped onto tiles 0..{used - 1} "
                         f"of the chip's 0..{n_tiles - 1}")
    return tile


def chip_workload(tile, *, images, t, seed):
    """The workload of chip tile ``tile`` from the golden model (model/chip.py ``tile_workload``).

    A tile whose layer is row-split streams its raw accumulators (partial sums, added across the reduction group
    before BN); any other tile streams its BN outputs. The two golden paths (chip.py's recorded outputs, and the
    scoreboard's recomputation from the currents) must agree before the RTL is even run.
    """
    import numpy as np

    from neurophase.model.chip import reference_chip
    from neurophase.model.interface import adc_range_code
    tile = check_tile(tile)
    chip = reference_chip()
    g = chip.tile_workload(tile, images=images, t=t, seed=seed)
    raw = len(g.group) > 1
    adc_range = adc_range_code(g.adc.i_fs)
    cols = slice(0, g.n_cols)
    wl = Workload(rows=chip.config.tile.rows, columns=g.columns, columns_per_adc=1, acts_per_beat=16, fmt=g.fmt,
                  frac_bits=g.adc.frac_bits, i_fs=g.adc.i_fs, adc_range=adc_range, rows_used=g.rows,
                  cols_used=g.n_cols, x=g.inputs, currents=g.currents, scale=g.bn.scale[cols], bias=g.bn.bias[cols],
                  shift=g.bn.shift, relu=g.relu, last=g.last, raw=raw,
                  meta=dict(tile=tile, layer=g.layer, images=images, time=t, seed=seed, group=g.group))
    golden = (g.acc if raw else g.outputs)[:, cols]
    if not np.array_equal(wl.expected().out, golden):
        raise RuntimeError(f"tile {tile}: model/chip.py outputs differ from model/arith.py on its own currents")
    return wl
