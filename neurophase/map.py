"""Map a network onto the chip's tiles (several chips when it needs more): print the mapping table, write it as JSON."""

from neurophase.netargs import add_network_arguments, check_network, network_from
from neurophase.options import build_default, integer, output_file


def add_arguments(p):
    add_network_arguments(p, data=False)
    p.add_argument("--out", type=output_file(), default=build_default("reports/mapping.json"),
                   help="JSON file to write (default build/reports/mapping.json, or under $NEUROPHASE_BUILD)")
    p.add_argument("--tiles", type=integer(1, 1 << 16), default=144, help="tiles on the chip (default 144)")


def check(args):
    check_network(args)


def run(args):
    from neurophase.model.mapper import ChipGeometry, map_network
    m = map_network(network_from(args), ChipGeometry(tiles=args.tiles), strict=False)
    print(m.table())
    print(f"wrote {m.write_json(args.out)}")
    return 0
