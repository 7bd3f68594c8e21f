from argparse import Namespace

import pytest

from neurophase import coverage
from neurophase.coverage_reasons import LINE_REASONS, classify_toggles, explain_lines


def _point(f, line, page, o, count):
    key = "\x01".join(f"{k}\x02{v}" for k, v in (("f", f), ("l", line), ("page", page), ("o", o)))
    return f"C '\x01{key}' {count}\n"


def test_report_pools_cases_and_skips_yosys_startup_branch(tmp_path, monkeypatch):
    monkeypatch.setitem(coverage.BLOCKS, "demo", coverage.Block("rtl/demo.py", "tests/none.py", r"np_demo"))
    points = []
    for case, hits in (("verilator_a_cov", (1, 0)), ("verilator_b_cov", (1, 1))):
        src = tmp_path / "np_demo" / case / "rtl" / "np_demo.v"
        src.parent.mkdir(parents=True)
        src.write_text("module np_demo;\n  if (\\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end\n"
                       "  x = 1;\n  y = 2;\nendmodule\n")
        points += [_point(src, 2, "v_branch/np_demo", "if", 0),        # Yosys start-up branch: not counted
                   _point(src, 3, "v_line/np_demo", "block", hits[0]),
                   _point(src, 4, "v_line/np_demo", "block", hits[1]),
                   _point(src, 3, "v_toggle/np_demo", "x:0->1", 1),
                   _point(src, 3, "v_toggle/np_other", "x:0->1", 0)]  # another module: not this block
    dat = tmp_path / "coverage.dat"
    dat.write_text("# SystemC::Coverage-3\n" + "".join(points))
    report = coverage.summarise(coverage.read_points(dat), ["demo"])["demo"]
    assert report["line"] == {"hit": 3, "total": 4, "pct": 75.0}
    assert report["toggle"] == {"hit": 2, "total": 2, "pct": 100.0}
    assert report["cases"]["verilator_a_cov"]["line"]["pct"] == 50.0
    assert report["uncovered_lines"] == [dict(where="verilator_a_cov/np_demo.v:4", module="np_demo", kind="block",
                                              verilog="y = 2;", reason=None, why="NOT EXPLAINED")]
    assert not report["meets_goal"]


_VERILOG = """module \\np_demo.counters (clk);
  assign \\$3  = busy_next[32] ? 32'd4294967295 : busy_next[31:0];
endmodule
module \\np_demo.ctrl (clk);
  wire [3:0] tied;
  wire [3:0] rows_q;
  assign \\$34  = state == 2'h2;
  if (x) begin
  end else if (\\$34 ) begin
  assign \\read.id  = 32'd7;
  assign \\count.mvm_count  = count[3:0];
  assign tied = 4'h0;
  assign rows_q = { 2'h0, rows };
  \\np_demo.ctrl.sub  sub (
    .rows(rows_q)
  );
  np_bank #(
    .WIDTH(32'd4)
  ) bank0 (
    .code(bank_code)
  );
endmodule
"""


def _demo(tmp_path, points):
    src = tmp_path / "np_demo" / "verilator_a_cov" / "rtl" / "np_demo.v"
    src.parent.mkdir(parents=True)
    src.write_text(_VERILOG)
    dat = tmp_path / "coverage.dat"
    dat.write_text("# SystemC::Coverage-3\n" + "".join(_point(src, *pt) for pt in points))
    return coverage.read_points(dat)


def test_each_uncovered_line_gets_the_reason_its_resolved_verilog_matches(tmp_path):
    points = _demo(tmp_path, [(2, "v_branch/np_demo.counters", "cond_then", 0),
                              (9, "v_branch/np_demo.ctrl", "else", 0),
                              (8, "v_branch/np_demo.ctrl", "if", 0)])
    lines, unused = explain_lines(points, coverage._case)
    assert [(u["where"], u["reason"]) for u in lines] == [
        ("verilator_a_cov/np_demo.v:2", "counter saturation"), ("verilator_a_cov/np_demo.v:8", None),
        ("verilator_a_cov/np_demo.v:9", "fsm spare encoding")]
    assert lines[2]["verilog"] == "end else if ((state == 2'h2)) begin"
    assert lines[1]["why"] == "NOT EXPLAINED"
    assert unused == [r.name for r in LINE_REASONS if r.name not in ("counter saturation", "fsm spare encoding")]


def _bits(module, name, width, moved):
    """Toggle points of a signal: bit b toggled both ways when b in ``moved``, else never."""
    return [(8, f"v_toggle/{module}", f"{name}[{b}]:{d}", int(b in moved)) for b in range(width)
            for d in ("0->1", "1->0")]


def test_untoggled_bits_are_classified_from_the_data_the_verilog_and_the_register_layouts(tmp_path):
    points = _demo(tmp_path, [
        *_bits("np_demo.counters", "mvm_count", 4, {0}),            # a counter: 3 high bits
        *_bits("np_demo.ctrl", "count", 4, {0, 1}),                 # the port the Verilog slices as count.mvm_count
        *_bits("np_demo.ctrl", "read.id", 32, set()),                # a constant register
        *_bits("np_demo.ctrl", "read.mode", 32, {0, 1}),             # MODE: bits 4-31 reserved, 2-3 not reached
        *_bits("np_demo.ctrl", "tied", 4, set()),                    # tied off in the Verilog
        *_bits("np_demo.ctrl.sub", "rows", 4, {0, 1}),               # its top 2 bits tied in the parent
        *_bits("np_demo.ctrl", "level", 4, {0, 1}),                  # a value that stayed small
        *_bits("np_demo.ctrl", "idle", 2, set()),                    # never changed
        *_bits("np_demo.ctrl", "lanes", 4, {0, 3}),                  # scattered
        *_bits("np_demo.ctrl", "bank_code", 4, {0}),                 # wired to another Verilog module's instance
    ])
    classes, left = classify_toggles(points, coverage._case, "tile")
    got = {name: c["points"] for name, c in classes.items() if c["points"]}
    assert got == {"nets of instances outside the block": 6, "event counters above the counts reached": 6 + 4,
                   "reserved bits of register words": 56,
                   "constant read-only registers": 64, "tied to a constant in the Verilog": 8 + 4,
                   "high bits of values that stayed small": 4 + 4, "never changed": 4, "other bits": 4}
    hit = 2 * (1 + 2 + 2 + 2 + 2 + 2 + 1)
    total = 2 * (4 + 4 + 32 + 32 + 4 + 4 + 4 + 2 + 4 + 4)
    assert classes["never changed"]["pct_without"] == round(100 * hit / (total - 4), 1)
    left_out = 6 + 10 + 56 + 64 + 12
    assert left == dict(hit=hit, total=total - left_out, pct=round(100 * hit / (total - left_out), 1))


def test_coverage_without_data_names_the_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROPHASE_BUILD", str(tmp_path))
    with pytest.raises(RuntimeError, match="no coverage data was written"):
        coverage.run(Namespace(blocks=["bn_unit"], jobs=1, out=tmp_path / "reports", no_run=True))
