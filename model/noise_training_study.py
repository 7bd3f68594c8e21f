"""Drift-aware training as the literature does it against the project's variant: accuracy over time on Monte Carlo
chips, each alone and with global drift compensation (the pairing of Joshi et al.; the project's own remedy, BN
recalibration, is in the drift study).

Ref: docs/architecture.md §6, D6 and D14; model/drift_training.py (the two trainings), model/drift.py (the remedies).

Weights (:data:`WEIGHTS`): the shipped network (``plain``), the project's drift-aware training (``device``: each
forward pass a fresh sample of the device model at one day, common drift divided out) and the literature's
(``gaussian``: additive Gaussian noise of ``eta max|w|`` per column, Joshi et al. 2020, ``eta`` from the device model).
Remedies: none and global drift compensation (``gdc``, as Joshi et al. pair with their training). A point is
(weights, remedy, chip seed): program the chip, record its reference at t = 0, then at each time apply the remedy and
classify the test set. Every point uses the same chip seeds and read-noise seeds, so the
differences between trainings are paired. Points run on the study engine (model/point_study.py ``map_points``,
docs/architecture.md D10), each stored as it finishes in a results store, one accuracy column per time.
"""

import io
import time
from dataclasses import dataclass

import numpy as np

from neurophase.model.checks import check_int
from neurophase.model.point_study import map_points
from neurophase.model.study_engine import Cluster

__all__ = ["WEIGHTS", "REMEDIES", "TIMES", "StudyPoint", "run_point", "run_study", "markdown_table"]

WEIGHTS = {"plain": "shipped (no noise in training)", "device": "device-model injection (this project)",
           "gaussian": "Gaussian injection (Joshi et al. 2020)"}
REMEDIES = {"none": "alone", "gdc": "+ global drift compensation"}
YEAR = 365.25 * 86_400.0
TIMES = (("1 s", 1.0), ("1 day", 86_400.0), ("1 month", YEAR / 12), ("1 year", YEAR))
CHIP_SEED_BASE = 3000


@dataclass(frozen=True)
class StudyPoint:
    """``weights`` (a key of :data:`WEIGHTS`) on the chip made with ``chip_seed``, with ``remedy`` at every time."""
    weights: str
    remedy: str
    chip_seed: int
    times: tuple = tuple(t for _, t in TIMES)
    test_images: int = None


def _params(kind):
    from neurophase.model.drift_training import DRIFT_WEIGHTS_PATH, NOISE_INJECTION_WEIGHTS_PATH
    from neurophase.model.network import WEIGHTS_PATH, load_weights
    paths = {"plain": WEIGHTS_PATH, "device": DRIFT_WEIGHTS_PATH, "gaussian": NOISE_INJECTION_WEIGHTS_PATH}
    if kind not in paths:
        raise ValueError(f"weights must be one of {', '.join(paths)}, got {kind!r}")
    return load_weights(paths[kind])[0]


def run_point(point):
    """Test accuracy of ``point`` at each of its times: a list."""
    from neurophase.model.chip import Chip
    from neurophase.model.drift import compensate_global_drift, record_reference
    if point.remedy not in REMEDIES:
        raise ValueError(f"remedy must be one of {', '.join(REMEDIES)}, got {point.remedy!r}")
    chip = Chip.program(_params(point.weights), seed=point.chip_seed)
    chip.workers = 1                # a study task runs on one core: the engine runs tasks side by side
    for tile in chip.tiles.values():
        tile.threads = 1
    reference = record_reference(chip) if point.remedy != "none" else None
    test = chip.network.test if point.test_images is None else chip.network.test.first(point.test_images)
    x, y = test.x, test.y
    accs = []
    for ti, t in enumerate(point.times):
        if point.remedy == "gdc":
            compensate_global_drift(chip, t, reference)
        logits = chip.run(x, t, seed=1_000_000 + 64 * point.chip_seed + ti)
        accs.append(float(np.mean(np.argmax(logits, axis=1) == y)))
    return accs


def _accuracies(point):
    """:func:`run_point` as the store's measurements: {time label: accuracy}."""
    return dict(zip((label for label, _ in TIMES), run_point(point)))


def run_study(chips=3, test_images=None, store="build/studies/noise_training_study.csv", cluster=Cluster(),
              progress=None):
    """Every (weights, remedy) on ``chips`` chips on ``cluster`` through the results store at ``store``; returns the
    result dict (per-chip accuracies, mean, sd)."""
    t0 = time.time()
    seeds = [CHIP_SEED_BASE + i for i in range(check_int("chips", chips, 1, 1000))]
    points = [StudyPoint(w, r, s, test_images=test_images) for r in REMEDIES for w in WEIGHTS
              for s in seeds]
    labels = tuple(label for label, _ in TIMES)
    results = map_points("noise-training-study", _accuracies, points, labels, store, cluster=cluster,
                         progress=progress)
    accs = [[r[label] for label in labels] for r in results]
    result = {"times": [list(t) for t in TIMES], "chip_seeds": seeds, "test_images": test_images or 360,
              "accuracy": {}, "runtime_s": None}
    for w in WEIGHTS:
        for r in REMEDIES:
            a = np.array([acc for p, acc in zip(points, accs) if (p.weights, p.remedy) == (w, r)])
            std = a.std(axis=0, ddof=1).tolist() if len(a) > 1 else [0.0] * len(TIMES)
            result["accuracy"][f"{w}/{r}"] = {"per_chip": a.tolist(), "mean": a.mean(axis=0).tolist(), "std": std}
    result["runtime_s"] = round(time.time() - t0, 1)
    return result


def markdown_table(result):
    """Mean ± sd over chips (percent) per training and remedy, one column per time."""
    labels = [lab for lab, _ in result["times"]]
    out = io.StringIO()
    out.write("| training | remedy | " + " | ".join(labels) + " |\n|---|---|" + "---|" * len(labels) + "\n")
    for key, a in result["accuracy"].items():
        w, r = key.split("/")
        out.write(f"| {WEIGHTS[w]} | {REMEDIES[r]} | "
                  + " | ".join(f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in zip(a["mean"], a["std"])) + " |\n")
    out.write(f"\nTest accuracy in percent on {result['test_images']} test images, mean ± standard deviation over "
              f"{len(result['chip_seeds'])} chips (seeds {result['chip_seeds'][0]}..{result['chip_seeds'][-1]}), "
              "bit-serial inputs; the same chip and read-noise seeds for every training and remedy.\n")
    return out.getvalue()
