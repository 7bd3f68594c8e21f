"""Simulate the chip, or one of its tiles, running the reference network, checked bit for bit (`make sim`).

Without --tile: whole-chip inference of the first IMAGES test images through the chip RTL (tb/chip_sim.py; every
layer's outputs and the logits compared with the golden model, build/reports/chip.json). With --tile N: runs tile
N's MVMs for the first IMAGES test images through the full-size tile RTL (256 rows x 128 columns) under
Icarus Verilog or Verilator, with the crossbar stand-in driving the golden model's read currents (programming
noise, drift to --time seconds after programming, read noise; seeded by --seed), compares every output with the
golden model and writes build/reports/sim_tile<N>.json. --encoding pwm makes every tile read by pulse-width
modulation (docs/architecture.md D8) instead of bit-serially. Exit status 0 only when there are no mismatches.
``--network`` (a file from `neurophase import`, or an ONNX file with --calib) runs that network on full-size tiles:
the whole chip (one chip's worth of tiles), or one of its tiles (``--tile``, numbered over all the chips it needs).
"""

from pathlib import Path


def _images(text):
    from neurophase.model.chip import max_images
    return max_images() if text == "all" else int(text)


def add_arguments(p):
    from neurophase.netargs import add_network_arguments
    add_network_arguments(p)
    p.add_argument("--tile", type=int, default=None,
                   help="tile number (the mapped tiles have work); without it the whole chip runs the network")
    p.add_argument("--sim", default="icarus", help="icarus (default) or verilator")
    p.add_argument("--images", type=_images, default=2,
                   help="test images simulated, a count or 'all' (the 360 held-out images; default 2)")
    p.add_argument("--time", type=float, default=3600.0,
                   help="seconds after programming (drift and read noise; default 3600)")
    p.add_argument("--seed", type=int, default=0, help="read-noise seed of the run (default 0)")
    p.add_argument("--encoding", default="bit-serial",
                   help="input encoding of every tile: bit-serial (default) or pwm (selected by each tile's MODE)")
    p.add_argument("--waves", action="store_true", help="write a waveform file (FST for Icarus, VCD for Verilator)")
    p.add_argument("--report-dir", type=Path, default=None, help="folder of the JSON report (default build/reports)")
    p.add_argument("--inject-fault", type=int, default=None, metavar="N",
                   help="self-test of the checker: configure the RTL wrongly on purpose (channel 0's BN bias moved by "
                        "N output steps; a raw partial-sum tile gets BN outputs instead); the run must then report "
                        "mismatches and exit 1")


def run(args):
    from neurophase.model.interface import InputEncoding
    from neurophase.netargs import is_digits, network_from
    from neurophase.tb.tile_sim import run_tile_sim
    from neurophase.tb.toolchain import check_simulator
    check_simulator(args.sim)
    encoding = InputEncoding.parse(args.encoding)
    network = None if is_digits(args) else network_from(args)
    if args.tile is None:
        from neurophase.tb.chip_networks import DIGITS_SPEC
        from neurophase.tb.chip_sim import run_chip_sim
        given = lambda path: None if path is None else str(path)
        spec = DIGITS_SPEC if network is None else {"kind": "file", "path": str(args.network),
                                                    "calib": given(args.calib), "data": given(args.data)}
        report = run_chip_sim(sim=args.sim, images=args.images, t=args.time, seed=args.seed, encoding=encoding,
                              waves=args.waves, report_dir=args.report_dir, network=spec)
        return 0 if report["mismatches"] == 0 and "error" not in report else 1
    report = run_tile_sim(args.tile, sim=args.sim, images=args.images, t=args.time, seed=args.seed, encoding=encoding,
                          waves=args.waves, report_dir=args.report_dir, fault_offset=args.inject_fault,
                          network=network)
    return 0 if report["mismatches"] == 0 and "error" not in report else 1
