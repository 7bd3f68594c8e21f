"""tb: cocotb testbenches of the RTL, their harnesses and launcher, checked against the golden model."""

from pathlib import Path

# Behavioural Verilog stand-ins and Verilator control files of the harnesses; shipped with the package.
HDL_DIR = Path(__file__).resolve().parent / "hdl"
