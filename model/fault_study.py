"""Fault study: accuracy of a network on the chip (the digits CNN, the ResNet-style network, any network a user
imports) against the magnitude of each analog non-ideality and fault, with and without the remedies.

Ref: docs/architecture.md D11-D13 (the non-idealities), §6 and D6 (the remedies); model/drift.py,
model/adc_calibration.py.

A study is a list of points, each a plain function of (network, non-ideality, magnitude, chip seed)
(:class:`FaultPoint`, :func:`run_point`): program a chip of that network with that seed and only that non-ideality at
that magnitude on top of the standard device model (programming noise, drift, read noise of §3), then measure the
test accuracy at ``StudySettings.time`` (default 0: the fresh chip, so the non-ideality is what moves the accuracy)
with each remedy, each on its own copy of the chip:

* ``none``: the chip as programmed;
* ``bn``: BN recalibration (``recalibrate_bn``) to the statistics of the *ideal* chip (no device or circuit
  non-ideality): a defect present from manufacture is already in the chip's own statistics at t = 0, so the target is
  what the weights should give, which the host can compute offline from the weights and the ADC ranges;
* ``offset_cal``: the ADC offset calibration (``calibrate_adc_offsets``: zero-input accumulators into the BN biases);
* ``sr``: Fisher-guided selective reprogramming of ``budget`` of the weights (``reprogram_selected``; the ranking of
  the drift study, D6). A stuck device stays stuck and a dead line stays dead, so it can only help by luck. The
  ranking needs the network's training code (the Fisher information of its loss), so only the digits CNN has it.

Points run on the study engine (:func:`run_points`: model/point_study.py ``map_points``, docs/architecture.md D10), one
task per point, each stored as it finishes in a results store with the settings as key columns, so a rerun computes only
the points the store lacks; each depends only on its own seeds, so the result does not depend on the workers or their
order. The magnitude 0 of every non-ideality is one shared baseline point per chip. Reports: JSON, CSV (one row per
point and remedy), Markdown and PNG (:func:`write_reports`).
"""

import copy
import csv
import io
import time
from dataclasses import asdict, dataclass, replace
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from neurophase.model.checks import check_int, check_nonnegative
from neurophase.model.interface import InputEncoding
from neurophase.model.point_study import map_points
from neurophase.model.report_files import start_report
from neurophase.model.study_engine import Cluster

__all__ = ["NetworkSpec", "DIGITS_CNN", "RESNET_STYLE", "NONIDEALITIES", "Nonideality", "FaultPoint", "StudySettings",
           "chip_config", "run_point", "study_points", "run_points", "run_study", "describe_row", "summarise",
           "markdown_table", "write_reports"]

CHIP_SEED_BASE = 2000
TEST_SEED = 404                     # read-noise seed of the test runs (+ chip seed)
REMEDY_LABELS = {"none": "no remedy", "bn": "BN recalibration", "offset_cal": "ADC offset calibration",
                 "sr": "selective reprogramming (Fisher, 5%)"}


@dataclass(frozen=True)
class Nonideality:
    """One swept non-ideality: its label, the unit of its magnitude, the magnitudes of a full and of a quick study,
    and the remedies measured on it (besides ``none``)."""
    label: str
    unit: str
    magnitudes: tuple
    quick: tuple
    remedies: tuple


NONIDEALITIES = {
    "ir_drop": Nonideality("wire (IR) drop", "segment resistance, ohm (wordline = bitline)",
                           (0.35, 1.0, 2.0), (1.0,), ("bn",)),
    "adc_offset": Nonideality("ADC offset", "offset sigma, LSB", (0.5, 1.0, 2.0), (1.0,), ("offset_cal", "bn")),
    "adc_gain": Nonideality("ADC gain error", "gain sigma", (0.05, 0.1, 0.2), (0.1,), ("bn",)),
    "comparator_noise": Nonideality("comparator noise", "noise sigma per comparison, LSB", (0.5, 1.0, 2.0),
                                    (1.0,), ("bn",)),
    "stuck_set": Nonideality("stuck at SET", "fraction of devices", (0.001, 0.01, 0.03), (0.01,), ("bn", "sr")),
    "stuck_reset": Nonideality("stuck at RESET", "fraction of devices", (0.01, 0.1, 0.3), (0.1,), ("bn", "sr")),
    "dead_wordlines": Nonideality("dead wordlines", "dead wordlines per tile", (1, 2, 4), (1,), ("bn", "sr")),
    "dead_bitlines": Nonideality("dead bitlines", "dead bitlines per tile", (1, 2, 4), (1,), ("bn", "sr")),
}
BASELINE = "baseline"               # magnitude 0 of every non-ideality


def chip_config(nonideality, magnitude, encoding=InputEncoding.BIT_SERIAL):
    """The :class:`~neurophase.model.chip.ChipConfig` of the standard device model plus ``nonideality`` at
    ``magnitude`` (``BASELINE``: none)."""
    from neurophase.model.adc_errors import AdcErrors
    from neurophase.model.chip import ChipConfig
    from neurophase.model.device import PcmModel
    from neurophase.model.faults import FaultConfig
    from neurophase.model.tile import TileConfig
    base = ChipConfig(encoding=encoding)
    m = magnitude
    configs = {
        BASELINE: lambda: base,
        "ir_drop": lambda: replace(base, tile=TileConfig(r_wordline=m, r_bitline=m)),
        "adc_offset": lambda: replace(base, adc_errors=AdcErrors(offset_lsb=m)),
        "adc_gain": lambda: replace(base, adc_errors=AdcErrors(gain_sigma=m)),
        "comparator_noise": lambda: replace(base, adc_errors=AdcErrors(comparator_lsb=m)),
        "stuck_set": lambda: replace(base, pcm=PcmModel(p_stuck_set=m)),
        "stuck_reset": lambda: replace(base, pcm=PcmModel(p_stuck_reset=m)),
        "dead_wordlines": lambda: replace(base, faults=FaultConfig(dead_wordlines=int(m))),
        "dead_bitlines": lambda: replace(base, faults=FaultConfig(dead_bitlines=int(m))),
    }
    if nonideality not in configs:
        raise ValueError(f"non-ideality must be one of {', '.join(configs)}, got {nonideality!r}")
    return configs[nonideality]()


@dataclass(frozen=True)
class NetworkSpec:
    """A network as the commands name it (``--network``, ``--calib``, ``--data``; model/network_file.py
    ``open_network``): ``digits``, a network file (.npz) or an ONNX file with its calibration inputs, and optionally a
    test set replacing its own. Plain strings, so a point is cheap to send to a worker, which opens it once."""
    spec: str = "digits"
    calib: str = None
    data: str = None

    def __post_init__(self):
        for name in ("spec", "calib", "data"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                object.__setattr__(self, name, str(v))

    def open(self):
        from neurophase.model.network_file import open_network
        return open_network(self.spec, self.calib, self.data)

    @property
    def is_digits(self):
        from neurophase.model.network_file import DIGITS
        return self.spec == DIGITS and self.data is None


DIGITS_CNN = NetworkSpec()
_DATA = "model/data/"
RESNET_STYLE = NetworkSpec(_DATA + "resnet_style.onnx", _DATA + "resnet_style_calib.npz", _DATA + "digits_test.npz")


@dataclass(frozen=True)
class FaultPoint:
    """One point of the study: ``network`` (a :class:`NetworkSpec`) programmed with ``chip_seed`` and ``nonideality``
    at ``magnitude``."""
    network: NetworkSpec
    nonideality: str
    magnitude: float
    chip_seed: int

    def __post_init__(self):
        if not isinstance(self.network, NetworkSpec):
            raise ValueError(f"network must be a NetworkSpec, got {self.network!r}")
        if self.nonideality != BASELINE and self.nonideality not in NONIDEALITIES:
            raise ValueError(f"non-ideality must be one of {BASELINE}, {', '.join(NONIDEALITIES)}, "
                             f"got {self.nonideality!r}")
        check_nonnegative("magnitude", self.magnitude)
        check_int("chip_seed", self.chip_seed, 0, 2 ** 32 - 1)

    @property
    def remedies(self):
        if self.nonideality == BASELINE:
            mine = tuple(REMEDY_LABELS)     # every remedy, so each line starts from its own value at magnitude 0
        else:
            mine = ("none",) + NONIDEALITIES[self.nonideality].remedies
        return mine if self.network.is_digits else tuple(r for r in mine if r != "sr")


@dataclass(frozen=True)
class StudySettings:
    """What every point shares: the time of the test after programming (s), the first ``test_images`` test inputs
    (None: all of the network's), the input encoding of every tile and the selective-reprogramming budget."""
    time: float = 0.0
    test_images: int = None
    encoding: InputEncoding = InputEncoding.BIT_SERIAL
    budget: float = 0.05

    def __post_init__(self):
        check_nonnegative("time (s)", self.time)
        if self.test_images is not None:
            check_int("test_images", self.test_images, 1, 2 ** 31 - 1)
        if not 0.0 <= self.budget <= 1.0:
            raise ValueError(f"budget must be a fraction in [0, 1], got {self.budget!r}")
        object.__setattr__(self, "encoding", InputEncoding.parse(self.encoding))


@lru_cache(maxsize=None)
def _selection(budget, cache=None):
    """The weights selective reprogramming rewrites (top ``budget`` of the conductance-unit Fisher information of the
    shipped network, D6). The Fisher information takes tens of seconds, so with a ``cache`` folder (the command's:
    $NEUROPHASE_BUILD/cache) the selection is kept there, named by a hash of the weights file (a stale file cannot be
    picked up) and written atomically (two studies may race)."""
    import hashlib
    import os
    from neurophase.model.drift import conductance_fisher, fisher_diagonal, select_sensitive
    from neurophase.model.network import WEIGHTS_PATH, load_split, load_weights, quant_layers
    digest = hashlib.sha1(WEIGHTS_PATH.read_bytes()).hexdigest()[:16]
    path = None if cache is None else Path(cache) / f"fisher_selection_{digest}_{budget:g}.npz"
    if path is not None and path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    params, _ = load_weights()
    x_tr, _, _, _ = load_split()
    selection = select_sensitive(conductance_fisher(quant_layers(params), fisher_diagonal(params, x_tr)), budget)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.npz")
        np.savez(tmp, **selection)
        os.replace(tmp, path)
    return selection


@lru_cache(maxsize=4)
def _ideal_reference(network, encoding):
    """BN-recalibration target: the statistics of ``network``'s ideal chip (no device or circuit non-ideality)."""
    from neurophase.model.chip import Chip, ChipConfig
    from neurophase.model.device import PcmModel
    from neurophase.model.drift import record_reference
    config = ChipConfig(pcm=PcmModel().ideal(), encoding=encoding)
    return record_reference(Chip.program(network.open(), seed=0, config=config))


def _test_set(network, settings):
    """The first ``settings.test_images`` inputs of the network's test set (all of them by default)."""
    test = network.open().test
    if test is None:
        raise ValueError(f"network {network.spec} has no test set: give one with --data TEST.npz")
    n = len(test) if settings.test_images is None else settings.test_images
    if n > len(test):
        raise ValueError(f"test_images must be at most the {len(test)} test inputs of {network.spec}, got {n}")
    return test.first(n)


def run_point(point, settings=StudySettings(), selection=None):
    """Accuracy of ``point`` with each of its remedies: {remedy: accuracy}. ``selection``: the weights selective
    reprogramming rewrites (:func:`_selection`; computed here when a point needs it and none is given)."""
    from neurophase.model.adc_calibration import calibrate_adc_offsets
    from neurophase.model.chip import Chip
    from neurophase.model.drift import recalibrate_bn, reprogram_selected
    config = chip_config(point.nonideality, point.magnitude, settings.encoding)
    chip = Chip.program(point.network.open(), seed=point.chip_seed, config=config)
    chip.workers = 1                # a study task runs on one core: the engine runs tasks side by side
    for tile in chip.tiles.values():
        tile.threads = 1            # fixed, so the noise draws do not depend on the machine
    test = _test_set(point.network, settings)
    t = settings.time
    out = {}
    for remedy in point.remedies:
        c = copy.deepcopy(chip)
        if remedy == "bn":
            recalibrate_bn(c, t, _ideal_reference(point.network, settings.encoding))
        elif remedy == "offset_cal":
            calibrate_adc_offsets(c)
        elif remedy == "sr":
            chosen = _selection(settings.budget) if selection is None else selection
            reprogram_selected(c, chosen, t, seed=point.chip_seed)
        logits = c.run(test.x, t, seed=TEST_SEED + point.chip_seed)
        out[remedy] = float(np.mean(np.argmax(logits, axis=1) == test.y))
    return out


def study_points(chips, quick=False, nonidealities=None, network=DIGITS_CNN):
    """Every point of a study over ``chips`` chip seeds: one baseline per chip, then each non-ideality (default
    all) at each of its magnitudes (``quick``: the quick ones)."""
    names = list(NONIDEALITIES) if nonidealities is None else list(nonidealities)
    for n in names:
        if n not in NONIDEALITIES:
            raise ValueError(f"non-ideality must be one of {', '.join(NONIDEALITIES)}, got {n!r}")
    seeds = [CHIP_SEED_BASE + i for i in range(check_int("chips", chips, 1, 1000))]
    points = [FaultPoint(network, BASELINE, 0.0, s) for s in seeds]
    for n in names:
        mags = NONIDEALITIES[n].quick if quick else NONIDEALITIES[n].magnitudes
        points += [FaultPoint(network, n, float(m), s) for m in mags for s in seeds]
    return points


def _key(point):
    """A point's key columns in the results store: the network's strings, then the point's own fields."""
    return {**{f"network_{k}": v for k, v in asdict(point.network).items()}, "nonideality": point.nonideality,
            "magnitude": point.magnitude, "chip_seed": point.chip_seed}


def _run_key(key, settings, selection):
    """:func:`run_point` of the point whose key columns are ``key``."""
    network = NetworkSpec(key["network_spec"], key["network_calib"], key["network_data"])
    return run_point(FaultPoint(network, key["nonideality"], key["magnitude"], key["chip_seed"]), settings, selection)


def describe_row(row):
    """One line about a stored point, for progress output."""
    accs = ", ".join(f"{r} {100 * float(row[r]):.1f}%" for r in REMEDY_LABELS if row[r] not in (None, ""))
    return f"{row['nonideality']} {float(row['magnitude']):g}, chip {row['chip_seed']}: {accs}"


def run_points(points, settings, store, cluster=Cluster(), progress=None, cache=None):
    """:func:`run_point` of every point with ``settings`` on ``cluster`` through the results store at ``store``
    (model/point_study.py ``map_points``); results in the points' order. ``cache``: the folder of the Fisher
    selection (:func:`_selection`; None: computed, not kept)."""
    # Once, here, and sent to the workers with the tasks (some 10 kB), so no worker computes or reads it.
    selection = _selection(settings.budget, cache) if any("sr" in p.remedies for p in points) else None
    # The slowest points first (comparator noise, then points with several remedies) so the last tasks are short.
    order = sorted(points, key=lambda p: (p.nonideality != "comparator_noise", -len(p.remedies)))
    fixed = {**asdict(settings), "encoding": settings.encoding.label}
    run = partial(_run_key, settings=settings, selection=selection)
    results = map_points("fault-study", run, [_key(p) for p in order], tuple(REMEDY_LABELS), store, fixed, cluster,
                         progress)
    by_point = dict(zip(order, results))
    return [by_point[p] for p in points]


def run_study(chips=3, settings=StudySettings(), quick=False, nonidealities=None, network=DIGITS_CNN,
              store="build/studies/fault_study.csv", cluster=Cluster(), progress=None, cache=None):
    """Run the study of ``network`` on ``cluster`` through the results store at ``store`` (``cache``: the folder of
    the Fisher selection, as :func:`run_points`); returns the result dict (settings, every point's accuracies, the
    summary)."""
    from neurophase.model.quantise import digital_forward
    t_start = time.time()
    points = study_points(chips, quick, nonidealities, network)
    test = _test_set(network, settings)
    name = network.open().name
    accs = run_points(points, settings, store, cluster, progress, cache)
    digital = float(np.mean(np.argmax(digital_forward(network.open(), test.x), axis=1) == test.y))
    result = {"network": {**asdict(network), "name": name},
              "settings": {**asdict(settings), "encoding": settings.encoding.label, "test_images": len(test),
                           "chips": chips, "quick": quick, "chip_seeds": [CHIP_SEED_BASE + i for i in range(chips)]},
              "digital8": digital,
              "points": [{**asdict(p), "network": name, "accuracy": a} for p, a in zip(points, accs)],
              "runtime_s": round(time.time() - t_start, 1)}
    result["summary"] = summarise(result)
    return result


def summarise(result):
    """{non-ideality: {"magnitudes": [...], remedy: {"mean": [...], "std": [...]}}}, magnitude 0 the baseline."""
    points = result["points"]
    base = {r: [p["accuracy"][r] for p in points if p["nonideality"] == BASELINE and r in p["accuracy"]]
            for r in REMEDY_LABELS}
    out = {}
    for name, nonideality in NONIDEALITIES.items():
        mine = [p for p in points if p["nonideality"] == name]
        if not mine:
            continue
        mags = sorted({p["magnitude"] for p in mine})
        entry = {"magnitudes": [0.0] + mags}
        for remedy in (r for r in ("none",) + nonideality.remedies if base[r]):
            rows = [base[remedy]] + [[p["accuracy"][remedy] for p in mine if p["magnitude"] == m]
                                                       for m in mags]
            entry[remedy] = {"mean": [float(np.mean(r)) for r in rows],
                             "std": [float(np.std(r, ddof=1)) if len(r) > 1 else 0.0 for r in rows]}
        out[name] = entry
    return out


def markdown_table(result):
    """One table per non-ideality's magnitudes and remedies (mean ± sd over chips, percent; one chip: its value)."""
    s, cfg = result["summary"], result["settings"]
    remedies = [r for r in REMEDY_LABELS if any(r in entry for entry in s.values())]
    out = io.StringIO()
    out.write("| non-ideality | magnitude | " + " | ".join(REMEDY_LABELS[r] for r in remedies) + " |\n|---|---|"
              + "---|" * len(remedies) + "\n")
    for name, entry in s.items():
        for i, m in enumerate(entry["magnitudes"]):
            spread = (lambda r: f" ± {100 * entry[r]['std'][i]:.1f}") if cfg["chips"] > 1 else (lambda r: "")
            cells = [f"{100 * entry[r]['mean'][i]:.1f}{spread(r)}" if r in entry else "" for r in remedies]
            label = f"{NONIDEALITIES[name].label} ({NONIDEALITIES[name].unit})" if i == 0 else ""
            out.write(f"| {label} | {m:g} | " + " | ".join(cells) + " |\n")
    seeds = cfg["chip_seeds"]
    chips = (f"mean ± standard deviation over {cfg['chips']} chips (seeds {seeds[0]}..{seeds[-1]})" if len(seeds) > 1
             else f"one chip (seed {seeds[0]}), no spread")
    out.write(f"\n{result['network']['name']}: test accuracy in percent on {cfg['test_images']} test inputs at t = "
              f"{cfg['time']:g} s after programming, {chips}, {cfg['encoding']} inputs, standard device model "
              f"(programming noise, drift, read noise) plus the one non-ideality; magnitude 0 is the shared baseline. "
              f"8-bit digital: "
              f"{100 * result['digital8']:.2f}%.\n")
    return out.getvalue()


def write_reports(result, out_dir, stem="fault_study"):
    """Write ``<stem>.json``, ``.csv`` (one row per point and remedy), ``.md`` and ``.png``; return the paths."""
    paths = start_report(result, out_dir, stem)
    cfg = result["settings"]
    with open(paths["csv"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["network", "nonideality", "magnitude", "chip_seed", "remedy", "accuracy", "time_s", "test_images",
                    "encoding"])
        for p in result["points"]:
            for remedy, a in p["accuracy"].items():
                w.writerow([p["network"], p["nonideality"], p["magnitude"], p["chip_seed"], remedy, a, cfg["time"],
                            cfg["test_images"], cfg["encoding"]])
    paths["md"].write_text(markdown_table(result))
    plot(result, paths["png"])
    return paths


def plot(result, path):
    """One panel per non-ideality: accuracy against magnitude, a line per remedy through the measured means (markers),
    error bars one standard deviation over chips, the 8-bit digital accuracy as a reference line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s, cfg = result["summary"], result["settings"]
    colours = dict(zip(REMEDY_LABELS, ("tab:gray", "tab:blue", "tab:green", "tab:orange")))
    cols = 4
    rows = -(-len(s) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), dpi=100, squeeze=False)
    for ax, (name, entry) in zip(axes.ravel(), s.items()):
        m = np.asarray(entry["magnitudes"])
        ax.axhline(100 * result["digital8"], color="k", lw=0.8, ls=":", label="8-bit digital")
        for remedy in REMEDY_LABELS:
            if remedy in entry:
                ax.errorbar(m, 100 * np.asarray(entry[remedy]["mean"]), yerr=100 * np.asarray(entry[remedy]["std"]),
                            marker="o", ms=3, capsize=2, color=colours[remedy], label=REMEDY_LABELS[remedy])
        ax.set_title(NONIDEALITIES[name].label, fontsize=10)
        ax.set_xlabel(NONIDEALITIES[name].unit, fontsize=8)
        ax.set_ylabel("test accuracy (%)", fontsize=8)
        ax.set_ylim(0, 101)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, loc="lower left")
    for ax in axes.ravel()[len(s):]:
        ax.axis("off")
    fig.suptitle(f"{result['network']['name']} on the chip: {cfg['chips']} chip{'s' if cfg['chips'] > 1 else ''}, "
                 f"{cfg['test_images']} test inputs, "
                 f"t = {cfg['time']:g} s, {cfg['encoding']} inputs (bars: sd over chips)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
