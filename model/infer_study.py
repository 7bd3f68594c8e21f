"""Accuracy of PCM chips over Monte Carlo chip seeds and times after programming, without drift remedy, on the study
engine (``neurophase infer``).

Ref: docs/architecture.md D10 (the study engine); model/chip.py (the chip, its read-noise draws).

A point is one chip seed s and one time t: the network programmed with seed s (programming noise, drift exponents)
classifies its first test inputs at t with read-noise seed s and the programming-time BN registers. A point's row holds
the accuracy, the number of correct images and the ADC full scale of every tile (which depends on the weights and the
encoding, not on the seed). The network is keyed by a digest of its integer layers and calibration inputs, so a store
holds the points of several weight files or networks apart. A chip is programmed once per seed and shared by the tasks
of its times; the tiles keep the model's default thread count, so the numbers are those of ``Chip.run`` on a chip
programmed with that seed.
"""

import hashlib
import json

import numpy as np

from neurophase.model.chip import Chip, ChipConfig
from neurophase.model.chip_pass import working_copy
from neurophase.model.study_engine import Shared, Task

__all__ = ["InferStudy", "network_digest"]


def network_digest(net):
    """12 hex digits of the SHA-256 of a QuantNetwork's name, its layers (name, integer weights, multipliers,
    offsets, last mode) and its calibration inputs (which set the ADC ranges)."""
    h = hashlib.sha256(net.name.encode())
    for ql in net.layers:
        h.update(f"{ql.name}:{ql.last};".encode())
        for a in (ql.w_int, ql.mult, ql.offset):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}:{a.shape};".encode())
            h.update(a.tobytes())
    h.update(np.ascontiguousarray(net.calibration).tobytes())
    return h.hexdigest()[:12]


class InferStudy:
    """``seeds`` chips (seeds 0..seeds-1) of the QuantNetwork ``net`` in ``encoding``, each at every time of
    ``times``, on the first ``images`` test inputs of the network."""
    name = "infer"
    key_columns = ("network", "weights", "encoding", "images", "chip_seed", "t_s", "read_seed")
    columns = key_columns + ("accuracy", "correct", "i_fs_A")

    def __init__(self, net, images, seeds, times, encoding):
        self.net, self.seeds, self.times, self.encoding = net, seeds, tuple(times), encoding
        self.digest, self.images = network_digest(net), images

    def points(self):
        return [{"network": self.net.name, "weights": self.digest, "encoding": self.encoding.label,
                 "images": self.images, "chip_seed": s, "t_s": float(t), "read_seed": s}
                for s in range(self.seeds) for t in self.times]

    def tasks(self, missing):
        config = ChipConfig(encoding=self.encoding)
        return [Task((p,), _measure, (Shared(f"chip-{p['chip_seed']}", _program, (self.net, p["chip_seed"], config)),
                                      p))
                for p in missing]

    @staticmethod
    def describe(row):
        return f"chip seed {row['chip_seed']}, t = {row['t_s']:g} s: {100 * row['accuracy']:.2f}%"


def _program(net, seed, config):
    return Chip.program(net, seed=seed, config=config)


def _measure(chip, point):
    test = chip.network.test.first(point["images"])
    logits = working_copy(chip).run(test.x, point["t_s"], seed=point["read_seed"])
    correct = int(np.sum(np.argmax(logits, axis=1) == test.y))
    return [{**point, "accuracy": correct / len(test.y), "correct": correct,
             "i_fs_A": json.dumps({str(n): i for n, i in sorted(chip.i_fs.items())})}]
