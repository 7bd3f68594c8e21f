"""Calibration inputs for the importer (``neurophase import NET.onnx --calib CALIB.npz``), and natural images.

Ref: docs/architecture.md D9 (activation scales and ADC ranges come from calibration inputs).

File format (model/network_file.py ``load_inputs`` reads it): one ``.npz`` with the array ``x``, float32 inputs in
the network's ONNX layout, N x C x H x W for an image network. :func:`save_calibration_inputs` writes it.

:func:`photo_calibration_inputs` makes natural calibration images for ImageNet-sized networks from the two
photographs scikit-learn ships (``sklearn.datasets.load_sample_images``: china.jpg and flower.jpg, 427 x 640 RGB, no
download): per photograph, the full-height centre square scaled down to the output size, then five native-resolution
crops (the four corners and the centre), in that order; RGB values / 255 in [0, 1]. Deterministic: no random draw.
"""

from pathlib import Path

import numpy as np

from neurophase.model.checks import check_finite_array, check_int

__all__ = ["save_calibration_inputs", "photo_calibration_inputs", "resize_bilinear", "N_PHOTO_INPUTS"]

N_PHOTO_INPUTS = 12


def save_calibration_inputs(path, x):
    """Write inputs ``x`` (N x ..., the network's ONNX layout) to ``path`` as an .npz holding ``x`` (float32)."""
    a = check_finite_array("calibration inputs", x, np.float32)
    if a.ndim < 2 or 0 in a.shape:
        raise ValueError(f"calibration inputs must be a non-empty array of N inputs, got shape {a.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:               # a file object: np.savez would append ".npz" to another suffix
        np.savez_compressed(f, x=a)
    return path


def resize_bilinear(image, size):
    """``image`` (H x W x C) resampled to ``size`` x ``size`` by bilinear interpolation at pixel centres (the
    half-pixel convention of PIL and torchvision without antialiasing)."""
    size = check_int("size", size, 1)
    h, w = image.shape[:2]

    def taps(n):
        pos = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
        lo = np.floor(pos).astype(np.int64)
        return lo, np.minimum(lo + 1, n - 1), (pos - lo)[:, None]

    y0, y1, fy = taps(h)
    x0, x1, fx = taps(w)
    rows = image[y0] * (1 - fy[..., None]) + image[y1] * fy[..., None]
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


def photo_calibration_inputs(size=224):
    """:data:`N_PHOTO_INPUTS` RGB images, float32 N x 3 x size x size in [0, 1], from scikit-learn's two sample
    photographs: per photograph the centre square scaled to ``size``, then the four corner crops and the centre crop."""
    from sklearn.datasets import load_sample_images
    size = check_int("size", size, 1, 427)
    out = []
    for photo in load_sample_images().images:
        p = photo.astype(np.float64) / 255.0
        h, w = p.shape[:2]
        side = min(h, w)
        out.append(resize_bilinear(p[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2], size))
        for top, left in ((0, 0), (0, w - size), (h - size, 0), (h - size, w - size),
                          ((h - size) // 2, (w - size) // 2)):
            out.append(p[top:top + size, left:left + size])
    # interpolation weights sum to 1 but their float products can land an ulp above 1.0
    return np.clip(np.stack(out), 0, 1).astype(np.float32).transpose(0, 3, 1, 2)
