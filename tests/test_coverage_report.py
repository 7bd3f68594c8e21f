from argparse import Namespace

import pytest

from neurophase import coverage


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
    assert report["uncovered_lines"] == ["verilator_a_cov/np_demo.v:4 block"]
    assert not report["meets_goal"]


def test_coverage_without_data_names_the_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROPHASE_BUILD", str(tmp_path))
    with pytest.raises(RuntimeError, match="no coverage data was written"):
        coverage.run(Namespace(blocks=["bn_unit"], jobs=1, out=tmp_path / "reports", no_run=True))
