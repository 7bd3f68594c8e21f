"""Calibration images as the ONNX importer takes them (``neurophase import NET.onnx --calib CALIB.npz``).

Ref: docs/architecture.md §4 (activation scales come from calibration inputs).

File format: one ``.npz`` holding ``images``, a float32 array N x H x W x C (channels last, as the twin's host
side holds activations) with every value in [0, 1]. The importer transposes to the network's NCHW input.

:func:`sample_photo_crops` makes natural calibration images for ImageNet-sized networks from the two photographs
scikit-learn ships (``sklearn.datasets.load_sample_images``: china.jpg and flower.jpg, 427 x 640 RGB, no download):
per photograph, the full-height centre square scaled down to the output size, then five native-resolution crops
(the four corners and the centre), in that order. Everything is deterministic (no random draw).
"""

from pathlib import Path

import numpy as np

from neurophase.model.checks import check_finite_array, check_int

__all__ = ["IMAGES_KEY", "save_calibration_images", "load_calibration_images", "sample_photo_crops",
           "resize_bilinear"]

IMAGES_KEY = "images"


def _check_images(images):
    a = check_finite_array("calibration images", images, np.float32)
    if a.ndim != 4 or 0 in a.shape:
        raise ValueError(f"calibration images must be a non-empty N x H x W x C array, got shape {a.shape}")
    if a.min() < 0 or a.max() > 1:
        raise ValueError(f"calibration images must lie in [0, 1], got values in [{a.min():g}, {a.max():g}]")
    return a


def save_calibration_images(path, images):
    """Write ``images`` (N x H x W x C, floats in [0, 1]) to ``path`` as an .npz under ``images``; returns the path."""
    a = _check_images(images)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:               # a file object: np.savez would append ".npz" to a bare name
        np.savez_compressed(f, **{IMAGES_KEY: a})
    return path


def load_calibration_images(path):
    """The N x H x W x C float32 images of a calibration file written by :func:`save_calibration_images`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"calibration file {path} does not exist")
    with np.load(path) as f:
        if IMAGES_KEY not in f.files:
            raise ValueError(f"calibration file {path} holds no '{IMAGES_KEY}' array (it holds {sorted(f.files)})")
        return _check_images(f[IMAGES_KEY])


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


def sample_photo_crops(size=224):
    """Twelve size x size x 3 RGB images in [0, 1] (float32) from scikit-learn's two sample photographs:
    per photograph the centre square scaled to ``size``, then the four corner crops and the centre crop."""
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
    return np.clip(np.stack(out), 0, 1).astype(np.float32)
