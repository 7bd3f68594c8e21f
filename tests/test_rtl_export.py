import os
import subprocess
import sys

import pytest

from neurophase.lint import HDL, lint_file
from neurophase.rtl.export import TOPS, write_verilog

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name", list(TOPS))
def test_exported_top_is_verilator_lint_clean(name, tmp_path):
    result = lint_file(write_verilog(TOPS[name](), name, tmp_path))
    assert result.ok, result.summary()


@pytest.mark.parametrize("path, top, parameters", HDL,
                         ids=["_".join(f"{k}{v}" for k, v in params.items()) or top for _, top, params in HDL])
def test_behavioural_hdl_is_verilator_lint_clean(path, top, parameters):
    result = lint_file(path, top, parameters)
    assert result.ok, result.summary()


def test_lint_reports_width_and_unused_signal_warnings(tmp_path):
    bad = tmp_path / "np_bad.v"
    bad.write_text("module np_bad(input wire [3:0] a, output wire [7:0] y);\n"
                   "  wire spare = a[0];\n  assign y = a;\nendmodule\n")
    result = lint_file(bad)
    assert not result.ok
    assert result.counts == {"WIDTHEXPAND": 1, "UNUSEDSIGNAL": 1}


def test_two_exports_are_byte_identical_without_source_paths(tmp_path):
    # Two separate processes with different hash seeds, as two machines or runs would be.
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"run{seed}"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-m", "neurophase", "rtl", "--out", str(out)], check=True, env=env,
                       capture_output=True, cwd=tmp_path)
        outs.append({p.name: p.read_bytes() for p in sorted(out.glob("*.v"))})
    assert sorted(outs[0]) == sorted(f"{name}.v" for name in TOPS)
    assert outs[0] == outs[1]
    for name, text in outs[0].items():
        assert b"(* src" not in text and REPO.encode() not in text and b"site-packages" not in text, name
