"""rtl: Amaranth RTL of the chip's digital periphery, one component per file (docs/architecture.md §5)."""

from pathlib import Path

# Verilator lint waivers of the exported Verilog, each with its reason; shipped with the package.
LINT_WAIVERS = Path(__file__).resolve().parent / "lint_waivers.vlt"
