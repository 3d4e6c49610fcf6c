"""Integral image and Haar-like features against numpy, OpenCV and scikit-image."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.feature import haar_like_feature, haar_like_feature_coord
from skimage.transform import integral_image as sk_integral

from vedere.detect.haar import TYPES, enumerate_features, feature_values
from vedere.detect.integral import (
    integral_image,
    integral_image_loops,
    rect_sum,
    squared_integral_image,
    window_mean_std,
)

images = arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)))


@settings(max_examples=100, deadline=None)
@given(images)
def test_integral_image_is_double_cumsum_and_the_recurrences(img):
    ii = integral_image(img)
    assert ii.shape == (img.shape[0] + 1, img.shape[1] + 1)
    np.testing.assert_array_equal(ii[1:, 1:], img.astype(np.int64).cumsum(0).cumsum(1))
    np.testing.assert_array_equal(ii, integral_image_loops(img))


@settings(max_examples=50, deadline=None)
@given(images)
def test_integral_image_matches_opencv(img):
    s, sq = cv2.integral2(img, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    np.testing.assert_array_equal(integral_image(img), s)
    np.testing.assert_allclose(squared_integral_image(img), sq)


@settings(max_examples=100, deadline=None)
@given(images, st.data())
def test_rect_sum_is_four_lookups(img, data):
    h, w = img.shape
    r0 = data.draw(st.integers(0, h))
    r1 = data.draw(st.integers(r0, h))
    c0 = data.draw(st.integers(0, w))
    c1 = data.draw(st.integers(c0, w))
    assert rect_sum(integral_image(img), r0, c0, r1, c1) == img[r0:r1, c0:c1].astype(np.int64).sum()


def test_window_mean_std(rng):
    img = rng.integers(0, 256, (30, 40)).astype(np.uint8)
    mean, std = window_mean_std(integral_image(img), squared_integral_image(img), 3, 5, 24, 24)
    win = img[3:27, 5:29].astype(np.float64)
    assert mean == pytest.approx(win.mean()) and std == pytest.approx(win.std())


def test_float_and_bad_images():
    f = np.array([[0.5, 1.5], [2.0, 3.0]])
    np.testing.assert_allclose(integral_image(f)[-1, -1], 7.0)
    with pytest.raises(ValueError, match="must be 2-D"):
        integral_image(np.zeros((2, 2, 3)))


def test_count_of_features_in_a_24x24_window():
    f = enumerate_features(24, 24)
    assert len(f) == 162_336
    for t in TYPES:
        coords, _ = haar_like_feature_coord(24, 24, t)
        assert (f.kind == TYPES.index(t)).sum() == len(coords)


def _key(rects):
    """skimage's inclusive [(r0, c0), (r1, c1)] rectangles → our half-open tuples."""
    return tuple((int(a[0]), int(a[1]), int(b[0]) + 1, int(b[1]) + 1) for a, b in rects)


@pytest.mark.parametrize("size", [(24, 24), (9, 13)])
def test_coordinates_and_values_match_scikit_image(size, rng):
    h, w = size
    ours = enumerate_features(h, w)
    windows = rng.integers(0, 256, (3, h, w)).astype(np.uint8)
    values = feature_values(np.stack([integral_image(x) for x in windows]), ours)
    mine = {tuple(r[:4] for r in ours.rects(i)): i for i in range(len(ours))}
    assert len(mine) == len(ours)  # no duplicates
    for t in TYPES:
        coords, types = haar_like_feature_coord(w, h, t)  # (width, height)
        keys = [_key(rects) for rects in coords]
        assert all(k in mine for k in keys), t
        idx = np.array([mine[k] for k in keys])
        for n, win in enumerate(windows):
            ref = haar_like_feature(sk_integral(win), 0, 0, w, h, types, feature_coord=coords)
            np.testing.assert_array_equal(values[idx, n], ref)


def test_unknown_type_and_bad_integral_shape():
    with pytest.raises(ValueError, match="unknown Haar feature type"):
        enumerate_features(24, 24, ("type-5",))
    with pytest.raises(ValueError, match="integral images must be"):
        feature_values(np.zeros((10, 10)), enumerate_features(24, 24))
