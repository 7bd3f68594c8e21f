"""Simulate the chip, or one of its tiles, running the reference network, checked bit for bit (`make sim`).

Without --tile: whole-chip inference of the first IMAGES test images through the chip RTL (tb/chip_sim.py; every
layer's outputs and the logits compared with the golden model, build/reports/chip.json). Under Icarus this takes
about 1.5 minutes per image plus a 1-minute build, under Verilator a few seconds per image after a 2-4 minute cold
build. With --tile N: runs tile N's MVMs for the first IMAGES test images through the full-size tile RTL (256 rows x
128 columns) under Icarus Verilog or Verilator, with the crossbar stand-in driving the golden model's read currents
(programming noise, drift to --time seconds after programming, read noise; seeded by --seed), compares every output
with the golden model and writes build/reports/sim_tile<N>.json. --encoding pwm makes every tile read by pulse-width
modulation (docs/architecture.md D8) instead of bit-serially. Builds and reports go under ./build (or
$NEUROPHASE_BUILD). Exit status 0 only when there are no mismatches. ``--network`` (a file from `neurophase import`,
or an ONNX file with --calib) runs that network on full-size tiles: the whole chip (a network that fits one chip), or
one of its tiles (``--tile``, numbered over all the chips it needs).
"""

from neurophase.model.chip import ChipConfig, max_images
from neurophase.model.interface import InputEncoding
from neurophase.netargs import add_network_arguments, check_network, is_digits, network_from
from neurophase.options import (build_default, check_count, count_or_all, integer, number, output_folder,
                                require_extra)
from neurophase.tb.toolchain import SIMULATORS


def add_arguments(p):
    add_network_arguments(p)
    tiles = ChipConfig().geometry.tiles
    p.add_argument("--tile", type=integer(0), default=None,
                   help=f"tile number, 0..{tiles - 1} (the mapped tiles have work; an imported network's are numbered "
                        "over all the chips it needs); without it the whole chip runs the network")
    p.add_argument("--sim", choices=SIMULATORS, default="icarus", help="simulator (default icarus)")
    p.add_argument("--images", type=count_or_all(), default=2,
                   help=f"test images simulated, a count or 'all' (the digits CNN's {max_images()} held-out images; "
                        "default 2)")
    p.add_argument("--time", type=number(0), default=3600.0,
                   help="seconds after programming (drift and read noise; default 3600)")
    p.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="read-noise seed of the run (default 0)")
    p.add_argument("--encoding", choices=[e.label for e in InputEncoding], default=InputEncoding.BIT_SERIAL.label,
                   help="input encoding of every tile (default bit-serial; selected by each tile's MODE)")
    p.add_argument("--waves", action="store_true", help="write a VCD waveform of the run (either simulator)")
    p.add_argument("--report-dir", type=output_folder(), default=build_default("reports"),
                   help="folder of the JSON report (default build/reports, or $NEUROPHASE_BUILD/reports)")
    p.add_argument("--inject-fault", type=integer(1, 255), default=None, metavar="N",
                   help="with --tile, a self-test of the checker: configure the RTL wrongly on purpose (channel 0's "
                        "BN bias moved by N output steps; a raw partial-sum tile gets BN outputs instead); the run "
                        "must then report mismatches and exit 1")


def _network(args):
    """The QuantNetwork of --network; None for the digits CNN (the testbenches' default)."""
    return None if is_digits(args) else network_from(args)


def check(args):
    from neurophase.tb.tile_sim import check_tile
    from neurophase.tb.toolchain import check_simulator
    check_network(args)
    network = _network(args)
    if args.inject_fault is not None and args.tile is None:
        raise ValueError("--inject-fault needs --tile (the self-test configures one tile wrongly)")
    if args.tile is None and network is not None:
        from neurophase.model.mapper import map_network
        from neurophase.tb.chip_networks import check_one_chip
        check_one_chip(map_network(network, ChipConfig().geometry, strict=False), args.network)
    if args.tile is not None:
        check_tile(args.tile, network, "--tile")
    args.images = check_count("--images", args.images, max_images(network))
    require_extra("cocotb", "cocotb_tools")
    check_simulator(args.sim)


def run(args):
    encoding = InputEncoding.parse(args.encoding)
    network = _network(args)
    if args.tile is None:
        from neurophase.tb.chip_networks import DIGITS_SPEC
        from neurophase.tb.chip_sim import run_chip_sim
        given = lambda path: None if path is None else str(path)
        spec = DIGITS_SPEC if network is None else {"kind": "file", "path": str(args.network),
                                                    "calib": given(args.calib), "data": given(args.data)}
        report = run_chip_sim(sim=args.sim, images=args.images, t=args.time, seed=args.seed, encoding=encoding,
                              waves=args.waves, report_dir=args.report_dir, network=spec)
        return 0 if report["mismatches"] == 0 and "error" not in report else 1
    from neurophase.tb.tile_sim import run_tile_sim
    report = run_tile_sim(args.tile, sim=args.sim, images=args.images, t=args.time, seed=args.seed, encoding=encoding,
                          waves=args.waves, report_dir=args.report_dir, fault_offset=args.inject_fault,
                          network=network)
    return 0 if report["mismatches"] == 0 and "error" not in report else 1
