"""Networks on disk and by name: the file `neurophase import` writes, data files, and the ``--network`` argument.

Ref: docs/architecture.md D9. A network file (.npz) holds a quantised network (model/quantise.py ``QuantNetwork``):
its steps with their float weights, every tensor's codes (scale and zero point), its calibration inputs and its
test set; loading re-derives the integer layers from them exactly (the same functions on the same numbers), so no
ONNX is needed after the import. Data files are .npz too: calibration inputs under ``x`` (or as the file's only
array), a test set under ``x`` and ``y`` (integer labels), inputs in the network's ONNX layout (N, C, H, W) or (N, F).

:func:`open_network` resolves what the commands take: ``digits`` (the shipped digits CNN, the default), a network
file, or an ONNX file with calibration inputs (imported on the spot).
"""

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from neurophase.model.arith import PeripheryFormat
from neurophase.model.graph import ActivationScale, Window
from neurophase.model.layers import (Flatten, FloatNetwork, GlobalPool, HostRelu, MatrixLayer, Pool, PoolKind,
                                     ResidualAdd)
from neurophase.model.npz import read_npz
from neurophase.model.quantise import LabelledSet, quantise

__all__ = ["save_network", "load_network", "load_inputs", "load_labelled", "import_network", "open_network",
           "DIGITS"]

DIGITS = "digits"
_FORMAT = 1
_STEPS = {cls.__name__: cls for cls in (MatrixLayer, Pool, GlobalPool, ResidualAdd, HostRelu, Flatten)}
_ARRAYS = ("weight", "gain", "offset")


def _step_record(step):
    rec = {"type": type(step).__name__}
    for k, v in vars(step).items():
        if k in _ARRAYS:
            continue
        if isinstance(v, Window):
            v = {"kernel": v.kernel, "stride": v.stride, "pads": v.pads}
        elif isinstance(v, PoolKind):
            v = v.value
        rec[k] = v
    return rec


def _step_from(rec, arrays):
    rec = dict(rec)
    cls = _STEPS[rec.pop("type")]
    if rec.get("window") is not None:
        rec["window"] = Window(**{k: tuple(v) for k, v in rec["window"].items()})
    if "kind" in rec:
        rec["kind"] = PoolKind(rec["kind"])
    if "srcs" in rec:
        rec["srcs"] = tuple(rec["srcs"])
    return cls(**rec, **arrays)


def save_network(qnet, target):
    """Write ``qnet`` to ``target`` (a path or a binary file)."""
    net = qnet.network
    arrays = {"calibration": qnet.calibration}
    steps = []
    for i, step in enumerate(net.steps):
        steps.append(_step_record(step))
        arrays.update({f"step{i}.{k}": getattr(step, k) for k in _ARRAYS if hasattr(step, k)})
    if qnet.test is not None:
        arrays["test_x"], arrays["test_y"] = qnet.test.x, qnet.test.y
    if net.output_order is not None:
        arrays["output_order"] = net.output_order
    meta = {"format": _FORMAT, "name": net.name, "input": net.input, "input_shape": list(net.input_shape),
            "output": net.output, "steps": steps, "fmt": asdict(qnet.fmt),
            "scales": {t: [c.scale, c.zero_point] for t, c in qnet.specs.items()}}
    if isinstance(target, (str, Path)):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, meta=np.array(json.dumps(meta)), **arrays)
    return target


def load_network(source):
    """A network written by :func:`save_network` (a path or a binary file)."""
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise ValueError(f"network file {source} does not exist")
    with np.load(source) as f:
        if "meta" not in f.files:
            raise ValueError(f"{source} is not a network file written by `neurophase import`")
        meta = json.loads(str(f["meta"]))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"network file format must be {_FORMAT}, got {meta.get('format')}")
        steps = tuple(_step_from(rec, {k: f[f"step{i}.{k}"] for k in _ARRAYS if f"step{i}.{k}" in f.files})
                      for i, rec in enumerate(meta["steps"]))
        net = FloatNetwork(meta["name"], meta["input"], tuple(meta["input_shape"]), steps, meta["output"],
                           f["output_order"] if "output_order" in f.files else None)
        test = LabelledSet(f["test_x"], f["test_y"]) if "test_x" in f.files else None
        given = {t: ActivationScale(s, z) for t, (s, z) in meta["scales"].items()}
        return quantise(net, f["calibration"], given, test, PeripheryFormat(**meta["fmt"]))


def _arrays(path, what):
    return read_npz(path, f"{what} file", "give an .npz of arrays, as model/data/README.md describes")


def load_inputs(path):
    """Calibration inputs from an .npz: its array ``x``, or its only array."""
    arrays = _arrays(path, "calibration")
    if "x" in arrays:
        return arrays["x"]
    if len(arrays) != 1:
        raise ValueError(f"calibration file {path} must hold an array 'x' or exactly one array, got {sorted(arrays)}")
    return next(iter(arrays.values()))


def load_labelled(path):
    """A labelled set from an .npz with arrays ``x`` (inputs) and ``y`` (integer labels)."""
    arrays = _arrays(path, "data")
    if "x" not in arrays or "y" not in arrays:
        raise ValueError(f"data file {path} must hold arrays 'x' (inputs) and 'y' (labels), got {sorted(arrays)}")
    return LabelledSet(arrays["x"], np.asarray(arrays["y"]).astype(np.int64))


def import_network(onnx_path, calibration, test=None):
    """Import an ONNX file and quantise it with ``calibration`` inputs (an array, or an .npz path); ``test``: a
    LabelledSet or an .npz path. Returns the QuantNetwork (model/onnx_import.py, model/lowering.py,
    model/quantise.py)."""
    from neurophase.model.lowering import lower
    from neurophase.model.onnx_import import import_onnx
    graph = import_onnx(onnx_path)
    calibration = load_inputs(calibration) if isinstance(calibration, (str, Path)) else np.asarray(calibration)
    test = load_labelled(test) if isinstance(test, (str, Path)) else test
    return quantise(lower(graph), calibration, graph.scales, test)


_OPEN = {}


def open_network(spec=DIGITS, calib=None, data=None):
    """The network a command names: ``digits`` (the shipped digits CNN), a network file (.npz from `neurophase
    import`) or an ONNX file (needs ``calib``, an .npz of calibration inputs). ``data`` (an .npz with ``x`` and ``y``)
    replaces its test set. Kept in memory per arguments."""
    key = (str(spec), None if calib is None else str(calib), None if data is None else str(data))
    if key not in _OPEN:
        spec = str(spec)
        if spec == DIGITS:
            from neurophase.model.network import digits_network
            net = digits_network()
        elif spec.endswith(".onnx"):
            if calib is None:
                raise ValueError(f"an ONNX network ({spec}) needs --calib CALIB.npz (calibration inputs)")
            net = import_network(spec, calib)
        elif spec.endswith(".npz"):
            net = load_network(spec)
        else:
            raise ValueError(f"network must be '{DIGITS}', a network file (.npz from `neurophase import`) or an ONNX "
                             f"file (.onnx), got {spec!r}")
        if data is not None:
            net = dataclasses.replace(net, test=load_labelled(data))
        _OPEN[key] = net
    return _OPEN[key]
