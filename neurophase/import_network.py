"""Import an ONNX network: quantise it to 8 bits on calibration inputs and write a network file for the other commands.

Reads NET.onnx with the onnx package (model/onnx_import.py: the supported operations, and an error naming the node,
its op type and the attribute for anything else), lowers it to chip layers and host steps, quantises it
(model/quantise.py: the network's own activation scales where it brings them, calibration on CALIB.npz elsewhere),
maps it onto the chip (several chips when it needs more than 144 tiles), programs a chip (seed --seed, every
non-ideality on, ADC full scales calibrated per reduction group) and runs the first --images calibration inputs on
it at t = 0 to report, per layer, how many ADC conversions saturate. Writes the network file (default
build/networks/NAME.npz, or under $NEUROPHASE_BUILD; give it to map, infer, drift-study, energy, sim with --network)
and a JSON report.
"""

import json
import time

from neurophase.model.interface import InputEncoding
from neurophase.options import (build_root, check_count, check_output_folder, count_or_all, input_file, integer,
                                output_file)

SATURATION_INPUTS = 16      # default calibration inputs of the saturation run


def add_arguments(p):
    p.add_argument("onnx", type=input_file("ONNX file (.onnx)"), help="the ONNX file")
    p.add_argument("--calib", type=input_file("calibration file (.npz)"), required=True,
                   help="calibration inputs (.npz: array 'x', or its only array), in the network's input layout")
    p.add_argument("--data", type=input_file("test set (.npz with 'x' and 'y')"), default=None,
                   help="a labelled test set to keep with the network (.npz with 'x' and 'y')")
    p.add_argument("--out", type=output_file(), default=None,
                   help="network file (default build/networks/NAME.npz, or under $NEUROPHASE_BUILD)")
    p.add_argument("--images", type=count_or_all(what="calibration inputs"), default=None,
                   help=f"calibration inputs run on the programmed chip for the saturation report, a count or 'all' "
                        f"(default {SATURATION_INPUTS}, or all of them when there are fewer)")
    p.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="chip seed of the saturation run (default 0)")
    p.add_argument("--encoding", choices=[e.label for e in InputEncoding], default=InputEncoding.BIT_SERIAL.label,
                   help="input encoding of every tile (default bit-serial)")
    p.add_argument("--report", type=output_file(), default=None,
                   help="JSON report (default build/reports/import_NAME.json, or under $NEUROPHASE_BUILD)")


def check(args):
    """Before the import: the calibration and test files hold what they must, --images fits the calibration inputs,
    and the default output folders can be written."""
    from neurophase.model.network_file import load_inputs, load_labelled
    count = len(load_inputs(args.calib))
    args.images = check_count("--images", args.images, count, "calibration inputs") or min(SATURATION_INPUTS, count)
    if args.data is not None:
        load_labelled(args.data)
    if args.out is None:
        check_output_folder("--out", build_root() / "networks")
    if args.report is None:
        check_output_folder("--report", build_root() / "reports")


def calibration_report(net, chip, images, counts):
    """The per-layer report: quantisation, mapping, ADC full scale and saturation, as a dict."""
    layers = []
    for ql, (name, fan_in, fan_out, mvms) in zip(net.layers, net.layer_shapes()):
        tiles = chip.mapping.layer_tiles(name)
        c = counts[name]
        layers.append({"name": name, "kind": ql.layer.kind, "fan_in": fan_in, "fan_out": fan_out, "mvms": mvms,
                       "tiles": len(tiles), "row_blocks": 1 + max(t.row_block for t in tiles),
                       "col_blocks": 1 + max(t.col_block for t in tiles), "relu": ql.relu, "signed_out": ql.last,
                       "s_in": ql.s_in, "s_out": ql.s_out,
                       "i_fs_A": sorted({chip.i_fs[t.tile] for t in tiles}),
                       "conversions": c.conversions, "saturated_low": c.low, "saturated_high": c.high,
                       "saturated_fraction": c.fraction})
    m = chip.mapping
    return {"network": net.name, "input_shape": list(net.input_shape), "calibration_inputs": len(net.calibration),
            "test_inputs": 0 if net.test is None else len(net.test), "layers": layers,
            "residual_adds": len(net.adds), "tiles": m.tiles_needed, "chips": m.chips, "fits_one_chip": m.fits,
            "saturation_run": {"inputs": images, "t_s": 0.0, "chip_seed": chip.seed,
                               "encoding": chip.config.encoding.label}}


def format_report(r):
    lines = [f"{'layer':<24}{'fan-in':>7}{'out':>6}{'MVMs':>7}{'tiles':>6}  {'ADC full scale':<16}"
             f"{'conversions':>13}{'saturated':>11}"]
    for l in r["layers"]:
        fs = "/".join(f"{1e6 * i:.2f}" for i in l["i_fs_A"][:2]) + (" ..." if len(l["i_fs_A"]) > 2 else "") + " uA"
        lines.append(f"{l['name'][:23]:<24}{l['fan_in']:>7}{l['fan_out']:>6}{l['mvms']:>7}{l['tiles']:>6}  "
                     f"{fs:<16}{l['conversions']:>13,}{100 * l['saturated_fraction']:>10.3f}%")
    total = sum(l["conversions"] for l in r["layers"])
    sat = sum(l["saturated_low"] + l["saturated_high"] for l in r["layers"])
    lines.append(f"all layers: {sat:,} of {total:,} conversions at an ADC rail ({100 * sat / max(total, 1):.3f}%), "
                 f"{r['saturation_run']['inputs']} calibration input(s) at t = 0, chip seed "
                 f"{r['saturation_run']['chip_seed']}, {r['saturation_run']['encoding']} inputs")
    return "\n".join(lines)


def run(args):
    from neurophase.model.chip import Chip, ChipConfig
    from neurophase.model.network_file import import_network, save_network
    t0 = time.time()
    net = import_network(args.onnx, args.calib, args.data)
    images = args.images
    out = args.out or build_root() / "networks" / f"{net.name}.npz"
    print(f"{net.name}: {len(net.layers)} chip layers, {len(net.adds)} residual adds, input {net.input_shape}, "
          f"{len(net.calibration)} calibration inputs; imported and quantised in {time.time() - t0:.1f} s")
    config = ChipConfig(encoding=InputEncoding.parse(args.encoding), chunk=min(ChipConfig().chunk, images))
    chip = Chip.program(net, seed=args.seed, config=config)
    print(chip.mapping.summary())
    counts = {}
    chip.run(net.calibration[:images], 0.0, args.seed, adc_counts=counts)
    report = calibration_report(net, chip, images, counts)
    print(format_report(report))
    save_network(net, out)
    report_path = args.report or build_root() / "reports" / f"import_{net.name}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {out} and {report_path} ({time.time() - t0:.1f} s)")
    return 0
