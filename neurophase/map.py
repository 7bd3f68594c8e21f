"""Map the reference network onto the chip's tiles: print the mapping table and write it as JSON."""

from pathlib import Path

DEFAULT_OUT = Path("build/reports/mapping.json")


def add_arguments(p):
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON file to write (default {DEFAULT_OUT})")
    p.add_argument("--tiles", type=int, default=144, help="tiles on the chip (default 144)")


def run(args):
    from neurophase.model.mapper import ChipGeometry, map_network
    m = map_network(geometry=ChipGeometry(tiles=args.tiles))
    print(m.table())
    print(f"wrote {m.write_json(args.out)}")
    return 0
