"""Which programmed chip a whole-chip testbench runs, named so that the simulator process rebuilds the same one; and
the event counts the analytic model expects of its run.

Ref: docs/architecture.md D7, D9, D16. A network spec is a dict (mirrored into the simulation as a parameter):

* ``{"kind": "digits"}``: the shipped digits CNN (model/chip.py ``reference_chip``);
* ``{"kind": "file", "path": ..., "calib": ..., "data": ...}``: a network file from `neurophase import` (.npz) or an
  ONNX file with its calibration inputs, and optionally another test set, on full-size tiles (one chip);
* ``{"kind": "random", "seed": s, "chip": {RegressionChip fields}}``: model/random_network.py's network of seed s
  on the regression chip's reduced tiles.
"""

from neurophase.model.checks import check_int

__all__ = ["DIGITS_SPEC", "chip_for", "check_one_chip", "layer_encoding", "network_inputs", "expected_layer_events",
           "bottleneck_spec"]

DIGITS_SPEC = {"kind": "digits"}


def chip_for(spec, chip_seed=0, config=None):
    """The programmed chip (model/chip.py ``Chip``) a network ``spec`` names (chip seed ``chip_seed``; a random
    network uses its own seed). ``config``: the ``ChipConfig`` (its input encodings) of the digits CNN or of a network
    file, default ``ChipConfig()``; a random network's chip is the regression chip's."""
    from neurophase.model.chip import ChipConfig
    kind = spec.get("kind")
    if kind == "random":
        if config not in (None, ChipConfig()):
            raise ValueError("a random network runs on the regression chip's configuration; config must be None")
        from neurophase.model.random_network import RegressionChip, random_chip
        return random_chip(check_int("seed", spec["seed"], 0, 2 ** 32 - 1), RegressionChip(**spec.get("chip", {})))
    config = ChipConfig() if config is None else config
    if kind == "digits":
        from neurophase.model.chip import reference_chip
        return reference_chip(chip_seed, config)
    if kind == "file":
        from neurophase.model.chip import Chip
        from neurophase.model.network_file import open_network
        chip = Chip.program(open_network(spec["path"], spec.get("calib"), spec.get("data")), seed=chip_seed,
                            config=config)
        check_one_chip(chip.mapping, spec["path"])
        return chip
    raise ValueError(f"network spec kind must be one of ['digits', 'file', 'random'], got {kind!r}")


def check_one_chip(mapping, name):
    """The whole-chip testbench runs one chip: ``mapping`` (model/mapper.py, of the network file ``name``) must fit."""
    if mapping.chips != 1:
        raise ValueError(f"the whole-chip RTL testbench runs a network on one chip; {name} needs {mapping.chips} chips "
                         f"of {mapping.geometry.tiles} tiles")


def layer_encoding(chip, layer):
    """The one input encoding of ``layer``'s tiles (its event counts are per encoding)."""
    (encoding,) = {chip.encoding(a.tile) for a in chip.mapping.layer_tiles(layer)}
    return encoding


def network_inputs(chip, images):
    """The first ``images`` inputs of the chip's network's test set (a LabelledSet)."""
    test = chip.network.test
    if test is None:
        raise ValueError(f"network {chip.network.name!r} has no test set")
    return test.first(check_int("images", images, 1, len(test)))


def expected_layer_events(chip, x, t, seed):
    """The golden model's run of inputs ``x`` at ``t`` with read-noise ``seed`` (model/chip.py ``Chip.run``): its
    outputs, and per layer model/events.py ``count_events`` of the run, chunk by chunk as the host compiles it, in the
    layer's input encoding: every count from the mapping and the activations the run gives each layer, the cycles from
    ``CycleModel`` (what the chip's counters must show, layer by layer). One run serves both."""
    from neurophase.model.activity import measured_activity, traced_layer_inputs
    from neurophase.model.events import EventCounts, count_events
    outputs, trace = chip.run(x, t, seed, record=True)
    fmt, chunk, n = chip.config.fmt, chip.config.chunk, len(x)

    def chunk_events(w, c0, k):
        inputs = traced_layer_inputs(trace, chip.mapping, w.name, slice(c0 * w.mvms, (c0 + k) * w.mvms))
        return count_events(w, activity=measured_activity(inputs, fmt.b_in), encoding=layer_encoding(chip, w.name),
                            fmt=fmt, images=k)

    chunks = [(c0, min(chunk, n - c0)) for c0 in range(0, n, chunk)]
    return outputs, {w.name: sum((chunk_events(w, c0, k) for c0, k in chunks), EventCounts()) for w in chip.works()}


def bottleneck_spec(folder, inputs=2):
    """Write ResNet-50's layer1.0 bottleneck block (model/zoo/resnet50.py ``build_bottleneck``: its weights and BN
    statistics from the photo calibration inputs, a 4 x 4 patch of its real input, 16 output positions) with its
    calibration inputs and a test file of its first ``inputs`` into ``folder``; return the network file spec. On
    full-size tiles it takes 8 (a 3-tile reduction group, two 2-column-block layers whose outputs feed the residual
    add on the host, D7)."""
    from pathlib import Path

    import numpy as np
    import onnx

    from neurophase.model.zoo.calibration import photo_calibration_inputs
    from neurophase.model.zoo.resnet50 import build_bottleneck
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model, x = build_bottleneck(photo_calibration_inputs())
    inputs = check_int("inputs", inputs, 1, len(x))
    onnx.save_model(model, str(folder / "block.onnx"))
    np.savez(folder / "calib.npz", x=x)
    np.savez(folder / "test.npz", x=x[:inputs], y=np.zeros(inputs, np.int64))
    return {"kind": "file", "path": str(folder / "block.onnx"), "calib": str(folder / "calib.npz"),
            "data": str(folder / "test.npz")}
