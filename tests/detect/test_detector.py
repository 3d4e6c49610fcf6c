"""The detector against OpenCV: pyramid pixels, grouping, and whole detections with OpenCV's
stock cascade and with a cascade vedere trained and exported."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.detect.photos import PHOTOS
from vedere.detect.cascade import load_cascade
from vedere.detect.detector import detect, detect_raw
from vedere.detect.grouping import group_rectangles, iou, non_max_suppression
from vedere.detect.opencv_xml import opencv_cascade_path
from vedere.detect.resize import resize_crops, resize_linear


@pytest.fixture(scope="module")
def stock():
    path = opencv_cascade_path("frontalface_default")
    return load_cascade(path), cv2.CascadeClassifier(str(path))


def as_set(boxes):
    return sorted(map(tuple, np.asarray(boxes).reshape(-1, 4).tolist()))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(25, 300),
    st.integers(25, 300),
    st.floats(1.0, 12.0),
    st.integers(0, 2**31),
)
def test_pyramid_levels_equal_opencv_resize_bit_for_bit(h, w, factor, seed):
    img = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    dw, dh = max(1, round(w / factor)), max(1, round(h / factor))
    expect = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LINEAR_EXACT)
    np.testing.assert_array_equal(resize_linear(img, dw, dh), expect)


@settings(max_examples=40, deadline=None)
@given(st.integers(30, 200), st.integers(30, 200), st.floats(1.0, 4.0), st.integers(0, 2**31))
def test_resized_crops_equal_crops_of_opencvs_resize(h, w, factor, seed):
    """Hard-negative mining resizes only the windows it keeps: they are cv2's pixels."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w), dtype=np.uint8)
    dw, dh = max(12, round(w / factor)), max(10, round(h / factor))
    level = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LINEAR_EXACT)
    xy = np.column_stack([rng.integers(0, dw - 12 + 1, 5), rng.integers(0, dh - 10 + 1, 5)])
    crops = resize_crops(img, dw, dh, xy, (10, 12))
    for crop, (x, y) in zip(crops, xy, strict=True):
        np.testing.assert_array_equal(crop, level[y : y + 10, x : x + 12])
    with pytest.raises(ValueError, match="inside"):
        resize_crops(img, dw, dh, np.array([[dw - 11, 0]]), (10, 12))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 4), st.sampled_from([0.1, 0.2, 0.4]))
def test_grouping_equals_opencv_group_rectangles(seed, min_neighbors, eps):
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 300, (rng.integers(1, 6), 2))
    boxes = []
    for cx, cy in centres:
        s = int(rng.integers(20, 120))
        for _ in range(rng.integers(1, 9)):
            j = rng.integers(-6, 7, 3)
            boxes.append([cx + j[0], cy + j[1], s + j[2], s + j[2]])
    boxes = np.array(boxes)
    ours, counts = group_rectangles(boxes, min_neighbors, eps)
    theirs, weights = cv2.groupRectangles(boxes.tolist(), min_neighbors, eps)
    assert as_set(ours) == as_set(theirs)
    assert sorted(counts.tolist()) == sorted(np.asarray(weights).ravel().tolist())


def test_nms_keeps_the_best_of_each_overlapping_group():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10], [0, 0, 30, 30]])
    scores = np.array([1.0, 2.0, 0.5, 0.1])
    kept, sc, support = non_max_suppression(boxes, scores, overlap=0.3)
    assert as_set(kept) == as_set([[1, 1, 10, 10], [50, 50, 10, 10], [0, 0, 30, 30]])
    assert sc.tolist() == [2.0, 0.5, 0.1] and support.tolist() == [2, 1, 1]
    assert iou(boxes[:1], boxes[1:2])[0, 0] == pytest.approx(81 / 119)


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_stock_opencv_cascade_gives_opencvs_boxes(stock, name):
    cascade, cv = stock
    gray = PHOTOS[name]()
    raw, _ = detect_raw(gray, cascade, 1.1)
    assert as_set(raw) == as_set(cv.detectMultiScale(gray, 1.1, 0))  # every window
    found = detect(gray, cascade, 1.1, 3)
    expect = np.asarray(cv.detectMultiScale(gray, 1.1, 3)).reshape(-1, 4)
    assert len(expect) >= 1
    assert len(found) == len(expect)
    assert iou(found.boxes, expect).max(axis=1).min() >= 0.9
    assert as_set(found.boxes) == as_set(expect)


def test_scale_factor_and_size_limits_match_opencv(stock):
    cascade, cv = stock
    gray = PHOTOS["tiled_heads"]()
    for sf, mn, min_size, max_size in ((1.2, 2, (60, 60), None), (1.05, 4, None, (150, 150))):
        found = detect(gray, cascade, sf, mn, min_size=min_size, max_size=max_size)
        expect = cv.detectMultiScale(
            gray, sf, mn, minSize=min_size or (0, 0), maxSize=max_size or (0, 0)
        )
        assert as_set(found.boxes) == as_set(expect)


def test_small_images_give_no_boxes(stock):
    cascade, _ = stock
    assert len(detect(np.zeros((10, 30), np.uint8), cascade)) == 0
    assert len(detect(np.full((24, 24), 128, np.uint8), cascade)) == 0


def test_mirror_finds_the_mirrored_boxes_too(stock):
    cascade, _ = stock
    gray = PHOTOS["astronaut"]()
    plain = detect(gray, cascade, 1.1, 3)
    flipped = detect(np.ascontiguousarray(gray[:, ::-1]), cascade, 1.1, 3)
    both = detect(gray, cascade, 1.1, 3, mirror=True)
    mapped = flipped.boxes.copy()
    mapped[:, 0] = gray.shape[1] - mapped[:, 0] - mapped[:, 2]
    for b in np.concatenate([plain.boxes, mapped]):
        assert iou(b[None], both.boxes).max() > 0.7


def test_bad_arguments(stock):
    cascade, _ = stock
    with pytest.raises(ValueError, match="grey image"):
        detect(np.zeros((30, 30, 3), np.uint8), cascade)
    with pytest.raises(ValueError, match="scale_factor"):
        detect(np.zeros((30, 30), np.uint8), cascade, scale_factor=1.0)
    with pytest.raises(ValueError, match="grouping"):
        detect(np.zeros((30, 30), np.uint8), cascade, grouping="magic")


# --- limits and robustness -------------------------------------------------------------------


def dense_boxes(n_side: int = 50) -> np.ndarray:
    """What a cascade accepting every window gives: a grid of windows at three scales."""
    out = []
    for s in (24, 26, 29):
        for y in range(0, 2 * n_side, 2):
            for x in range(0, 2 * n_side, 2):
                out.append([x, y, s, s])
    return np.array(out)


def test_grouping_of_dense_windows_needs_linear_memory_and_equals_opencv():
    import tracemalloc

    boxes = dense_boxes(45)  # 6075 boxes: an n x n float64 matrix would be 295 MB
    group_rectangles(boxes[:50], 3)  # compile (or load) the kernel outside the measurement
    tracemalloc.start()
    try:
        ours, counts = group_rectangles(boxes, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak
    theirs, weights = cv2.groupRectangles(boxes.tolist(), 3, 0.2)
    assert as_set(ours) == as_set(theirs)
    assert sorted(counts.tolist()) == sorted(np.asarray(weights).ravel().tolist())


def test_nms_of_dense_windows_needs_linear_memory():
    import tracemalloc

    boxes = dense_boxes(45)
    scores = np.random.default_rng(0).random(len(boxes))
    tracemalloc.start()
    try:
        kept, _, support = non_max_suppression(boxes, scores, 0.3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak
    # greedy NMS leaves no two kept boxes overlapping by more than 0.3, and every box is
    # accounted for once
    ov = iou(kept, kept)
    np.fill_diagonal(ov, 0)
    assert ov.max() <= 0.3 and support.sum() == len(boxes)


def test_scale_factors_too_close_to_one_and_too_many_levels_are_refused():
    from vedere.detect.detector import scales

    assert len(scales((512, 512), (24, 24), 1.01)) == 308  # ln(512/24)/ln(1.01) + 1 levels
    for bad in (1.0000001, 1.0, 0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"at least 1\.01"):
            scales((512, 512), (24, 24), bad)
    with pytest.raises(ValueError, match="more than 1000 pyramid levels"):
        scales((10**6, 10**6), (24, 24), 1.01)


CONCURRENT = """
import threading, sys
import numpy as np
from skimage import data
from vedere.detect.detector import detect
from vedere.detect.library import resolve_cascade
from vedere.detect.samples import to_gray
c = resolve_cascade("frontalface")
images = [to_gray(data.astronaut()), to_gray(data.coffee()), to_gray(data.chelsea())]
images.append(images[0][60:156, 190:286].copy())  # small: scanned serially, without the GIL
expect = [detect(g, c).boxes for g in images]
got, errors = [], []
def work(i):
    try:
        for _ in range(2):
            got.append((i, detect(images[i], c).boxes))
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=work, args=(i % 4,)) for i in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
assert not errors, errors
assert len(got) == 16
assert all(np.array_equal(b, expect[i]) for i, b in got)
print("same boxes")
"""


def test_concurrent_detections_are_safe_with_numbas_workqueue_layer(tmp_path):
    import os
    import subprocess
    import sys

    # the workqueue layer (used where neither TBB nor OpenMP is installed) aborts the process
    # on concurrent parallel kernels; force it to show the detector never does that
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="2")
    r = subprocess.run(
        [sys.executable, "-c", CONCURRENT], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "same boxes" in r.stdout


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from([0.0005, 0.05, 0.2, 0.5, 3.0, 20.0]))
def test_clusters_equal_the_pairwise_definition(seed, eps):
    """Both clustering paths (grid, and the sweep for other eps / sizes) against connected
    components of the full pairwise similarity matrix (scipy)."""
    from scipy.sparse.csgraph import connected_components

    from vedere.detect.grouping import cluster_labels

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    xy = rng.integers(0, 80, (n, 2))
    wh = rng.integers(0 if seed % 5 == 0 else 1, 60, (n, 2))  # some zero sizes: the sweep
    boxes = np.hstack([xy, wh])
    x, y, w, h = boxes.T.astype(np.float64)
    delta = eps * (np.minimum.outer(w, w) + np.minimum.outer(h, h)) * 0.5
    sim = (
        (np.abs(np.subtract.outer(x, x)) <= delta)
        & (np.abs(np.subtract.outer(y, y)) <= delta)
        & (np.abs(np.subtract.outer(x + w, x + w)) <= delta)
        & (np.abs(np.subtract.outer(y + h, y + h)) <= delta)
    )
    _, comp = connected_components(sim, directed=False)
    _, first = np.unique(comp, return_index=True)
    rank = np.argsort(np.argsort(first))  # number components by their first member
    np.testing.assert_array_equal(cluster_labels(boxes, eps), rank[comp])
