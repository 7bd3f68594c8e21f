"""`make sim TILE=n`: run tile n's share of the reference network through the full-size tile RTL, checked bit for bit.

Ref: docs/architecture.md §4, §5, D8. The golden model (model/chip.py, every tile reading with ``encoding``) gives the
tile's layer, the activation vectors of its MVMs for ``images`` test images and the column currents of every read
(programming noise, drift to ``time``, fresh read noise per read; all seeded by ``seed``) and the BN registers. They
are written as a :class:`~neurophase.tb.tile_workload.Workload` file, the cocotb testbench (tb/tile_tb.py) replays it
through tb/tile_harness.py under Icarus or Verilator and scores every output with model/adc.py and model/arith.py;
the summary goes to the terminal and to ``build/reports/sim_tile<n>.json``.
"""

import json
import time
from pathlib import Path

from neurophase.model.checks import check_int, check_nonnegative, count_text
from neurophase.model.interface import PWM_LSB_CYCLES, InputEncoding
from neurophase.tb.runner import build_root, locked, run_cocotb, write_report
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
    reads = wl.reads * (wl.columns_per_adc * wl.fmt.b_adc + 2) + (1 << wl.fmt.b_in) * PWM_LSB_CYCLES
    per_mvm = reads * 3 + 4 * wl.columns + wl.rows
    cycles = 20_000 + 8 * wl.columns + wl.mvms * per_mvm * 2
    return cycles * 10 / 1000 + 100


def run_workload(wl, *, sim, case, workdir, testcase=None, waves=False, fault_offset=None):
    """Save ``wl``, run the tile testbench on it (every test, or ``testcase``) and return the result dict of
    ``workload_matches_golden`` (mvms, cycles, mismatches, counters, wall time; plus ``waves`` when asked).

    Raises RuntimeError (from the runner) when a cocotb test failed, after the result file was written.
    """
    from neurophase.tb.tile_harness import HDL_SOURCES
    workdir = Path(workdir)
    with locked(workdir):    # another run of the same kind waits: they share the workload and result files
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
                                      extra_sources=list(HDL_SOURCES), testcase=testcase, waves=waves,
                                      extra_env={"NEUROPHASE_TEST_TIMEOUT_US": str(_timeout_us(wl))}, workdir=workdir)
        except RuntimeError as e:
            error = e
            build_dir = None
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
        result["wall_s"] = time.perf_counter() - wall0
        if waves and build_dir is not None:
            # Both simulators write their VCD into the directory the simulation runs in (tb/runner.py).
            found = sorted(workdir.glob("*.vcd"))
            result["waves"] = str(found[0]) if found else None
    if error is not None:
        result.setdefault("mismatches", None)
        result["error"] = str(error)
        if result["mismatches"] is None or testcase is None:
            raise error
    return result


def run_tile_sim(tile, *, sim="icarus", images=2, t=3600.0, seed=0, encoding=InputEncoding.BIT_SERIAL, waves=False,
                 report_dir=None, fault_offset=None, log=print, network=None):
    """Simulate tile ``tile``'s MVMs for ``images`` test inputs of ``network`` (a QuantNetwork; None: the digits CNN)
    with input ``encoding``; print a summary, write the JSON report and return it. ``fault_offset`` (tests only)
    makes the RTL's configuration wrong on purpose (tb/tile_tb.py) so the comparison must fail."""
    from neurophase.model import chip
    check_tile(tile, network)
    images = check_int("images", images, 1, chip.max_images(network))
    t = check_nonnegative("time (s)", t)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    encoding = InputEncoding.parse(encoding)
    wl = chip_workload(tile, images=images, t=t, seed=seed, encoding=encoding, network=network)
    workdir = build_root() / "sim" / "tile_runs" / f"tile{tile}_{sim}_{encoding.label}"
    log(f"tile {tile}: layer {wl.meta['layer']}, {wl.mvms} MVMs ({count_text(images, 'image')}), {wl.rows_used} "
        f"rows x {wl.cols_used} columns, {encoding.label} inputs, {'raw partial sums' if wl.raw else 'BN outputs'}; "
        f"simulating with {sim} ...")
    result = run_workload(wl, sim=sim, case="full_chip_tile", workdir=workdir, testcase="workload_matches_golden",
                          waves=waves, fault_offset=fault_offset)
    cycles = result.get("cycles", 0)
    mvm_wall = result.get("mvm_wall_s") or float("nan")
    report = dict(tile=tile, layer=wl.meta["layer"], mvms=wl.mvms, cycles=cycles,
                  mismatches=result["mismatches"], outputs_checked=result.get("outputs_checked", 0),
                  wordline_errors=result.get("wordline_errors"),
                  sim=sim, images=images, time=t, seed=seed, encoding=encoding.label,
                  wall_s=round(result["wall_s"], 3),
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


def check_tile(tile, network=None, name="tile"):
    """Validate a tile number: in the chip's range, and mapped (holding work) in the network (a QuantNetwork; None:
    the digits CNN; its tiles are numbered over all the chips it needs). ``name`` names it in the error (an option)."""
    from neurophase.model.chip import ChipConfig
    from neurophase.model.mapper import map_network
    geometry = ChipConfig().geometry
    mapping = map_network(network, geometry, strict=False)
    n_tiles = max(geometry.tiles, mapping.tiles_needed)
    tile = check_int(name, tile, 0, n_tiles - 1)
    used = mapping.tiles_needed
    if tile >= used:
        raise ValueError(f"tile {tile} has no work: the {'reference ' if network is None else ''}network is mapped "
                         f"onto tiles 0..{used - 1} of the chip's 0..{n_tiles - 1}")
    return tile


def chip_workload(tile, *, images, t, seed, encoding=InputEncoding.BIT_SERIAL, network=None, chip=None):
    """The workload of chip tile ``tile`` of ``chip`` (default: the reference chip of ``network`` with every tile
    reading with ``encoding``) from the golden model (model/chip.py ``tile_workload``). The crossbar stand-in is fed
    the currents as the comparators see them, so a chip with stuck devices, dead lines, IR drop or ADC offset and gain
    (docs/architecture.md D11-D13) runs as it is.

    A tile whose layer is row-split streams its raw accumulators (partial sums, added across the reduction group
    before BN); any other tile streams its BN outputs. The two golden paths (chip.py's recorded outputs, and the
    scoreboard's recomputation from the currents) must agree before the RTL is even run.
    """
    import numpy as np

    from neurophase.model.chip import ChipConfig, reference_chip
    from neurophase.model.interface import adc_range_code
    tile = check_tile(tile, network if chip is None else chip.network)
    if chip is None:
        chip = reference_chip(config=ChipConfig(encoding=encoding), network=network)
    g = chip.tile_workload(tile, images=images, t=t, seed=seed)
    raw = len(g.group) > 1
    adc_range = adc_range_code(g.adc.i_fs)
    cols = slice(0, g.n_cols)
    wl = Workload(rows=chip.config.tile.rows, columns=g.columns, columns_per_adc=1, acts_per_beat=16, fmt=g.fmt,
                  frac_bits=g.adc.frac_bits, i_fs=g.adc.i_fs, adc_range=adc_range, rows_used=g.rows,
                  cols_used=g.n_cols, x=g.inputs, currents=g.adc_currents, scale=g.bn.scale[cols],
                  bias=g.bn.bias[cols],
                  shift=g.bn.shift, relu=g.relu, last=g.last, raw=raw,
                  meta=dict(tile=tile, layer=g.layer, images=images, time=t, seed=seed, group=g.group),
                  encoding=g.encoding)
    golden = (g.acc if raw else g.outputs)[:, cols]
    if not np.array_equal(wl.expected().out, golden):
        raise RuntimeError(f"tile {tile}: model/chip.py outputs differ from model/arith.py on its own currents")
    return wl
