"""Accuracy over time after programming, with and without the drift remedies, over seeded Monte Carlo chips.

Ref: docs/architecture.md §6 (drift management, the paper's claims), model/drift.py (remedies),
model/drift_training.py (drift-aware weights).

Methods (:data:`METHODS`): FP32 and the 8-bit digital path (no devices, one value each); the PCM chip with no remedy;
each remedy alone (drift-aware training, BN recalibration, selective reprogramming, global drift compensation); the
paper's three remedies together (drift-aware weights, then at time t selective reprogramming followed by BN
recalibration); and, to attribute that result, drift-aware weights with BN recalibration and selective reprogramming
with BN recalibration (:data:`PAIR_METHODS`; not in the quick mode). Every PCM method is measured on the same ``chips``
chip seeds (programming noise and drift exponents; the drift-aware weights use the same seeds) and with the same
read-noise seed per (chip, time), so differences between methods are paired. A (method, chip) pair is one task: tasks
run on a process pool, each with its own seeds, so the result does not depend on the number of processes or their order.
Every tile of the chips uses the study's input encoding (``StudyConfig.encoding``, docs/architecture.md D8); the same
chip seeds give the same devices in either encoding, so two studies that differ only in it are paired too.

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

import copy
import csv
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurophase.model.checks import check_int, count_text
from neurophase.model.interface import InputEncoding
from neurophase.model.network import N_TEST

__all__ = ["TIMES", "QUICK_TIMES", "METHODS", "LABELS", "StudyConfig", "ChipTask", "run_study", "summarise",
           "write_reports", "time_label"]

YEAR = 365.25 * 86_400.0
TIMES = (("1 s", 1.0), ("1 hour", 3_600.0), ("1 day", 86_400.0), ("1 week", 7 * 86_400.0),
         ("1 month", YEAR / 12), ("1 year", YEAR), ("10 years", 10 * YEAR))
QUICK_TIMES = (TIMES[0], TIMES[5])
PCM_METHODS = ("pcm", "dat", "bn", "sr", "gdc", "all3")
# Pairs that attribute the three-remedy result: drift-aware weights or reprogramming on top of BN recalibration.
PAIR_METHODS = ("dat_bn", "sr_bn")
METHODS = ("fp32", "digital8") + PCM_METHODS + PAIR_METHODS
LABELS = {"fp32": "FP32", "digital8": "8-bit digital", "pcm": "PCM, no remedy", "dat": "drift-aware training",
          "bn": "BN recalibration", "sr": "selective reprogramming", "gdc": "global drift compensation",
          "all3": "all three (DAT + SR + BN recal.)", "dat_bn": "DAT + BN recal.", "sr_bn": "SR + BN recal."}
_DAT = ("dat", "all3", "dat_bn")          # methods on the drift-aware weights
_SR = ("sr", "all3", "sr_bn")             # with selective reprogramming at time t
_BN = ("bn", "all3", "dat_bn", "sr_bn")   # with BN recalibration at time t (after any reprogramming)
NETWORK_METHODS = ("pcm", "bn", "gdc")    # the methods for a network other than the digits CNN
PAPER_FRACTION_OF_FP32 = 0.971
PAPER_WITHIN_FRESH = 0.005        # 0.5 percentage points
CHIP_SEED_BASE = 1000


@dataclass(frozen=True)
class StudyConfig:
    """What a study measures. ``test_images``: the first k test images (None: all 360). ``pairs``: also measure
    :data:`PAIR_METHODS`. ``times``: (label, seconds after programming) in increasing order; the first is "fresh".
    ``encoding``: the input encoding of every tile. ``network``, ``calib``: the network (model/network_file.py
    ``open_network``; default the digits CNN)."""
    chips: int = 10
    times: tuple = TIMES
    test_images: int = None
    budget: float = 0.05              # selective reprogramming: fraction of the weights (device pairs) rewritten
    jobs: int = None                  # processes (None: every core)
    quick: bool = False
    pairs: bool = True
    encoding: InputEncoding = InputEncoding.BIT_SERIAL
    network: str = "digits"
    calib: str = None

    def __post_init__(self):
        check_int("chips", self.chips, 1, 1000)
        if self.test_images is not None:     # the digits CNN's bound here; another network's in _test_set
            check_int("test_images", self.test_images, 1, N_TEST if _digits(self.network) else None)
        if not 0.0 <= self.budget <= 1.0:
            raise ValueError(f"budget must be a fraction in [0, 1], got {self.budget!r}")
        if self.jobs is not None:
            check_int("jobs", self.jobs, 1, 256)
        seconds = [t for _, t in self.times]
        if not self.times or any(not t >= 0 for t in seconds) or seconds != sorted(set(seconds)):
            raise ValueError(f"times must be a non-empty list of (label, seconds >= 0) in increasing order, "
                             f"got {self.times!r}")
        object.__setattr__(self, "encoding", InputEncoding.parse(self.encoding))

    @classmethod
    def quick_mode(cls, **kw):
        return cls(**{"chips": 3, "times": QUICK_TIMES, "test_images": 120, "quick": True, "pairs": False, **kw})


def _weights(kind):
    from neurophase.model.drift_training import DRIFT_WEIGHTS_PATH
    from neurophase.model.network import WEIGHTS_PATH, load_weights
    return load_weights(DRIFT_WEIGHTS_PATH if kind == "dat" else WEIGHTS_PATH)[0]


def _network(spec, calib):
    from neurophase.model.network_file import open_network
    return open_network(spec, calib)


def _digits(spec):
    from neurophase.model.network_file import DIGITS
    return str(spec) == DIGITS


def _test_set(n, spec="digits", calib=None):
    test = _network(spec, calib).test
    if test is None:
        raise ValueError(f"network {spec} has no test set (import it with --data TEST.npz)")
    test = test if n is None else test.first(check_int("test_images", n, 1, len(test)))
    return test.x, test.y


def _selection(kind, budget):
    """Weights selected for reprogramming: the top ``budget`` of the diagonal Fisher information of ``kind``'s
    8-bit network in conductance units, estimated on every training image."""
    from neurophase.model.drift import conductance_fisher, fisher_diagonal, select_sensitive
    from neurophase.model.network import load_split, quant_layers
    params = _weights(kind)
    x_tr, _, _, _ = load_split()
    return kind, select_sensitive(conductance_fisher(quant_layers(params), fisher_diagonal(params, x_tr)), budget)


def time_label(seconds):
    """A time's label: its name in :data:`TIMES`, else seconds (``"0 s"``, ``"300 s"``)."""
    return dict((t, lab) for lab, t in TIMES).get(seconds, f"{seconds:g} s")


def _read_seed(chip_seed, ti):
    return 1_000_000 + 64 * chip_seed + ti


@dataclass(frozen=True)
class ChipTask:
    """One task of the study: ``method`` on chip ``index`` at every time of ``times`` (s) on the first ``test_images``
    test images (None: all), tiles in ``encoding``; ``selection`` the weights to reprogram for methods with SR."""
    method: str
    index: int
    times: tuple
    test_images: int = None
    selection: dict = None
    encoding: InputEncoding = InputEncoding.BIT_SERIAL
    network: str = "digits"
    calib: str = None


def _chip_task(task):
    """Accuracy of one :class:`ChipTask`: (method, chip index, [accuracy], [extra info])."""
    from neurophase.model.chip import Chip, ChipConfig
    from neurophase.model.drift import compensate_global_drift, recalibrate_bn, record_reference, reprogram_selected
    method, index, times, n_test, selection = task.method, task.index, task.times, task.test_images, task.selection
    seed = CHIP_SEED_BASE + index
    net = _weights("dat" if method in _DAT else "plain") if _digits(task.network) else \
        _network(task.network, task.calib)
    chip = Chip.program(net, seed=seed, config=ChipConfig(encoding=task.encoding))
    for tile in chip.tiles.values():
        tile.threads = 1            # fixed, so read-noise draws do not depend on the machine
    reference = record_reference(chip) if method in _BN + ("gdc",) else None
    x, y = _test_set(n_test, task.network, task.calib)
    accs, infos = [], []
    for ti, t in enumerate(times):
        c = copy.deepcopy(chip) if method in _SR else chip
        info = {}
        if method in _SR:
            info["devices_rewritten"] = reprogram_selected(c, selection, t, seed=_read_seed(seed, ti))
        if method in _BN:
            recalibrate_bn(c, t, reference)
        if method == "gdc":
            info["alpha"] = {str(k): v for k, v in compensate_global_drift(c, t, reference).items()}
        logits = c.run(x, t, seed=_read_seed(seed, ti))
        accs.append(float(np.mean(np.argmax(logits, axis=1) == y)))
        infos.append(info)
    return method, index, accs, infos


def _ignore_interrupt():
    """Pool worker set-up: Ctrl-C reaches every process of the terminal's group; the parent alone handles it (it
    ends the pool), so the workers print no traceback of their own."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool(jobs):
    """A process pool whose workers run numpy on one thread each (the pool already uses every core)."""
    import multiprocessing as mp
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"       # inherited by the spawned workers before they import numpy
    return mp.get_context("spawn").Pool(jobs, initializer=_ignore_interrupt)


def run_study(cfg=StudyConfig(), log=None):
    """Run the study; returns the result dict (configuration, per-chip accuracies, summary, verdicts)."""
    from neurophase.model.network import fp32_logits, fp32_params, load_split, load_weights
    from neurophase.model.quantise import digital_forward
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t_start = time.time()
    times = [t for _, t in cfg.times]
    net = _network(cfg.network, cfg.calib)
    x, y = _test_set(cfg.test_images, cfg.network, cfg.calib)
    digits = _digits(cfg.network)
    # The digits CNN's FP32 figure is its FP32-trained network (stored beside the quantisation-aware one).
    fp32 = fp32_logits(fp32_params(load_weights()[0]), load_split()[2][:len(y)]) if digits else net.network.forward(x)
    fixed = {"fp32": float(np.mean(np.argmax(fp32, axis=1) == y)),
             "digital8": float(np.mean(np.argmax(digital_forward(net, x), axis=1) == y))}
    jobs = cfg.jobs or os.cpu_count() or 1
    methods = PCM_METHODS + (PAIR_METHODS if cfg.pairs else ()) if digits else NETWORK_METHODS
    log(f"drift study: {count_text(cfg.chips, 'chip')} x {len(times)} times x {len(methods)} PCM methods on "
        f"{len(y)} test images, {cfg.encoding.label} inputs, {jobs} processes")
    with _pool(jobs) as pool:
        selections = {}
        if digits:
            log("Fisher information of the plain and drift-aware 8-bit networks (training images) ...")
            selections = dict(pool.starmap(_selection, [("plain", cfg.budget), ("dat", cfg.budget)]))
        # The slow methods (a BN recalibration per time) first, so the pool's last tasks are short.
        order = [m for m in ("all3", "bn", "dat_bn", "sr_bn", "sr", "gdc", "dat", "pcm") if m in methods]
        tasks = [ChipTask(m, i, tuple(times), cfg.test_images,
                          selections["dat" if m in _DAT else "plain"] if m in _SR else None, cfg.encoding,
                          cfg.network, cfg.calib)
                 for m in order for i in range(cfg.chips)]
        acc = {m: np.zeros((cfg.chips, len(times))) for m in methods}
        info = {m: [None] * cfg.chips for m in methods}
        for k, (m, i, a, inf) in enumerate(pool.imap_unordered(_chip_task, tasks), 1):
            acc[m][i], info[m][i] = a, inf
            el = time.time() - t_start
            log(f"  [{k}/{len(tasks)}] {LABELS[m]}, chip {i}: "
                + " ".join(f"{100 * v:.1f}" for v in a) + f" %   ({el:.0f} s, ~{el / k * (len(tasks) - k):.0f} s left)")
    plain = selections.get("plain", {})
    result = {"config": {"chips": cfg.chips, "times": [list(t) for t in cfg.times], "test_images": len(y),
                         "budget": cfg.budget, "quick": cfg.quick, "jobs": jobs, "encoding": cfg.encoding.label,
                         "network": net.name, "claim_method": "all3" if digits else "bn",
                         "chip_seeds": [CHIP_SEED_BASE + i for i in range(cfg.chips)],
                         "weights_reprogrammed": int(sum(int(s.sum()) for s in plain.values())),
                         "weights_total": sum(int(s.size) for s in plain.values())},
              "fixed": fixed,
              "accuracy": {m: acc[m].tolist() for m in methods},
              "info": {m: info[m] for m in methods if m in _SR + ("gdc",)},
              "runtime_s": round(time.time() - t_start, 1)}
    result.update(summarise(result))
    return result


def summarise(result):
    """Mean, spread and verdicts from a result's per-chip accuracies (also used on a loaded JSON)."""
    times = [t for _, t in result["config"]["times"]]
    n_img = result["config"]["test_images"]
    summary = {}
    for m, a in result["accuracy"].items():
        a = np.asarray(a)
        summary[m] = {"mean": a.mean(axis=0).tolist(), "std": a.std(axis=0, ddof=1 if len(a) > 1 else 0).tolist(),
                      "min": a.min(axis=0).tolist(), "max": a.max(axis=0).tolist()}
    fp32 = result["fixed"]["fp32"]
    claimed = result["config"].get("claim_method", "all3")
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
    f, w, r = v["fraction_of_fp32"], v["within_fresh"], v["resolution"]
    out.write(f"\nAccuracy in percent on {cfg['test_images']} test images, mean ± standard deviation over "
              f"{count_text(cfg['chips'], 'chip')} (seeds {cfg['chip_seeds'][0]}..{cfg['chip_seeds'][-1]}), "
              f"{cfg.get('encoding', InputEncoding.BIT_SERIAL.label)} inputs"
              + (f"; selective reprogramming rewrites {cfg['weights_reprogrammed']} of {cfg['weights_total']} weights "
                 f"({2 * cfg['weights_reprogrammed']} devices, budget {100 * cfg['budget']:g}%) at each time"
                 if cfg["weights_total"] else "") + ".\n\n")
    claimed = "three remedies" if cfg.get("claim_method", "all3") == "all3" else LABELS[cfg["claim_method"]]
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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("json", "csv", "md", "png")}
    paths["json"].write_text(json.dumps(result, indent=1) + "\n")
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
