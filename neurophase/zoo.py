"""Write a network of the zoo as an ONNX file with its calibration images: `neurophase zoo resnet50`.

resnet50: ResNet-50 in torchvision's layout, He-initialised from --seed, BN statistics from 12 crops of scikit-learn's
two sample photographs (model/zoo/resnet50.py says how); about 100 MB, built in seconds. Its accuracy means nothing
(untrained). Beside it, the same crops as a calibration file for `neurophase import NET.onnx --calib CALIB.npz`.

bottleneck: ResNet-50's first bottleneck block (layer1.0, the weights and BN statistics of resnet50 with the same
--seed) on a 4 x 4 patch of its input, with the patches of the 12 photographs' max-pool outputs as calibration inputs
and the first two as a test set (labels 0: the block has no classes), for `make sim NETWORK=... CALIB=...`.

digits: the shipped digits CNN exported from its weights (model/zoo/digits.py), with its calibration inputs and test
set: what model/data ships (digits_cnn.onnx, digits_calib.npz, digits_test.npz), written like the others to
build/networks/ (a developer regenerating the shipped files gives ``--out model/data/digits_cnn.onnx``).
"""

import time

from neurophase.options import build_root, check_output_folder, integer, output_file

NETWORKS = ("resnet50", "bottleneck", "digits")


def add_arguments(p):
    p.add_argument("network", choices=NETWORKS, help="the network to write")
    p.add_argument("--out", type=output_file(), default=None,
                   help="ONNX file (default build/networks/NETWORK.onnx, or under $NEUROPHASE_BUILD)")
    p.add_argument("--calib-out", type=output_file(), default=None,
                   help="calibration images file (default: beside the ONNX file, NETWORK_calib.npz)")
    p.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="weight initialisation seed (default 0)")


def _default_out(args):
    name = "digits_cnn" if args.network == "digits" else args.network
    return build_root() / "networks" / f"{name}.onnx"


def check(args):
    """The folder of the default ONNX file can be written (a given --out is checked by its type)."""
    if args.out is None:
        check_output_folder("--out", _default_out(args).parent)


def run(args):
    import numpy as np
    import onnx

    if args.network == "digits":
        from neurophase.model.zoo.digits import CALIB_PATH, TEST_PATH, write_digits_files
        out = args.out or _default_out(args)
        paths = write_digits_files(out, args.calib_out or out.with_name(CALIB_PATH.name), out.with_name(TEST_PATH.name))
        print("wrote " + ", ".join(str(p) for p in paths))
        return 0

    from neurophase.model.zoo.calibration import photo_calibration_inputs, save_calibration_inputs
    from neurophase.model.zoo.resnet50 import build_bottleneck, build_resnet50
    out = args.out or _default_out(args)
    calib_out = args.calib_out or out.with_name(f"{out.stem}_calib.npz")
    t0 = time.time()
    images = photo_calibration_inputs()
    if args.network == "bottleneck":
        model, images = build_bottleneck(images, seed=args.seed)
        test_out = out.with_name(f"{out.stem}_test.npz")
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(test_out, x=images[:2], y=np.zeros(2, np.int64))
        print(f"wrote {test_out}")
    else:
        model = build_resnet50(images, seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, out)
    save_calibration_inputs(calib_out, images)
    print(f"{args.network}: {len(model.graph.node)} nodes, seed {args.seed}, BN statistics from {len(images)} "
          f"calibration images; {time.time() - t0:.1f} s")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {calib_out}")
    return 0
