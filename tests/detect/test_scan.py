"""The compiled pyramid scan (vedere.detect.scan) against OpenCV: its levels' integral images
against cv2.resize + cv2.integral2, and its windows — however the levels are batched and
whether the scan runs serially or on the worker threads — against detectMultiScale."""

import cv2
import numpy as np
import pytest

from tests.detect.photos import PHOTOS
from vedere.detect import haar_row_kernels, lbp_row_kernels, pyramid_kernels, scan, scan_kernels
from vedere.detect.cascade import load_cascade
from vedere.detect.detector import detect_raw
from vedere.detect.opencv_xml import opencv_cascade_path


@pytest.fixture(scope="module")
def stock():
    path = opencv_cascade_path("frontalface_default")
    return load_cascade(path), cv2.CascadeClassifier(str(path))


def as_set(boxes):
    return sorted(map(tuple, np.asarray(boxes).reshape(-1, 4).tolist()))


@pytest.mark.parametrize("n_parts", [1, 2])
def test_levels_are_opencvs_resize_and_integrals_modulo_2_to_the_32(n_parts):
    rng = np.random.default_rng(3)
    # bright and large enough that the squared sums pass 2^32 many times over
    gray = rng.integers(150, 256, (301, 413), dtype=np.uint8)
    sizes = [(301, 413), (250, 344), (137, 188), (24, 33), (30, 25)]
    levels = scan.build_levels(gray, sizes, n_parts)
    for i, (h, w) in enumerate(sizes):
        level = cv2.resize(gray, (w, h), interpolation=cv2.INTER_LINEAR_EXACT)
        s, s2 = cv2.integral2(level, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        ii, sq = levels.level(i)
        np.testing.assert_array_equal(ii.view(np.uint32), (s.astype(np.int64) % 2**32))
        np.testing.assert_array_equal(sq.view(np.uint32), (s2.astype(np.int64) % 2**32))
        # and a window's sums come back exact from the low 32 bits of the corner differences
        y, x, k = h - 24, w - 24, 24
        corners = sq[y + k, x + k].astype(np.int64) - sq[y, x + k] - sq[y + k, x] + sq[y, x]
        window = level[y : y + k, x : x + k].astype(np.int64)
        assert corners & 0xFFFFFFFF == (window * window).sum()


@pytest.mark.parametrize("serial_windows", [0, 10**9])
@pytest.mark.parametrize("batch_bytes", [1, scan.BATCH_BYTES])
def test_windows_equal_opencvs_in_batches_serial_and_parallel(
    stock, monkeypatch, serial_windows, batch_bytes
):
    """One level per batch or all in one; every job on the worker threads or every job on
    the calling thread: the raw windows are OpenCV's each time."""
    cascade, cv = stock
    monkeypatch.setattr(scan, "SERIAL_WINDOWS", serial_windows)
    monkeypatch.setattr(scan, "BATCH_BYTES", batch_bytes)
    gray = PHOTOS["flipped_dim_noisy"]()
    raw, _ = detect_raw(gray, cascade, 1.2)
    assert len(raw) > 0
    assert as_set(raw) == as_set(cv.detectMultiScale(gray, 1.2, 0))


def test_small_images_stay_on_the_calling_thread(stock, monkeypatch):
    """A 96x96 image's whole pyramid is one small job on the calling thread (waking threads
    for each of its 15 levels used to cost more than the scan); a bigger one is shared out
    (parallel.share) in pieces, and the boxes are the same as one thread's."""
    cascade, cv = stock
    calls = []
    real_share = scan.parallel.share

    def spy(work, n, threads):
        calls.append((n, threads))
        real_share(work, n, threads)

    monkeypatch.setattr(scan.parallel, "share", spy)
    gray = np.ascontiguousarray(PHOTOS["astronaut"]()[60:156, 190:286])
    raw, _ = detect_raw(gray, cascade, 1.1)
    assert calls == [(1, 1), (1, 1)]  # the pyramid build, the scan
    assert as_set(raw) == as_set(cv.detectMultiScale(gray, 1.1, 0))
    calls.clear()
    big = PHOTOS["astronaut"]()
    shared, _ = detect_raw(big, cascade, 1.1)
    if scan.numba.get_num_threads() > 1:
        (n_levels, t1), (n_runs, t2) = calls
        assert t1 == t2 == scan.numba.get_num_threads()
        assert n_levels > 1 and n_runs == scan.PIECES_PER_THREAD * t2
    threads = scan.numba.get_num_threads()
    scan.numba.set_num_threads(1)
    try:
        alone, _ = detect_raw(big, cascade, 1.1)
    finally:
        scan.numba.set_num_threads(threads)
    assert as_set(shared) == as_set(alone) == as_set(cv.detectMultiScale(big, 1.1, 0))


BUILD = """
import sys
import numba
import numpy as np
from vedere.nn import kernels
x = np.zeros((2, 4, 4, 3), np.float32)
out, arg = np.empty((2, 2, 2, 3), np.float32), np.empty((2, 2, 2, 3), np.uint8)
kernels.max_pool.run(sys.argv[1] == "2", x, 2, 2, 2, 2, out, arg)
try:
    print("threading layer started:", numba.threading_layer())
except ValueError:
    print("no parallel code ran")
"""


@pytest.mark.slow  # compiles in two fresh processes
def test_serial_and_parallel_builds_do_not_share_numbas_disk_cache(tmp_path):
    """Numba names its on-disk cache entries after the function, not the compile options: if
    the serial and parallel builds of a kernel shared them, the serial build would load the
    parallel one's machine code (start the worker threads — slow for small jobs — and run
    outside PARALLEL_LOCK). A fresh cache: the parallel build compiled and saved first, then
    the serial build in a new process must run no parallel code."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NUMBA_NUM_THREADS="2")
    out = []
    for n_parts in ("2", "1"):
        r = subprocess.run(
            [sys.executable, "-c", BUILD, n_parts],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        out.append(r.stdout)
    assert "threading layer started" in out[0]
    assert "no parallel code ran" in out[1], out[1]
    names = {
        d._cache._cache_file._index_name
        for twin in (
            pyramid_kernels._build_levels,
            haar_row_kernels._scan_haar_trees,
            haar_row_kernels._scan_haar_stumps,
            lbp_row_kernels._scan_lbp_rows,
            scan_kernels._scan_lbp,
        )
        for d in (twin.serial, twin.parallel)
    }
    assert len(names) == 10


# --- the opt-in paper-style scan: features scaled instead of the image -----------------------


def test_scaled_features_at_scale_one_scan_exactly_like_the_pyramid(stock):
    """At factor 1 nothing is scaled: the windows are OpenCV's first level's, bit for bit
    (stock cascade, against OpenCV; vedere's own cascade, against the pyramid scan)."""
    from vedere.detect.library import resolve_cascade

    cascade, cv = stock
    gray = PHOTOS["tiled_heads"]()
    raw, _ = detect_raw(gray, cascade, 1.1, max_size=(24, 24), scan="features")
    assert len(raw) > 0
    assert as_set(raw) == as_set(cv.detectMultiScale(gray, 1.1, 0, maxSize=(24, 24)))
    own = resolve_cascade("frontalface")
    raw, _ = detect_raw(gray, own, 1.1, max_size=(24, 24), scan="features")
    assert len(raw) > 0
    assert as_set(raw) == as_set(detect_raw(gray, own, 1.1, max_size=(24, 24))[0])


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_scaled_features_find_the_faces_opencv_finds(stock, name):
    from vedere.detect.detector import detect
    from vedere.detect.grouping import iou

    cascade, cv = stock
    gray = PHOTOS[name]()
    expect = np.asarray(cv.detectMultiScale(gray, 1.1, 3)).reshape(-1, 4)
    found = detect(gray, cascade, 1.1, 3, scan="features")
    assert len(expect) >= 1 and len(found) >= 1
    assert iou(expect, found.boxes).max(axis=1).min() >= 0.8


def test_scaled_features_stay_in_their_windows_and_still_sum_to_zero(stock):
    cascade, _ = stock
    compiled = scan.CompiledCascade(cascade)
    factors = [1.37, 2.9, 7.3]
    wins, norm, rects, stumps = scan.scaled_features(compiled, factors)
    np.testing.assert_array_equal(wins, np.rint(np.outer(factors, [24, 24])).astype(int))
    used = np.arange(3)[None, :] < compiled.n_rects[:, None]
    x, y, w, h = (rects[..., i] for i in range(4))
    inside = (x >= 0) & (y >= 0) & (w >= 1) & (h >= 1)
    inside &= (x + w <= wins[:, 1, None, None]) & (y + h <= wins[:, 0, None, None])
    assert inside[:, used].all()
    # OpenCV's features sum to 0 on a flat patch; scaled and rounded, they still do
    a = (compiled.rects[..., 2] * compiled.rects[..., 3]) * used
    assert np.abs((compiled.stumps[:, 3:6] * a).sum(axis=1)).max() == 0
    a2 = (w * h) * used
    flat = (stumps[..., 3:6].astype(np.float64) * a2).sum(axis=-1)
    assert np.abs(flat).max() <= 1e-5 * np.abs(stumps[..., 3:6] * a2).sum(axis=-1).max()
    assert norm.tolist() == [[1, 1, int(s) - 2, int(s) - 2] for s in wins[:, 0]]


def test_unknown_scan_is_refused(stock):
    from vedere.detect.detector import detect

    cascade, _ = stock
    with pytest.raises(ValueError, match="scan must be one of pyramid, features"):
        detect(np.zeros((30, 30), np.uint8), cascade, scan="paper")


def test_windows_too_big_for_32_bit_sums_are_scanned_with_64_bit_ones(stock):
    """A window's Σi² reaches 2^32 beyond about 257x257 pixels: the scaled features' big
    windows (and cascades with big windows) use int64 integral images. A 394-pixel face:
    int32 sums modulo 2^32 would scramble its variance (and the box)."""
    from PIL import Image

    from vedere.detect.detector import detect
    from vedere.detect.grouping import iou

    assert scan.sum_dtype(24 * 24)[0] is np.int32
    assert scan.sum_dtype(257 * 257)[0] is np.int32
    assert scan.sum_dtype(258 * 258)[0] is np.int64
    cascade, cv = stock
    head = PHOTOS["astronaut"]()[:300, 100:400]
    gray = np.asarray(Image.fromarray(head).resize((1200, 1200), Image.Resampling.BILINEAR))
    expect = np.asarray(cv.detectMultiScale(gray, 1.1, 3, minSize=(280, 280))).reshape(-1, 4)
    found = detect(gray, cascade, 1.1, 3, min_size=(280, 280), scan="features")
    assert len(expect) == 1 and expect[0, 2] > 300
    assert len(found) == 1
    assert iou(expect, found.boxes)[0, 0] >= 0.9
