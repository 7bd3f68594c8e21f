"""Accuracy of PCM chips over Monte Carlo chip seeds and times after programming, without drift remedy, on the study
engine (``neurophase infer``).

Ref: docs/architecture.md D10 (the study engine); model/chip.py (the chip, its read-noise draws).

A point is one chip seed s and one time t: the network programmed with seed s (programming noise, drift exponents)
classifies the test images at t with read-noise seed s and the programming-time BN registers. A point's row holds the
accuracy, the number of correct images and the ADC full scale of every tile (which depends on the weights and the
encoding, not on the seed). The weights are keyed by a digest of their values, so a store holds the points of several
weight files apart. A chip is programmed once per seed and shared by the tasks of its times; the tiles keep the
model's default thread count, so the numbers are those of ``Chip.run`` on a chip programmed with that seed.
"""

import hashlib
import json

import numpy as np

from neurophase.model.chip import Chip, ChipConfig
from neurophase.model.chip_pass import working_copy
from neurophase.model.study_engine import Shared, Task

__all__ = ["InferStudy", "weights_digest"]

NETWORK = "digits-cnn"


def weights_digest(params):
    """12 hex digits of the SHA-256 of the parameters (names, shapes, dtypes and values, in name order)."""
    h = hashlib.sha256()
    for name in sorted(params):
        a = np.ascontiguousarray(params[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:12]


class InferStudy:
    """``seeds`` chips (seeds 0..seeds-1) of ``params`` in ``encoding``, each at every time of ``times``, on all
    test images."""
    name = "infer"
    key_columns = ("network", "weights", "encoding", "images", "chip_seed", "t_s", "read_seed")
    columns = key_columns + ("accuracy", "correct", "i_fs_A")

    def __init__(self, params, seeds, times, encoding):
        from neurophase.model.network import N_TEST
        self.params, self.seeds, self.times, self.encoding = params, seeds, tuple(times), encoding
        self.digest, self.images = weights_digest(params), N_TEST

    def points(self):
        return [{"network": NETWORK, "weights": self.digest, "encoding": self.encoding.label, "images": self.images,
                 "chip_seed": s, "t_s": float(t), "read_seed": s} for s in range(self.seeds) for t in self.times]

    def tasks(self, missing):
        config = ChipConfig(encoding=self.encoding)
        return [Task((p,), _measure, (Shared(f"chip-{p['chip_seed']}", _program, (self.params, p["chip_seed"], config)),
                                      p))
                for p in missing]

    @staticmethod
    def describe(row):
        return f"chip seed {row['chip_seed']}, t = {row['t_s']:g} s: {100 * row['accuracy']:.2f}%"


def _program(params, seed, config):
    return Chip.program(params, seed=seed, config=config)


def _measure(chip, point):
    from neurophase.model.network import load_split
    _, _, x, y = load_split()
    logits = working_copy(chip).run(x, point["t_s"], seed=point["read_seed"])
    correct = int(np.sum(np.argmax(logits, axis=1) == y))
    return [{**point, "accuracy": correct / len(y), "correct": correct,
             "i_fs_A": json.dumps({str(n): i for n, i in sorted(chip.i_fs.items())})}]
