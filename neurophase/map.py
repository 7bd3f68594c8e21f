"""Map the reference network onto the chip's tiles: print the mapping table and write it as JSON."""

from neurophase.options import build_default, integer, output_file


def add_arguments(p):
    p.add_argument("--out", type=output_file(), default=build_default("reports/mapping.json"),
                   help="JSON file to write (default build/reports/mapping.json, or under $NEUROPHASE_BUILD)")
    p.add_argument("--tiles", type=integer(1, 1 << 16), default=144, help="tiles on the chip (default 144)")


def run(args):
    from neurophase.model.mapper import ChipGeometry, map_network
    m = map_network(geometry=ChipGeometry(tiles=args.tiles))
    print(m.table())
    print(f"wrote {m.write_json(args.out)}")
    return 0
