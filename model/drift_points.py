"""The work of the drift study's tasks: programmed chips, reprogramming selections, and the accuracy of every remedy
that sees the same devices at one time, computed together.

Ref: docs/architecture.md D6 (the remedies), D10 (the study engine and what a task shares); model/drift_study.py (the
study: its points and tasks), model/drift.py (the remedies), model/chip_pass.py (layer by layer).

A :class:`Remedy` says what a method does at time t: which weights the chip holds (plain or drift-aware), whether the
selected weights are reprogrammed, and which BN registers classify (as programmed, recalibrated, or scaled by global
drift compensation). Methods with the same weights and reprogramming see the same devices, a *device state*; within
one they differ only in their registers. So a task is one chip seed, one time and one device state
(:func:`measure_state`), and it shares

* the programmed chip and its reference (:func:`prepare_chip`, a shared input of every task of that chip seed);
* the drifted conductance matrices at t (each tile's cache, computed once for the state);
* the first layer's accumulators on the test images: the first layer's inputs are the images' codes, the same for
  every register set, so :class:`~neurophase.model.chip_pass.LayerPass` measures them once and forks.

A point's accuracy equals, bit for bit, what ``Chip.run`` gives on a copy of the chip put through the remedy with the
model's functions (``reprogram_selected``, ``recalibrate_bn``, ``compensate_global_drift``) and the same seeds.
"""

import json
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import numpy as np

from neurophase.model.chip import Chip, ChipConfig
from neurophase.model.chip_pass import LayerPass, working_copy
from neurophase.model.drift import (DriftReference, compensate_global_drift, conductance_fisher, fisher_diagonal,
                                    recalibrate_bn, record_reference, reprogram_selected, select_sensitive)

__all__ = ["DIGITS", "NETWORK_METHODS", "Registers", "Remedy", "PreparedChip", "network_of", "held_out", "prepare_chip",
           "selection", "measure_state", "measure_fixed"]

DIGITS = "digits"       # the shipped digits CNN (model/network_file.py DIGITS), with its drift-aware weights


class Registers(Enum):
    """The BN registers that classify at time t."""
    PROGRAMMED = "programmed"           # as written at programming (no register remedy)
    RECALIBRATED = "recalibrated"       # BN recalibration at t (model.drift.recalibrate_bn)
    GLOBAL_DRIFT = "global drift"       # global drift compensation at t (model.drift.compensate_global_drift)


@dataclass(frozen=True)
class Remedy:
    """What a method does: ``drift_aware`` weights; ``reprogram`` the selected weights at t (before any register
    remedy); which ``registers`` classify."""
    drift_aware: bool = False
    reprogram: bool = False
    registers: Registers = Registers.PROGRAMMED

    @property
    def weights(self):
        return "drift-aware" if self.drift_aware else "plain"


@dataclass
class PreparedChip:
    """A chip programmed with one seed and its reference recorded at t = 0 (model.drift.record_reference).
    Shared by many tasks, so never changed: :func:`measure_state` works on private copies."""
    chip: Chip
    reference: DriftReference


def network_of(network, calib, kind):
    """What the study programs: for the digits CNN (``network`` :data:`DIGITS`), its parameters of ``kind`` "plain"
    or "drift-aware"; else the QuantNetwork of ``network`` (a network file or an ONNX file with calibration inputs
    ``calib``, model/network_file.py ``open_network``), whose only kind is "plain"."""
    from neurophase.model.network_file import open_network
    if network == DIGITS:
        from neurophase.model.drift_training import DRIFT_WEIGHTS_PATH
        from neurophase.model.network import WEIGHTS_PATH, load_weights
        return load_weights(DRIFT_WEIGHTS_PATH if kind == "drift-aware" else WEIGHTS_PATH)[0]
    if kind != "plain":
        raise ValueError(f"network {network} has plain weights only (drift-aware weights are the digits CNN's), "
                         f"got {kind!r}")
    return open_network(network, calib)


@lru_cache(maxsize=8)
def held_out(network, calib, n):
    """The first ``n`` test inputs and labels of ``network`` (None: all), read-only (kept per worker process)."""
    from neurophase.model.network_file import open_network
    test = open_network(network, calib).test
    if test is None:
        raise ValueError(f"network {network} has no test set (import it with --data TEST.npz)")
    test = test if n is None else test.first(n)
    x, y = test.x.view(), test.y.view()     # views: the network's own arrays stay writable
    for a in (x, y):
        a.setflags(write=False)
    return x, y


def prepare_chip(network, calib, kind, seed, encoding):
    """``network``'s ``kind`` weights (:func:`network_of`) programmed with chip seed ``seed``, every tile in
    ``encoding``, tiles on one thread (so read-noise draws do not depend on the machine), and the reference recorded
    right after programming."""
    chip = Chip.program(network_of(network, calib, kind), seed=seed, config=ChipConfig(encoding=encoding))
    chip.workers = 1                # a study task runs on one core: the engine runs tasks side by side
    for tile in chip.tiles.values():
        tile.threads = 1
    return PreparedChip(chip, record_reference(chip))


def selection(network, kind, budget):
    """The weights selective reprogramming rewrites: the top ``budget`` of the diagonal Fisher information of the
    digits CNN's ``kind`` 8-bit network in conductance units, estimated on every training image (model.drift)."""
    from neurophase.model.network import load_split, quant_layers
    if network != DIGITS:
        raise ValueError(f"selective reprogramming needs the digits CNN's training code, got network {network}")
    params = network_of(network, None, kind)
    x_tr, _, _, _ = load_split()
    return select_sensitive(conductance_fisher(quant_layers(params), fisher_diagonal(params, x_tr)), budget)


def measure_state(prepared, selected, points, remedies):
    """Rows of ``points`` (dicts with chip_seed, t_s, read_seed, test_images; the same for all) measured with
    ``remedies`` (one :class:`Remedy` per point, all of one device state) on the ``prepared`` chip; ``selected``: the
    weights to reprogram when the state reprograms. Each row: the point, the accuracy and number of correct test
    images, the devices rewritten (reprogramming) and the alphas of global drift compensation (JSON, by first tile of
    each reduction group)."""
    first, reprogram = points[0], remedies[0].reprogram
    t, seed = float(first["t_s"]), int(first["read_seed"])
    chip = working_copy(prepared.chip, devices=reprogram)
    rewritten = reprogram_selected(chip, selected, t, seed=seed) if reprogram else None
    registers, alphas = {}, None
    for remedy in remedies:
        kind = remedy.registers
        if kind in registers:
            continue
        if kind is Registers.RECALIBRATED:
            registers[kind] = dict(recalibrate_bn(chip, t, prepared.reference))
        elif kind is Registers.GLOBAL_DRIFT:
            chip.registers = dict(prepared.reference.registers)
            alphas = compensate_global_drift(chip, t, prepared.reference)
            registers[kind] = dict(chip.registers)
        else:
            registers[kind] = dict(prepared.reference.registers)
    x, y = held_out(first["network"], first["calib"], first["test_images"])
    fresh = LayerPass(chip, x, t, seed)
    first_layer = fresh.accumulators()      # the images' codes are every register set's first inputs
    rows = []
    for point, remedy in zip(points, remedies):
        regs = registers[remedy.registers]
        logits = fresh.advance(first_layer, regs).logits(regs)
        correct = int(np.sum(np.argmax(logits, axis=1) == y))
        gdc = remedy.registers is Registers.GLOBAL_DRIFT
        rows.append({**point, "accuracy": correct / len(y), "correct": correct,
                     "devices_rewritten": rewritten,
                     "gdc_alpha": json.dumps({str(k): v for k, v in alphas.items()}) if gdc else None})
    return rows


def measure_fixed(network, calib, points):
    """Rows of the reference points without a chip: method "fp32" (float network; the digits CNN's FP32-trained one)
    or "digital8" (the 8-bit digital path) on the first ``test_images`` test inputs."""
    from neurophase.model.network import digits_network, fp32_logits, fp32_params, load_split
    from neurophase.model.quantise import digital_forward
    net = network_of(network, calib, "plain")
    qnet = digits_network(net) if network == DIGITS else net
    rows = []
    for point in points:
        x, y = held_out(network, calib, point["test_images"])
        if point["method"] == "digital8":
            logits = digital_forward(qnet, x)
        elif network == DIGITS:
            logits = fp32_logits(fp32_params(net), load_split()[2][:len(y)])     # pixels of the same test images
        else:
            logits = qnet.network.forward(x)
        correct = int(np.sum(np.argmax(logits, axis=1) == y))
        rows.append({**point, "accuracy": correct / len(y), "correct": correct, "devices_rewritten": None,
                     "gdc_alpha": None})
    return rows
