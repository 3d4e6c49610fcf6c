"""The outlines ``plot_first_features`` draws enclose exactly the pixels a feature rectangle
sums, upright and tilted, as OpenCV sums them (``cv2.integral3``'s rotated integral image and
Lienhart's four look-ups; ``cv2.integral`` for upright rectangles)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from vedere.detect.rect_features import enumerate_tilted
from vedere.viz.haar_features import plot_first_features, rect_outline

H = W = 20


def _impulse_integrals() -> tuple[np.ndarray, np.ndarray]:
    """Per pixel (row-major), OpenCV's integral and rotated integral image of the image that
    is 1 there and 0 elsewhere: (H·W, H+1, W+1) each."""
    sums, tilted = [], []
    for k in range(H * W):
        img = np.zeros((H, W), np.uint8)
        img.flat[k] = 1
        s, _, t = cv2.integral3(img, sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)
        sums.append(s)
        tilted.append(t)
    return np.array(sums), np.array(tilted)


SUMS, TILTED = _impulse_integrals()
CENTRES = np.stack(np.meshgrid(np.arange(W), np.arange(H)), axis=-1).reshape(-1, 2)


def _enclosed(corners: np.ndarray) -> np.ndarray:
    return MplPath(corners).contains_points(CENTRES)


def test_tilted_outlines_enclose_exactly_the_pixels_opencv_sums():
    feats = enumerate_tilted(H, W)
    pick = np.random.default_rng(0).choice(len(feats), 60, replace=False)
    rects = feats.rects[pick][feats.weights[pick] != 0]  # (R, 4): every rectangle they use
    assert len(rects) >= 120
    T = TILTED
    for x, y, w, h in rects.tolist():
        summed = T[:, y, x] - T[:, y + h, x - h] - T[:, y + w, x + w] + T[:, y + w + h, x + w - h]
        assert set(np.unique(summed)) <= {0, 1}
        assert np.array_equal(summed == 1, _enclosed(rect_outline(x, y, w, h, True))), (x, y, w, h)


@pytest.mark.parametrize("rect", [(0, 0, 1, 1), (3, 2, 5, 4), (0, 7, 20, 13), (19, 19, 1, 1)])
def test_upright_outlines_enclose_exactly_the_pixels_opencv_sums(rect):
    x, y, w, h = rect
    S = SUMS
    summed = S[:, y + h, x + w] - S[:, y, x + w] - S[:, y + h, x] + S[:, y, x]
    assert np.array_equal(summed == 1, _enclosed(rect_outline(x, y, w, h)))


def test_a_tilted_cascade_is_drawn_with_turned_outlines(tmp_path, monkeypatch):
    """The first weak classifier of OpenCV's eye_tree_eyeglasses cascade is a tilted feature:
    the figure's patches are the turned outlines of its rectangles, not upright boxes."""
    from matplotlib.patches import Polygon

    from vedere.detect.library import resolve_cascade

    c = resolve_cascade("opencv:eye_tree_eyeglasses")  # opencv-python ships it
    assert c.features.tilted[c.feature[0]]
    drawn: list[np.ndarray] = []
    real_init = Polygon.__init__

    def spy(self, xy, *args, **kwargs):
        drawn.append(np.asarray(xy, dtype=float))
        real_init(self, xy, *args, **kwargs)

    monkeypatch.setattr(Polygon, "__init__", spy)
    face = np.full(c.window, 128, np.uint8)
    assert plot_first_features(c, face, tmp_path / "f.png").stat().st_size > 0
    f = int(c.feature[0])
    want = [
        rect_outline(*map(int, r), True)
        for r, wt in zip(c.features.rects[f], c.features.weights[f], strict=True)
        if wt != 0
    ]
    # panel 1 holds the first feature's patches, drawn first
    assert len(want) >= 2 and len(drawn) >= len(want)
    for a, b in zip(want, drawn, strict=False):
        assert np.allclose(a, b)
