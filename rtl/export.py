"""Verilog export of the RTL tops: deterministic bytes (no source paths) and one unique module name per top."""

import os
from pathlib import Path

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

from amaranth.back import verilog  # noqa: E402

__all__ = ["to_verilog", "write_verilog", "TOPS"]


def to_verilog(component, name):
    """Verilog text of ``component`` with top module ``name``; identical on every machine and run.

    A component that instantiates separately exported modules by name (the chip's tiles) lists them in
    ``verilog_dependencies()``; their Verilog is appended, so the file stays self-contained."""
    text = verilog.convert(component, name=name, emit_src=False, strip_internal_attrs=True)
    for dep_name, dep in getattr(component, "verilog_dependencies", dict)().items():
        text += to_verilog(dep, dep_name)
    return text


def write_verilog(component, name, out_dir):
    """Write ``<out_dir>/<name>.v`` only when its bytes change (so simulator builds stay cached); return the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.v"
    text = to_verilog(component, name)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _tops():
    from neurophase.rtl.adc_sar import SarAdcArray
    from neurophase.rtl.bn_unit import BnUnit
    from neurophase.rtl.chip import ChipTop
    from neurophase.rtl.shift_add import ShiftAdd
    from neurophase.rtl.tile import Tile
    from neurophase.rtl.tile_ctrl import TileController
    return {
        "np_shift_add": lambda: ShiftAdd(lanes=128, b_adc=8, acc_bits=20),
        "np_sar_adc": lambda: SarAdcArray(columns=128, columns_per_adc=1, b_adc=8),
        "np_bn_unit": lambda: BnUnit(channels=128),
        "np_tile_ctrl": lambda: TileController(rows=256, columns=128),
        "np_tile": lambda: Tile(rows=256, columns=128, columns_per_adc=1),
        # Four full-size tiles, reduction groups up to 4. The 144-tile chip (groups up to 18) lints in minutes and
        # gigabytes: tests/test_rtl_chip.py exports it, and lints it in the slow set.
        "np_chip": lambda: ChipTop(tiles=4),
    }


class _Tops(dict):
    """Name -> factory of every top `make rtl` exports (default parameters), filled on first use."""

    def _fill(self):
        if not dict.__len__(self):
            self.update(_tops())

    def __iter__(self):
        self._fill()
        return dict.__iter__(self)

    def items(self):
        self._fill()
        return dict.items(self)

    def __getitem__(self, k):
        self._fill()
        return dict.__getitem__(self, k)

    def __len__(self):
        self._fill()
        return dict.__len__(self)


TOPS = _Tops()
