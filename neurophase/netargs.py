"""The ``--network`` arguments every command takes, and the network they name (model/network_file.py)."""

from pathlib import Path


def add_network_arguments(p, data=True):
    p.add_argument("--network", default="digits",
                   help="the network: 'digits' (the shipped digits CNN, default), a network file written by "
                        "`neurophase import` (.npz) or an ONNX file (.onnx, with --calib)")
    p.add_argument("--calib", type=Path, default=None,
                   help="calibration inputs (.npz, array 'x') of an ONNX --network")
    if data:
        p.add_argument("--data", type=Path, default=None,
                       help="test set (.npz with 'x' and 'y') replacing the network's own")


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


def fp32_forward(args, net, x):
    """FP32 outputs of inputs ``x``: the float network itself; for the digits CNN, its FP32-trained weights (the
    ones stored beside the quantisation-aware ones), as its training reports."""
    if is_digits(args):
        from neurophase.model.lowering import lower
        from neurophase.model.network import digits_graph, fp32_params, load_weights
        params, _ = load_weights() if getattr(args, "weights", None) is None else load_weights(args.weights)
        return lower(digits_graph(fp32_params(params), scales=False)).forward(x)
    return net.network.forward(x)
