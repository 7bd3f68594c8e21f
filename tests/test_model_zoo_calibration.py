"""Calibration-image files (model/zoo/calibration.py): the format the importer takes, and the photo crops."""

import numpy as np
import pytest

from neurophase.model.zoo.calibration import (load_calibration_images, resize_bilinear, sample_photo_crops,
                                             save_calibration_images)


def test_calibration_file_round_trip_keeps_images_as_float32(tmp_path):
    images = np.random.default_rng(0).random((3, 5, 4, 2))
    path = save_calibration_images(tmp_path / "sub" / "calib", images)
    assert path == tmp_path / "sub" / "calib"
    with np.load(path) as f:
        assert f.files == ["images"]
    back = load_calibration_images(path)
    assert back.dtype == np.float32 and back.shape == (3, 5, 4, 2)
    np.testing.assert_array_equal(back, images.astype(np.float32))


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 8, 8)), "calibration images must be a non-empty N x H x W x C array, got shape (2, 8, 8)"),
    (np.zeros((0, 8, 8, 1)), "calibration images must be a non-empty N x H x W x C array, got shape (0, 8, 8, 1)"),
    (np.full((1, 2, 2, 1), 1.5), "calibration images must lie in [0, 1], got values in [1.5, 1.5]"),
    (np.full((1, 2, 2, 1), -0.25), "calibration images must lie in [0, 1], got values in [-0.25, -0.25]"),
    (np.full((1, 2, 2, 1), np.nan), "calibration images must be finite; entry (0, 0, 0, 0) is nan"),
])
def test_bad_calibration_images_are_rejected(tmp_path, images, message):
    with pytest.raises(ValueError) as e:
        save_calibration_images(tmp_path / "c.npz", images)
    assert str(e.value) == message


def test_loading_a_missing_or_foreign_file_names_the_problem(tmp_path):
    with pytest.raises(ValueError) as e:
        load_calibration_images(tmp_path / "none.npz")
    assert str(e.value) == f"calibration file {tmp_path / 'none.npz'} does not exist"
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError) as e:
        load_calibration_images(tmp_path / "other.npz")
    assert str(e.value) == f"calibration file {tmp_path / 'other.npz'} holds no 'images' array (it holds ['x'])"


def test_bilinear_resize_samples_at_pixel_centres():
    ramp = np.arange(4.0)[None, :, None] * np.ones((4, 1, 1))        # value = column
    half = resize_bilinear(ramp, 2)
    np.testing.assert_allclose(half[..., 0], [[0.5, 2.5], [0.5, 2.5]])   # centres 0.5 and 2.5 of the input
    np.testing.assert_allclose(resize_bilinear(ramp, 4), ramp)         # same size: the image itself
    np.testing.assert_allclose(resize_bilinear(np.full((7, 5, 3), 0.3), 3), np.full((3, 3, 3), 0.3))


def test_photo_crops_are_the_photographs_pixels():
    from sklearn.datasets import load_sample_images
    photos = load_sample_images().images
    crops = sample_photo_crops(224)
    assert crops.shape == (12, 224, 224, 3) and crops.dtype == np.float32
    assert 0 <= crops.min() and crops.max() <= 1
    for i, photo in enumerate(photos):
        p = photo.astype(np.float32) / 255
        first = 6 * i
        np.testing.assert_allclose(crops[first + 1], p[:224, :224], atol=1e-7)            # top left corner
        np.testing.assert_allclose(crops[first + 4], p[-224:, -224:], atol=1e-7)          # bottom right corner
        np.testing.assert_allclose(crops[first + 5], p[101:325, 208:432], atol=1e-7)      # centre
        # the scaled centre square keeps the square's mean brightness
        assert abs(crops[first].mean() - p[:, 106:533].mean()) < 0.01
    np.testing.assert_array_equal(sample_photo_crops(224), crops)
