"""Calibration inputs (model/zoo/calibration.py): written as the importer reads them (model/network_file.py
``load_inputs``), and the natural images made from scikit-learn's two photographs."""

import numpy as np
import pytest

from neurophase.model.network_file import load_inputs
from neurophase.model.zoo.calibration import photo_calibration_inputs, resize_bilinear, save_calibration_inputs


def test_calibration_file_is_what_the_importer_reads(tmp_path):
    x = np.random.default_rng(0).random((3, 2, 5, 4))
    path = save_calibration_inputs(tmp_path / "sub" / "calib.data", x)
    assert path == tmp_path / "sub" / "calib.data"
    with np.load(path) as f:
        assert f.files == ["x"] and f["x"].dtype == np.float32
    np.testing.assert_array_equal(load_inputs(path), x.astype(np.float32))


@pytest.mark.parametrize("x, message", [
    (np.zeros(3), "calibration inputs must be a non-empty array of N inputs, got shape (3,)"),
    (np.zeros((0, 1, 8, 8)), "calibration inputs must be a non-empty array of N inputs, got shape (0, 1, 8, 8)"),
    (np.full((1, 1, 2, 2), np.inf), "calibration inputs must be finite; entry (0, 0, 0, 0) is inf"),
])
def test_bad_calibration_inputs_are_rejected(tmp_path, x, message):
    with pytest.raises(ValueError) as e:
        save_calibration_inputs(tmp_path / "c.npz", x)
    assert str(e.value) == message
    assert not (tmp_path / "c.npz").exists()


def test_bilinear_resize_samples_at_pixel_centres():
    ramp = np.arange(4.0)[None, :, None] * np.ones((4, 1, 1))        # value = column
    half = resize_bilinear(ramp, 2)
    np.testing.assert_allclose(half[..., 0], [[0.5, 2.5], [0.5, 2.5]])   # centres 0.5 and 2.5 of the input
    np.testing.assert_allclose(resize_bilinear(ramp, 4), ramp)         # same size: the image itself
    np.testing.assert_allclose(resize_bilinear(np.full((7, 5, 3), 0.3), 3), np.full((3, 3, 3), 0.3))


def test_photo_inputs_are_the_photographs_pixels_in_onnx_layout():
    from sklearn.datasets import load_sample_images
    photos = load_sample_images().images
    x = photo_calibration_inputs(224)
    assert x.shape == (12, 3, 224, 224) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    images = x.transpose(0, 2, 3, 1)
    for i, photo in enumerate(photos):
        p = photo.astype(np.float32) / 255
        first = 6 * i
        np.testing.assert_allclose(images[first + 1], p[:224, :224], atol=1e-7)            # top left corner
        np.testing.assert_allclose(images[first + 4], p[-224:, -224:], atol=1e-7)          # bottom right corner
        np.testing.assert_allclose(images[first + 5], p[101:325, 208:432], atol=1e-7)      # centre
        # the scaled centre square keeps the square's mean brightness
        assert abs(images[first].mean() - p[:, 106:533].mean()) < 0.01
    np.testing.assert_array_equal(photo_calibration_inputs(224), x)
