"""Accuracy over time after programming, with and without the drift remedies, over seeded Monte Carlo chips.

Ref: docs/architecture.md §6 (drift management, the paper's claims), D6 (the remedies as built), D10 (the study
engine); model/drift.py (remedies), model/drift_training.py (drift-aware weights), model/drift_points.py (what a task
computes).

Methods (:data:`METHODS`): FP32 and the 8-bit digital path (no devices, one value each); the PCM chip with no remedy;
each remedy alone (drift-aware training, BN recalibration, selective reprogramming, global drift compensation); the
paper's three remedies together (drift-aware weights, then at time t selective reprogramming followed by BN
recalibration); and, to attribute that result, drift-aware weights with BN recalibration and selective reprogramming
with BN recalibration (:data:`PAIR_METHODS`; not in the quick mode). Every PCM method is measured on the same ``chips``
chip seeds (programming noise and drift exponents; the drift-aware weights use the same seeds) and with the same
read-noise seed per (chip, time), so differences between methods are paired. Every tile of the chips uses the study's
input encoding (``StudyConfig.encoding``, docs/architecture.md D8); the same chip seeds give the same devices in either
encoding, so two studies that differ only in it are paired too.

The study runs on the Monte Carlo engine (model/study_engine.py, D10): a point is one (method, chip seed, time) with
its seeds (chip seed 1000 + i, read-noise seed from the chip seed and the time's index), one row of the results store;
a task is one chip seed, one time and one device state (model/drift_points.py); a programmed chip is computed once
and shared by the tasks of its seed. The result depends only on the points, not on the workers or the order.

Claims checked (computed from the measurements, never assumed):

* ">= 97.1% of FP32": the mean accuracy of the three remedies together, divided by the FP32 accuracy, at every
  time up to one year;
* "within 0.5% of fresh for a year": the mean accuracy of the three remedies together at every time up to one
  year is at most 0.5 percentage points below its value when fresh (the first time point: 1 s after programming by
  default).

The test set has :data:`model.network.N_TEST` = 360 images, so one image is 0.28 percentage points: the resolution
of a single chip's accuracy is coarser than half the claimed 0.5 points.

Another network (``StudyConfig.network``: a network file from `neurophase import`, or an ONNX file with its
calibration inputs ``calib``) is studied with the remedies that need nothing but the chip and the calibration inputs:
no remedy, BN recalibration and global drift compensation (:data:`NETWORK_METHODS`); drift-aware training and
selective reprogramming need the digits CNN's own training code (its drift-aware weights, its gradients for the
Fisher information). The claims are then checked on BN recalibration (``claim_method`` in the result).
"""

import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurophase.model.checks import check_int, count_text
from neurophase.model.drift_points import (DIGITS, Registers, Remedy, held_out, measure_fixed, measure_state,
                                           prepare_chip, selection)
from neurophase.model.interface import InputEncoding
from neurophase.model.report_files import start_report
from neurophase.model.study_engine import Cluster, Shared, Task, run

__all__ = ["TIMES", "QUICK_TIMES", "METHODS", "LABELS", "REMEDIES", "NETWORK_METHODS", "StudyConfig", "DriftStudy",
           "run_study", "network_name",
           "summarise", "write_reports", "time_label"]

YEAR = 365.25 * 86_400.0
TIMES = (("1 s", 1.0), ("1 hour", 3_600.0), ("1 day", 86_400.0), ("1 week", 7 * 86_400.0),
         ("1 month", YEAR / 12), ("1 year", YEAR), ("10 years", 10 * YEAR))
QUICK_TIMES = (TIMES[0], TIMES[5])
PCM_METHODS = ("pcm", "dat", "bn", "sr", "gdc", "all3")
# Pairs that attribute the three-remedy result: drift-aware weights or reprogramming on top of BN recalibration.
PAIR_METHODS = ("dat_bn", "sr_bn")
FIXED_METHODS = ("fp32", "digital8")
METHODS = FIXED_METHODS + PCM_METHODS + PAIR_METHODS
LABELS = {"fp32": "FP32", "digital8": "8-bit digital", "pcm": "PCM, no remedy", "dat": "drift-aware training",
          "bn": "BN recalibration", "sr": "selective reprogramming", "gdc": "global drift compensation",
          "all3": "all three (DAT + SR + BN recal.)", "dat_bn": "DAT + BN recal.", "sr_bn": "SR + BN recal."}
_RECAL = Registers.RECALIBRATED
REMEDIES = {"pcm": Remedy(), "dat": Remedy(drift_aware=True), "bn": Remedy(registers=_RECAL),
            "sr": Remedy(reprogram=True), "gdc": Remedy(registers=Registers.GLOBAL_DRIFT),
            "all3": Remedy(drift_aware=True, reprogram=True, registers=_RECAL),
            "dat_bn": Remedy(drift_aware=True, registers=_RECAL), "sr_bn": Remedy(reprogram=True, registers=_RECAL)}
NETWORK_METHODS = ("pcm", "bn", "gdc")    # the methods for a network other than the digits CNN
PAPER_FRACTION_OF_FP32 = 0.971
PAPER_WITHIN_FRESH = 0.005        # 0.5 percentage points
CHIP_SEED_BASE = 1000


@dataclass(frozen=True)
class StudyConfig:
    """What a study measures. ``test_images``: the first k test images (None: all 360). ``pairs``: also measure
    :data:`PAIR_METHODS`. ``methods``: the PCM methods to measure (None: :data:`PCM_METHODS`, and the pairs with
    ``pairs``; for another network than the digits CNN, :data:`NETWORK_METHODS`). ``times``: (label, seconds after
    programming) in increasing order; the first is "fresh". ``encoding``: the input encoding of every tile.
    ``network``, ``calib``: the network (model/network_file.py ``open_network``; default the digits CNN)."""
    chips: int = 10
    times: tuple = TIMES
    test_images: int = None
    budget: float = 0.05              # selective reprogramming: fraction of the weights (device pairs) rewritten
    quick: bool = False
    pairs: bool = True
    encoding: InputEncoding = InputEncoding.BIT_SERIAL
    methods: tuple = None
    network: str = DIGITS
    calib: str = None

    def __post_init__(self):
        check_int("chips", self.chips, 1, 1000)
        if self.test_images is not None:     # the network's own bound in LabelledSet.first
            check_int("test_images", self.test_images, 1, None)
        if not 0.0 <= self.budget <= 1.0:
            raise ValueError(f"budget must be a fraction in [0, 1], got {self.budget!r}")
        seconds = [t for _, t in self.times]
        if not self.times or any(not t >= 0 for t in seconds) or seconds != sorted(set(seconds)):
            raise ValueError(f"times must be a non-empty list of (label, seconds >= 0) in increasing order, "
                             f"got {self.times!r}")
        object.__setattr__(self, "encoding", InputEncoding.parse(self.encoding))
        allowed = PCM_METHODS + PAIR_METHODS if self.network == DIGITS else NETWORK_METHODS
        if self.methods is not None and (not self.methods or not set(self.methods) <= set(allowed)
                                         or len(set(self.methods)) != len(self.methods)):
            raise ValueError(f"methods must be distinct names among {list(allowed)}, got {self.methods!r}")

    @classmethod
    def quick_mode(cls, **kw):
        return cls(**{"chips": 3, "times": QUICK_TIMES, "test_images": 120, "quick": True, "pairs": False, **kw})

    @property
    def pcm_methods(self):
        """The PCM methods measured, in :data:`METHODS` order."""
        if self.network != DIGITS:
            chosen = self.methods or NETWORK_METHODS
        else:
            chosen = self.methods or PCM_METHODS + (PAIR_METHODS if self.pairs else ())
        return tuple(m for m in PCM_METHODS + PAIR_METHODS if m in chosen)

    @property
    def n_test(self):
        """The test inputs measured: the first ``test_images`` (all when None)."""
        return len(held_out(self.network, self.calib, self.test_images)[1])


def time_label(seconds):
    """A time's label: its name in :data:`TIMES`, else seconds (``"0 s"``, ``"300 s"``)."""
    return dict((t, lab) for lab, t in TIMES).get(seconds, f"{seconds:g} s")


def _read_seed(chip_seed, ti):
    return 1_000_000 + 64 * chip_seed + ti


class DriftStudy:
    """The drift study of a :class:`StudyConfig` as points and tasks for the engine (model/study_engine.py)."""
    name = "drift-study"
    key_columns = ("network", "calib", "encoding", "test_images", "method", "chip_seed", "t_s", "read_seed", "budget")
    columns = key_columns + ("time", "accuracy", "correct", "devices_rewritten", "gdc_alpha")

    def __init__(self, cfg):
        self.cfg = cfg

    def points(self):
        """The fixed references (no chip, no time), then every PCM method x chip x time. The budget keys only the
        methods that reprogram; the encoding only those on a chip."""
        cfg = self.cfg
        base = {"network": cfg.network, "calib": cfg.calib, "test_images": cfg.n_test}
        out = [{**base, "encoding": None, "method": m, "chip_seed": None, "t_s": None, "read_seed": None,
                "budget": None, "time": None} for m in FIXED_METHODS]
        for m in cfg.pcm_methods:
            for i in range(cfg.chips):
                seed = CHIP_SEED_BASE + i
                for ti, (label, t) in enumerate(cfg.times):
                    out.append({**base, "encoding": cfg.encoding.label, "method": m, "chip_seed": seed,
                                "t_s": float(t), "read_seed": _read_seed(seed, ti),
                                "budget": cfg.budget if REMEDIES[m].reprogram else None, "time": label})
        return out

    def tasks(self, missing):
        """One task for the fixed references; one per chip seed, time and device state for the rest, in order of
        chip seed and time (so a chip's shared input is needed early and released late)."""
        cfg = self.cfg
        groups = {}
        for p in missing:
            state = (None,) if p["chip_seed"] is None else (p["chip_seed"], p["t_s"], REMEDIES[p["method"]].weights,
                                                             REMEDIES[p["method"]].reprogram)
            groups.setdefault(state, []).append(p)
        tasks = []
        for state, points in sorted(groups.items(), key=lambda kv: kv[0] if kv[0][0] is not None else (-1,)):
            if state == (None,):
                tasks.append(Task(tuple(points), measure_fixed, (cfg.network, cfg.calib, tuple(points))))
                continue
            seed, _, kind, reprogram = state
            chip = Shared(f"chip-{kind}-{seed}", prepare_chip, (cfg.network, cfg.calib, kind, seed,
                                                                         cfg.encoding))
            selected = Shared(f"selection-{kind}", selection, (cfg.network, kind, cfg.budget)) if reprogram else None
            remedies = tuple(REMEDIES[p["method"]] for p in points)
            tasks.append(Task(tuple(points), measure_state, (chip, selected, tuple(points), remedies)))
        return tasks

    def describe(self, row):
        """One line about a stored point, for progress output."""
        if row["chip_seed"] is None:
            return f"{LABELS[row['method']]}: {100 * row['accuracy']:.2f}%"
        return f"{LABELS[row['method']]}, chip {row['chip_seed']}, {row['time']}: {100 * row['accuracy']:.2f}%"


def run_study(cfg=StudyConfig(), store=None, cluster=Cluster(), progress=None):
    """Run the study on ``cluster``, storing its points in the results store ``store`` (default
    build/studies/drift_study.csv); returns the result dict (configuration, per-chip accuracies, summary, verdicts)."""
    t_start = time.time()
    study = DriftStudy(cfg)
    store = Path(store or "build/studies/drift_study.csv")
    rows = run(study, store, cluster, progress)
    times = [t for _, t in cfg.times]
    methods = cfg.pcm_methods
    by_key = {(r["method"], r["chip_seed"], r["read_seed"]): r for r in rows}
    fixed = {m: float(by_key[(m, "", "")]["accuracy"]) for m in FIXED_METHODS}
    acc = {m: np.zeros((cfg.chips, len(times))) for m in methods}
    info = {m: [[None] * len(times) for _ in range(cfg.chips)] for m in methods
            if REMEDIES[m].reprogram or REMEDIES[m].registers is Registers.GLOBAL_DRIFT}
    for m in methods:
        for i in range(cfg.chips):
            seed = CHIP_SEED_BASE + i
            for ti in range(len(times)):
                r = by_key[(m, str(seed), str(_read_seed(seed, ti)))]
                acc[m][i, ti] = float(r["accuracy"])
                if m in info:
                    info[m][i][ti] = ({"devices_rewritten": int(r["devices_rewritten"])} if REMEDIES[m].reprogram
                                      else {"alpha": json.loads(r["gdc_alpha"])})
    rewritten = [r["devices_rewritten"] for r in rows if r["devices_rewritten"]]
    result = {"config": {"network": network_name(cfg), "claim_method": "all3" if cfg.network == DIGITS else "bn",
                         "chips": cfg.chips, "times": [list(t) for t in cfg.times],
                         "test_images": cfg.n_test, "budget": cfg.budget, "quick": cfg.quick,
                         "encoding": cfg.encoding.label, "methods": list(methods),
                         "chip_seeds": [CHIP_SEED_BASE + i for i in range(cfg.chips)],
                         "weights_reprogrammed": int(rewritten[0]) // 2 if rewritten else None,
                         "weights_total": _weight_count(cfg.network, cfg.calib),
                         "store": str(store)},
              "fixed": fixed,
              "accuracy": {m: acc[m].tolist() for m in methods},
              "info": info,
              "runtime_s": round(time.time() - t_start, 1)}
    result.update(summarise(result))
    return result


def network_name(cfg):
    """The name of the study's network (the digits CNN: ``digits_cnn``)."""
    from neurophase.model.network_file import open_network
    return open_network(cfg.network, cfg.calib).name


def _weight_count(network, calib):
    """Weights of ``network``'s layers (each on one device pair)."""
    from neurophase.model.network_file import open_network
    return sum(int(ql.w_int.size) for ql in open_network(network, calib).layers)


def summarise(result):
    """Mean, spread and verdicts from a result's per-chip accuracies (also used on a loaded JSON). The verdicts are
    None when the three remedies together were not measured."""
    times = [t for _, t in result["config"]["times"]]
    n_img = result["config"]["test_images"]
    summary = {}
    for m, a in result["accuracy"].items():
        a = np.asarray(a)
        summary[m] = {"mean": a.mean(axis=0).tolist(), "std": a.std(axis=0, ddof=1 if len(a) > 1 else 0).tolist(),
                      "min": a.min(axis=0).tolist(), "max": a.max(axis=0).tolist()}
    claimed = result["config"].get("claim_method", "all3")
    if claimed not in summary:
        return {"summary": summary, "verdicts": None}
    fp32 = result["fixed"]["fp32"]
    all3 = np.asarray(summary[claimed]["mean"])
    horizon = [i for i, t in enumerate(times) if t <= YEAR * (1 + 1e-9)]
    ratio = all3 / fp32
    fresh = all3[0]
    drop = fresh - all3
    verdicts = {
        "fraction_of_fp32": {
            "claim": f">= 97.1% of FP32 accuracy ({LABELS[claimed]}, every time up to one year)",
            "per_time": ratio.tolist(), "worst": float(ratio[horizon].min()),
            "holds": bool(ratio[horizon].min() >= PAPER_FRACTION_OF_FP32)},
        "within_fresh": {
            "claim": f"within 0.5 percentage points of fresh ({result['config']['times'][0][0]}) accuracy for a year "
                     f"({LABELS[claimed]})",
            "fresh": float(fresh), "drop_per_time": drop.tolist(), "worst_drop": float(drop[horizon].max()),
            "holds": bool(drop[horizon].max() <= PAPER_WITHIN_FRESH + 1e-12)},
        "resolution": {"one_image": 1.0 / n_img,
                       "std_error_of_mean_all3": (np.asarray(summary[claimed]["std"])
                                                  / np.sqrt(len(result["accuracy"][claimed]))).tolist()},
    }
    return {"summary": summary, "verdicts": verdicts}


def markdown_table(result):
    """The results as a Markdown table (mean ± standard deviation over chips, percent) with the verdicts."""
    cfg, s, v = result["config"], result["summary"], result["verdicts"]
    labels = [lab for lab, _ in cfg["times"]]
    out = io.StringIO()
    out.write(f"| method | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels) + "\n")
    for m in ("fp32", "digital8"):
        out.write(f"| {LABELS[m]} | " + " | ".join(f"{100 * result['fixed'][m]:.2f}" for _ in labels) + " |\n")
    for m in result["accuracy"]:
        out.write(f"| {LABELS[m]} | " + " | ".join(f"{100 * a:.2f} ± {100 * d:.2f}"
                                                     for a, d in zip(s[m]["mean"], s[m]["std"])) + " |\n")
    out.write(f"\nAccuracy in percent on {cfg['test_images']} test images, mean ± standard deviation over "
              f"{count_text(cfg['chips'], 'chip')} (seeds {cfg['chip_seeds'][0]}..{cfg['chip_seeds'][-1]}), "
              f"{cfg.get('encoding', InputEncoding.BIT_SERIAL.label)} inputs")
    if cfg["weights_reprogrammed"] is not None:
        out.write(f"; selective reprogramming rewrites {cfg['weights_reprogrammed']} of {cfg['weights_total']} "
                  f"weights ({2 * cfg['weights_reprogrammed']} devices, budget {100 * cfg['budget']:g}%) at each time")
    out.write(".\n\n")
    claimed = "three remedies" if cfg.get("claim_method", "all3") == "all3" else LABELS[cfg["claim_method"]]
    if v is None:
        out.write(f"* The paper's claims are not checked: {claimed} not measured.\n")
        return out.getvalue()
    f, w, r = v["fraction_of_fp32"], v["within_fresh"], v["resolution"]
    out.write(f"* **>= 97.1% of FP32** ({claimed}, every time up to one year): "
              f"**{'holds' if f['holds'] else 'does not hold'}**; worst {100 * f['worst']:.2f}% of FP32.\n")
    out.write(f"* **Within 0.5% of fresh for a year** ({claimed}; fresh = {100 * w['fresh']:.2f}% at "
              f"{cfg['times'][0][0]}): "
              f"**{'holds' if w['holds'] else 'does not hold'}**; largest drop {100 * w['worst_drop']:.2f} "
              f"percentage points.\n")
    out.write(f"* Resolution: one test image is {100 * r['one_image']:.2f} percentage points; the standard error "
              f"of the {claimed} mean is {100 * max(r['std_error_of_mean_all3']):.2f} points at most.\n")
    return out.getvalue()


def write_reports(result, out_dir, stem="drift_study"):
    """Write ``<stem>.json``, ``.csv`` (one row per method, chip and time), ``.md`` and ``.png``; return paths."""
    paths = start_report(result, out_dir, stem)
    cfg = result["config"]
    with open(paths["csv"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "label", "chip_seed", "time_label", "t_s", "accuracy", "test_images", "encoding"])
        enc = cfg.get("encoding", InputEncoding.BIT_SERIAL.label)
        for m in ("fp32", "digital8"):
            for lab, t in cfg["times"]:
                w.writerow([m, LABELS[m], "", lab, t, result["fixed"][m], cfg["test_images"], ""])
        for m in result["accuracy"]:
            for seed, row in zip(cfg["chip_seeds"], result["accuracy"][m]):
                for (lab, t), a in zip(cfg["times"], row):
                    w.writerow([m, LABELS[m], seed, lab, t, a, cfg["test_images"], enc])
    paths["md"].write_text(markdown_table(result))
    plot(result, paths["png"])
    return paths


JOIN_MIN_TIMES = 4        # fewer measured times are drawn as points (a quick study has two, 1 s and 1 year)


def plot(result, path):
    """Accuracy against log time: mean over chips per PCM method; FP32 and 8-bit as lines. Left the whole range with
    a min-max band per method; right a zoom on the top 6 points below FP32 with the means only (the bands of the
    close methods overlap there into one colour). Points are joined only when at least :data:`JOIN_MIN_TIMES` times
    were measured: a line between two times decades apart would draw values nobody measured."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cfg = result["config"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), dpi=100)
    fp32 = 100 * result["fixed"]["fp32"]
    for ax, ylim, bands in zip(axes, ((0, 100.5), (fp32 - 6, 100.2)), (True, False)):
        _panel(ax, result, ylim, bands)
    joined = len(cfg["times"]) >= JOIN_MIN_TIMES
    axes[1].set_title("zoom: means over chips (spread in the left panel)" +
                      ("" if joined else "; measured times only, not joined"), fontsize=10)
    title = "Reference CNN on the 8x8 digits" if cfg.get("network", "digits_cnn") == "digits_cnn" else cfg["network"]
    axes[0].set_title(f"{title}: {count_text(cfg['chips'], 'chip')}, "
                      f"{count_text(cfg['test_images'], 'test image')}, "
                      f"{cfg.get('encoding', InputEncoding.BIT_SERIAL.label)} inputs (band: min-max over chips)",
                      fontsize=10)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _panel(ax, result, ylim, bands):
    cfg, s = result["config"], result["summary"]
    t = np.array([v for _, v in cfg["times"]])
    ax.axhline(100 * result["fixed"]["fp32"], color="k", lw=1.2, label=LABELS["fp32"])
    ax.axhline(100 * result["fixed"]["digital8"], color="0.4", lw=1.2, ls="--", label=LABELS["digital8"])
    ax.axhline(100 * PAPER_FRACTION_OF_FP32 * result["fixed"]["fp32"], color="tab:red", lw=0.8, ls=":",
               label="97.1% of FP32 (paper)")
    colours = dict(zip(PCM_METHODS + PAIR_METHODS, ("tab:gray", "tab:purple", "tab:blue", "tab:orange", "tab:green",
                                                    "tab:red", "tab:pink", "tab:olive")))
    for m in result["accuracy"]:
        mean = 100 * np.asarray(s[m]["mean"])
        style = dict(ls="--", marker="s") if m in PAIR_METHODS else dict(marker="o")
        if len(t) < JOIN_MIN_TIMES:
            style.update(ls="none", ms=6)
        ax.plot(t, mean, ms=style.pop("ms", 3), color=colours[m], label=LABELS[m], **style)
        low, high = 100 * np.asarray(s[m]["min"]), 100 * np.asarray(s[m]["max"])
        if bands and len(t) >= JOIN_MIN_TIMES:
            ax.fill_between(t, low, high, color=colours[m], alpha=0.12, lw=0)
        elif bands:
            ax.errorbar(t, mean, yerr=[mean - low, high - mean], fmt="none", ecolor=colours[m], capsize=3, lw=1)
    if t[0] == 0:
        ax.set_xscale("symlog", linthresh=1.0)      # a study from t = 0: linear up to 1 s, logarithmic after
    else:
        ax.set_xscale("log")
    ax.set_xticks(t, [lab for lab, _ in cfg["times"]], rotation=30)
    ax.set_xlabel("time after programming")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(*ylim)
    ax.grid(True, which="major", alpha=0.3)
