"""Train the reference CNN on the 8x8 digits (FP32, then 8-bit QAT) and compare with the shipped weights.

Pure numpy, seeded and deterministic: with the default settings the result equals model/data/digits_cnn.npz;
with ``--drift-aware`` (device programming noise and drift spread injected, model/drift_training.py) it equals
model/data/digits_cnn_drift_aware.npz; with ``--noise-injection`` (the literature's additive Gaussian noise, Joshi et
al. 2020, at the device model's scale) model/data/digits_cnn_noise_injection.npz.
"""

import sys
import time
from pathlib import Path

import numpy as np

from neurophase.options import build_root, check_output_file, integer, number, output_file


def add_arguments(p):
    from neurophase.model.train import TrainConfig
    d = TrainConfig()
    p.add_argument("--out", type=output_file(), default=None,
                   help="weights file to write (default build/train/digits_cnn.npz, or digits_cnn_drift_aware.npz or "
                        "digits_cnn_noise_injection.npz beside it)")
    p.add_argument("--seed", type=integer(0, 2**32 - 1), default=d.seed,
                   help=f"initialisation and batch-order seed (default {d.seed})")
    p.add_argument("--epochs-fp32", type=integer(1, 10_000), default=d.epochs_fp32,
                   help=f"FP32 epochs (default {d.epochs_fp32})")
    p.add_argument("--epochs-qat", type=integer(1, 10_000), default=d.epochs_qat,
                   help=f"8-bit QAT epochs (default {d.epochs_qat})")
    p.add_argument("--drift-aware", action="store_true",
                   help="inject PCM programming noise and drift spread in every forward pass (model/drift_training.py)")
    p.add_argument("--noise-injection", action="store_true",
                   help="inject additive Gaussian weight noise at the device model's scale (Joshi et al. 2020)")
    p.add_argument("--target-time", type=number(0, above=True), default=None,
                   help="drift-aware or noise injection: seconds after programming the injected drift (or the noise "
                        "scale) is drawn at (default one day)")


def check(args):
    if args.drift_aware and args.noise_injection:
        raise ValueError("--drift-aware and --noise-injection are two trainings: give one")
    if args.target_time is not None and not (args.drift_aware or args.noise_injection):
        raise ValueError("--target-time needs --drift-aware or --noise-injection (it sets the drift or the noise "
                         "injected in training)")
    if args.out is None:
        suffix = "_drift_aware" if args.drift_aware else "_noise_injection" if args.noise_injection else ""
        args.out = check_output_file("--out", build_root() / "train" / f"digits_cnn{suffix}.npz")


def compare_params(a, b):
    """Largest absolute difference between two parameter sets (inf when their keys or shapes differ)."""
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        return float("inf")
    return max(float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0 for k in a)


def run(args):
    from neurophase.model.network import WEIGHTS_PATH, load_weights, save_weights
    from neurophase.model.train import TrainConfig, train
    cfg = TrainConfig(seed=args.seed, epochs_fp32=args.epochs_fp32, epochs_qat=args.epochs_qat)
    t0 = time.time()
    progress = lambda msg: print(f"  {msg}", file=sys.stderr, flush=True)
    if args.drift_aware:
        from neurophase.model.drift_training import DRIFT_WEIGHTS_PATH, TARGET_TIME, train_drift_aware
        params, meta = train_drift_aware(cfg, TARGET_TIME if args.target_time is None else args.target_time,
                                         progress=progress)
        reference = DRIFT_WEIGHTS_PATH
    elif args.noise_injection:
        from neurophase.model.drift_training import NOISE_INJECTION_WEIGHTS_PATH, TARGET_TIME, train_noise_injection
        params, meta = train_noise_injection(cfg, TARGET_TIME if args.target_time is None else args.target_time,
                                             progress=progress)
        reference = NOISE_INJECTION_WEIGHTS_PATH
    else:
        params, meta = train(cfg, progress=progress)
        reference = WEIGHTS_PATH
    save_weights(args.out, params, meta)
    print(f"trained in {time.time() - t0:.0f} s; wrote {args.out}")
    for label, key, note in (("FP32", "fp32", ""), ("8-bit", "int8", "  [integer digital path]")):
        print(f"{label + ' test accuracy':<20}{100 * meta[key + '_test_accuracy']:.2f}%  "
              f"(train {100 * meta[key + '_train_accuracy']:.2f}%){note}")
    if reference.exists() and Path(args.out).resolve() != reference:
        shipped, shipped_meta = load_weights(reference)
        diff = compare_params(params, shipped)
        same = "identical to" if diff == 0 else f"differ (max |diff| {diff:.3g}) from"
        print(f"weights {same} the shipped {reference.name}"
              + ("" if meta == shipped_meta else " (training settings or accuracies differ too)"))
    return 0
