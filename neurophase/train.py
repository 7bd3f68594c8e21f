"""Train the reference CNN on the 8x8 digits (FP32, then 8-bit QAT) and compare with the shipped weights.

Pure numpy, seeded and deterministic: with the default settings the result equals model/data/digits_cnn.npz.
"""

import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path("build/train/digits_cnn.npz")


def add_arguments(p):
    from .model.train import TrainConfig
    d = TrainConfig()
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"weights file to write (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"initialisation and batch-order seed (default {d.seed})")
    p.add_argument("--epochs-fp32", type=int, default=d.epochs_fp32, help=f"FP32 epochs (default {d.epochs_fp32})")
    p.add_argument("--epochs-qat", type=int, default=d.epochs_qat, help=f"8-bit QAT epochs (default {d.epochs_qat})")


def compare_params(a, b):
    """Largest absolute difference between two parameter sets (inf when their keys or shapes differ)."""
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        return float("inf")
    return max(float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0 for k in a)


def run(args):
    from .model.network import WEIGHTS_PATH, load_weights, save_weights
    from .model.train import TrainConfig, train
    cfg = TrainConfig(seed=args.seed, epochs_fp32=args.epochs_fp32, epochs_qat=args.epochs_qat)
    t0 = time.time()
    params, meta = train(cfg, progress=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True))
    save_weights(args.out, params, meta)
    print(f"trained in {time.time() - t0:.0f} s; wrote {args.out}")
    for label, key, note in (("FP32", "fp32", ""), ("8-bit", "int8", "  [integer digital path]")):
        print(f"{label + ' test accuracy':<20}{100 * meta[key + '_test_accuracy']:.2f}%  "
              f"(train {100 * meta[key + '_train_accuracy']:.2f}%){note}")
    if WEIGHTS_PATH.exists() and Path(args.out).resolve() != WEIGHTS_PATH:
        shipped, shipped_meta = load_weights()
        diff = compare_params(params, shipped)
        same = "identical to" if diff == 0 else f"differ (max |diff| {diff:.3g}) from"
        print(f"weights {same} the shipped {WEIGHTS_PATH.name}"
              + ("" if meta == shipped_meta else " (training settings or accuracies differ too)"))
    return 0
