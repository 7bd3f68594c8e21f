"""Map a network onto the chip's tiles (several chips when it needs more): print the mapping table, write it as JSON."""

from pathlib import Path

from neurophase.netargs import add_network_arguments, network_from

DEFAULT_OUT = Path("build/reports/mapping.json")


def add_arguments(p):
    add_network_arguments(p, data=False)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON file to write (default {DEFAULT_OUT})")
    p.add_argument("--tiles", type=int, default=144, help="tiles on the chip (default 144)")


def run(args):
    from neurophase.model.mapper import ChipGeometry, map_network
    m = map_network(network_from(args), ChipGeometry(tiles=args.tiles), strict=False)
    print(m.table())
    print(f"wrote {m.write_json(args.out)}")
    return 0
