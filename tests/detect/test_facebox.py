"""The map from detection window to face box (vedere.detect.facebox) and the calibration of
the shipped cascade against OpenCV's stock frontal-face cascade."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.detect.photos import PHOTOS, lfw_scenes
from vedere.detect.cascade import CascadeFileError, load_cascade, parse_cascade
from vedere.detect.detector import detect, detect_scaled
from vedere.detect.facebox import FaceBox, fit_face_box, iou, match_boxes
from vedere.detect.library import cascade_path, resolve_cascade

STOCK_XML = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"


@pytest.fixture(scope="module")
def shipped():
    return resolve_cascade("frontalface")


def opencv_boxes(gray, min_size=(0, 0)):
    cv = cv2.CascadeClassifier(str(STOCK_XML))
    return np.asarray(cv.detectMultiScale(gray, 1.1, 3, minSize=min_size)).reshape(-1, 4)


def test_map_follows_the_formula_with_worked_numbers():
    fb = FaceBox(dx=0.1, dy=-0.2, scale=1.5)
    # window (100, 50, 40, 40): centre (120 + 4, 70 − 8) = (124, 62), side 60
    assert fb.apply(np.array([[100, 50, 40, 40]])).tolist() == [[94, 32, 60, 60]]
    # clipped to a 70×110 (H×W) image: x from 94 to 110, y from 32 to 70
    assert fb.apply(np.array([[100, 50, 40, 40]]), (70, 110)).tolist() == [[94, 32, 16, 38]]
    # a box overhanging the top-left corner starts at 0
    assert FaceBox(0, 0, 2.0).apply(np.array([[2, 3, 10, 10]]), (50, 50)).tolist() == [
        [0, 0, 17, 18]
    ]
    ident = np.array([[3, 4, 25, 25], [0, 0, 24, 24]])
    assert FaceBox().apply(ident, (30, 30)).tolist() == ident.tolist()
    assert FaceBox().apply(np.zeros((0, 4))).shape == (0, 4)


def test_fit_recovers_a_known_map_despite_outliers():
    rng = np.random.default_rng(0)
    true = FaceBox(dx=0.03, dy=-0.09, scale=1.47)
    side = rng.integers(24, 200, 60).astype(float)
    win = np.column_stack([rng.integers(0, 500, (60, 2)), side, side])
    # the face boxes the true map gives, unrounded, plus a pixel of noise
    cx = win[:, 0] + side / 2 + true.dx * side + rng.normal(0, 1, 60)
    cy = win[:, 1] + side / 2 + true.dy * side + rng.normal(0, 1, 60)
    s = true.scale * side
    faces = np.column_stack([cx - s / 2, cy - s / 2, s, s])
    faces[:5, 2:] *= 2.5  # a few pairs that are not the same face
    got = fit_face_box(win, faces)
    assert got.dx == pytest.approx(true.dx, abs=0.01)
    assert got.dy == pytest.approx(true.dy, abs=0.01)
    assert got.scale == pytest.approx(true.scale, abs=0.01)
    with pytest.raises(ValueError):
        fit_face_box(np.zeros((0, 4)), np.zeros((0, 4)))


def test_iou_and_matching_against_worked_numbers():
    a = np.array([[0, 0, 10, 10], [100, 100, 20, 20]])
    b = np.array([[5, 0, 10, 10], [300, 300, 5, 5], [104, 104, 10, 10]])
    # 50 / (100 + 100 − 50) = 1/3;  100 / 400 = 1/4
    assert iou(a, b)[0, 0] == pytest.approx(1 / 3)
    assert iou(a, b)[1, 2] == pytest.approx(100 / 400)
    assert iou(a, b)[0, 1] == 0
    # a[0]'s centre (5, 5) lies on b[0]'s edge, b[0]'s centre (10, 5) on a[0]'s: a pair
    assert match_boxes(a, b) == [(1, 2), (0, 0)]
    assert match_boxes(a, np.zeros((0, 4))) == []


def test_old_cascade_files_and_opencv_cascades_load_with_the_identity_map(shipped, tmp_path):
    d = shipped.to_dict()
    assert "face_box" in d  # the shipped cascade is calibrated ...
    del d["face_box"]  # ... a file written before the map existed has none
    old = parse_cascade(json.dumps(d).encode(), "old.json")
    assert old.face_box == FaceBox() and old.face_box.is_identity
    stock = load_cascade(STOCK_XML)
    assert stock.face_box.is_identity
    g = PHOTOS["astronaut"]()
    # with the identity map, boxes are the windows: the old file gives today's boxes
    raw = detect(g, shipped, raw_window=True)
    assert detect(g, old).boxes.tolist() == raw.boxes.tolist()
    # the map survives a JSON round trip; OpenCV's XML has no place for it
    shipped.save(tmp_path / "c.json")
    assert load_cascade(tmp_path / "c.json").face_box == shipped.face_box
    shipped.save(tmp_path / "c.xml")
    assert load_cascade(tmp_path / "c.xml").face_box.is_identity


def test_detect_reports_mapped_windows_by_default(shipped):
    g = PHOTOS["two_faces_on_coffee"]()
    raw = detect(g, shipped, raw_window=True)
    found = detect(g, shipped)
    assert len(raw) >= 2
    assert found.boxes.tolist() == shipped.face_box.apply(raw.boxes, g.shape).tolist()
    assert found.neighbors.tolist() == raw.neighbors.tolist()
    assert (found.boxes[:, 2] > raw.boxes[:, 2]).all()
    # detect_scaled (the playground's path) passes the option through
    scaled, _ = detect_scaled(g, shipped, max_side=300, raw_window=True)
    assert (scaled.boxes[:, 2] < detect_scaled(g, shipped, max_side=300)[0].boxes[:, 2]).all()


@pytest.mark.parametrize(
    "face_box, problem",
    [
        ({"scale": 1e308}, "scale must be in"),
        ({"scale": -1}, "scale must be in"),
        ({"dx": 10**39}, "within"),
        ({"dy": float("nan")}, "malformed cascade"),
        ({"dy": "0.1"}, "dy must be a number"),
        ({"dx": True}, "dx must be a number"),
        ([1, 2, 3], "face_box must be an object"),
        ({"scale": 1.5, "shift": 1}, "unknown fields"),
    ],
)
def test_bad_face_box_in_a_file_is_a_clear_error(shipped, face_box, problem):
    d = shipped.to_dict()
    d["face_box"] = face_box
    with pytest.raises(CascadeFileError, match=problem) as e:
        parse_cascade(json.dumps(d).encode(), "bad.json")
    assert "bad.json" in str(e.value)


def test_the_api_refuses_numbers_float_cannot_hold():
    with pytest.raises(ValueError, match="dx must be finite"):
        FaceBox(dx=10**400)


def test_calibrated_boxes_cover_the_face_like_opencv_on_held_out_photos(shipped):
    # held out from bench/calibrate_boxes.py's fit: LFW faces 50-99 (here 50-61, the first
    # six of its scenes) and the astronaut; the fit saw LFW faces 0-49 and the synthetic
    # scenes only
    # (faces of 60 px and more: small windows are not scanned, which saves most of the time)
    photos = [*lfw_scenes(range(50, 62), seed=1), PHOTOS["astronaut"]()]
    before, after = [], []
    for g in photos:
        raw = detect(g, shipped, min_size=(36, 36), raw_window=True).boxes
        ref = opencv_boxes(g, min_size=(48, 48))
        face = shipped.face_box.apply(raw, g.shape)
        for i, j in match_boxes(raw, ref):
            before.append(iou(raw[i], ref[j])[0, 0])
            after.append(iou(face[i], ref[j])[0, 0])
    assert len(after) >= 8  # both cascades find most of these faces
    after, before = np.array(after), np.array(before)
    assert (after >= 0.5).all(), np.round(after, 3)
    assert after.mean() >= 0.75
    assert before.mean() < 0.5  # the raw windows are the problem the map solves


def test_shipped_file_path_is_the_calibrated_one():
    assert load_cascade(cascade_path("frontalface")).face_box.scale > 1.3
