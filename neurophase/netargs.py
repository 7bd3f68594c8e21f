"""The ``--network`` arguments every command takes, and the network they name (model/network_file.py).

Checked through the CLI's one error path (neurophase/options.py): ``--network`` by its type (``digits``, or an
existing .npz or .onnx file), ``--calib`` and ``--data`` as readable files, and :func:`check_network` (called from a
command's ``check(args)``) pairs an ONNX file with its calibration inputs and opens the network before any work, so a
file that is not a network fails in one line before the command writes anything.
"""

import argparse

from neurophase.options import check_count, check_input_file, input_file

_KINDS = {".npz": "network file (.npz from `neurophase import`)", ".onnx": "ONNX file (.onnx)"}


def network_spec(text):
    """An argparse type: ``digits``, or an existing network file (.npz) or ONNX file (.onnx); kept as a string."""
    from neurophase.model.network_file import DIGITS
    if text == DIGITS:
        return text
    kind = next((k for suffix, k in _KINDS.items() if text.endswith(suffix)), None)
    if kind is None:
        raise argparse.ArgumentTypeError(f"must be '{DIGITS}', a {_KINDS['.npz']} or an {_KINDS['.onnx']}, "
                                         f"got {text!r}")
    try:
        return str(check_input_file("", text, kind))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(" ")) from None


def add_network_arguments(p, data=True):
    p.add_argument("--network", type=network_spec, default="digits",
                   help="the network: 'digits' (the shipped digits CNN, default), a network file written by "
                        "`neurophase import` (.npz) or an ONNX file (.onnx, with --calib)")
    p.add_argument("--calib", type=input_file("calibration file (.npz)"), default=None,
                   help="calibration inputs (.npz, array 'x') of an ONNX --network")
    if data:
        p.add_argument("--data", type=input_file("test set (.npz with 'x' and 'y')"), default=None,
                       help="test set (.npz with 'x' and 'y') replacing the network's own")


def check_network(args):
    """Before any work: an ONNX --network has --calib and only it does; the network opens (kept in memory for run)."""
    onnx = str(args.network).endswith(".onnx")
    if onnx and args.calib is None:
        raise ValueError(f"--network {args.network}: an ONNX network needs --calib CALIB.npz (calibration inputs)")
    if not onnx and args.calib is not None:
        raise ValueError(f"--calib is for an ONNX --network (calibration inputs), got --network {args.network}")
    network_from(args)


def network_from(args):
    """The QuantNetwork that ``args`` name."""
    from neurophase.model.network_file import open_network
    return open_network(args.network, args.calib, getattr(args, "data", None))


def is_digits(args):
    from neurophase.model.network_file import DIGITS
    return str(args.network) == DIGITS


def test_set(net):
    """The network's labelled test set; an error naming the way to give one when it has none."""
    if net.test is None:
        raise ValueError(f"network {net.name!r} has no test set: give one with --data TEST.npz ('x' inputs, 'y' "
                         f"labels)")
    return net.test


def check_images(images, net, calibration=False):
    """``--images`` (a :func:`~neurophase.options.count_or_all` value) against ``net``'s test set, which must exist
    unless ``calibration`` allows its calibration inputs instead; returns the count (``all`` resolved)."""
    if calibration and net.test is None:
        return check_count("--images", images, len(net.calibration), "calibration inputs")
    return check_count("--images", images, len(test_set(net)), "test inputs")


def fp32_forward(args, net, x):
    """FP32 outputs of inputs ``x``: the float network itself; for the digits CNN, its FP32-trained weights (the
    ones stored beside the quantisation-aware ones), as its training reports."""
    if is_digits(args):
        from neurophase.model.lowering import lower
        from neurophase.model.network import digits_graph, fp32_params, load_weights
        params, _ = load_weights() if getattr(args, "weights", None) is None else load_weights(args.weights)
        return lower(digits_graph(fp32_params(params), scales=False)).forward(x)
    return net.network.forward(x)
