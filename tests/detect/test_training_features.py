"""Training with the other feature pools: tilted Haar features (haar-extended) and LBP
(categorical stumps); the written cascades run identically in ``cv2.CascadeClassifier``."""

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.detect.photos import PHOTOS
from tests.helpers import small_faces
from vedere.cli.main import cli
from vedere.detect.adaboost import CategoricalBoost
from vedere.detect.candidate_features import feature_pool
from vedere.detect.cascade import load_cascade
from vedere.detect.detector import detect, detect_raw
from vedere.detect.lbp import in_subset
from vedere.detect.rect_features import enumerate_tilted
from vedere.detect.samples import to_gray
from vedere.detect.training import TrainParams, train_cascade
from vedere.detect.trees import TreeBoost


def as_set(boxes) -> set[tuple[int, ...]]:
    return {tuple(map(int, b)) for b in np.asarray(boxes).reshape(-1, 4)}


def test_categorical_stump_is_the_best_set_of_codes():
    """The chosen feature's set errs by exactly its weighted misclassification, no other
    feature's best set does better, and moving any one code in or out of it does not help."""
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 2, n)
    codes = rng.integers(0, 256, (6, n)).astype(np.uint8)
    codes[3] = np.where(y == 1, rng.integers(0, 40, n), rng.integers(0, 256, n))  # informative
    boost = CategoricalBoost(codes, y)
    w0 = boost.weights / boost.weights.sum()
    s = boost.step()
    assert s.feature == 3

    def error(feature: int, member: np.ndarray) -> float:
        h = member[codes[feature]]
        return float(w0[h != (y == 1)].sum())

    member = in_subset(s.subset, np.arange(256))
    assert error(3, member) == pytest.approx(s.error)
    for f in range(6):  # each feature's best set, found code by code
        best = np.zeros(256, bool)
        for c in range(256):
            at = codes[f] == c
            best[c] = w0[at & (y == 1)].sum() > w0[at & (y == 0)].sum()
        assert error(f, best) >= s.error - 1e-12
    for c in range(256):
        flipped = member.copy()
        flipped[c] = not flipped[c]
        assert error(3, flipped) >= s.error - 1e-12


@pytest.mark.parametrize("categorical", [False, True])
def test_a_tree_errs_by_what_it_predicts_and_no_more_than_the_best_stump(categorical):
    rng = np.random.default_rng(1)
    n, f = 400, 30
    y = rng.integers(0, 2, n)
    if categorical:
        codes = rng.integers(0, 256, (f, n)).astype(np.uint8)
        codes[5] = np.where(y == 1, rng.integers(0, 128, n), rng.integers(64, 256, n))
        kw = {"codes": codes}
        values = codes
    else:
        values = rng.standard_normal((f, n)).astype(np.float32)
        values[5] += 1.5 * y  # two informative features, each alone imperfect
        values[9] -= 1.5 * y
        kw = {"values_fn": lambda idx: values[idx], "n_features": f}
    stump = TreeBoost(y, 1, **kw).step()
    boost = TreeBoost(y, 2, **kw)
    w0 = boost.weights / boost.weights.sum()
    tree = boost.step()
    assert len(tree.feature) <= 3
    h = tree.predict(values[np.array(tree.feature)])
    assert tree.error == pytest.approx(float(w0[h != y].sum()))
    assert tree.error <= stump.error + 1e-12
    assert tree.alpha == pytest.approx(np.log((1 - tree.error) / tree.error))


def test_tilted_pool_is_inside_the_window_and_sums_to_zero_on_flat_patches():
    pool = enumerate_tilted(12, 12)
    assert len(pool) > 0 and pool.tilted.all()
    pool.check_window(12, 12)
    from vedere.detect.integral import tilted_integral_images

    flat = np.full((1, 12, 12), 99, np.uint8)
    ii = cv2.integral(flat[0])[None].astype(np.int64)
    assert np.abs(pool.values(ii, tilted_integral_images(flat))).max() == 0
    ext = feature_pool("haar-extended", (12, 12), None, np.random.default_rng(0))
    assert ext.tilted.sum() == len(pool) and (~ext.tilted).sum() > 0


@pytest.fixture(scope="module")
def backgrounds():
    from skimage import data

    return [to_gray(getattr(data, n)()) for n in ("brick", "grass", "gravel")]


@pytest.mark.parametrize(
    ("features", "weak"),
    [
        ("haar-extended", "stump"),
        ("lbp", "stump"),  # lbp_row_kernels: the stump kernel (as every stock LBP cascade)
        ("lbp", "tree:2"),  # scan_kernels' general kernel, LBP build
        ("haar", "tree:2"),
        ("haar", "tree:3"),
    ],
)
def test_trained_cascades_load_in_cv2_with_the_same_windows_and_boxes(
    features, weak, backgrounds, tmp_path
):
    faces, nonfaces = small_faces()
    params = TrainParams(
        weak=weak, stages=2, max_features=800, seed=0, validation_negatives=200, features=features,
        max_weak=20,
    )  # fmt: skip
    cascade, reports = train_cascade(faces, nonfaces, backgrounds, params)
    assert cascade.n_stages == len(reports) >= 1
    assert cascade.is_lbp == (features == "lbp")
    if features == "haar-extended":
        assert cascade.tilted  # the pool's tilted features get chosen
    assert cascade.is_stumps == (weak == "stump")
    sizes = np.diff(np.r_[0, cascade.weak_ends])
    if weak == "tree:2" and features != "lbp":
        # trees of 3 nodes: the Haar scan's path for trees of more than two
        assert (sizes == 3).any()
    if weak == "tree:3":
        # trees of more than 3 nodes (the same path, deeper walks)
        assert sizes.max() > 3
    path = cascade.save(tmp_path / "c.xml")
    cv = cv2.CascadeClassifier(str(path))
    assert not cv.empty()
    assert cv.getFeatureType() == (1 if features == "lbp" else 0)
    gray = PHOTOS["astronaut"]()[::2, ::2].copy()
    raw, _ = detect_raw(gray, cascade, 1.1)
    assert len(raw) > 0
    assert as_set(raw) == as_set(cv.detectMultiScale(gray, 1.1, 0))
    found = detect(gray, cascade, 1.1, 3)
    assert as_set(found.boxes) == as_set(cv.detectMultiScale(gray, 1.1, 3))


def test_train_detector_command_trains_lbp(tmp_path):
    faces, nonfaces = small_faces()
    for name, arr in (("faces", faces), ("nonfaces", nonfaces)):
        (tmp_path / name).mkdir()
        for i, w in enumerate(arr):
            Image.fromarray(w).save(tmp_path / name / f"{i:04d}.png")
    from skimage import data

    (tmp_path / "bg").mkdir()
    Image.fromarray(data.brick()).save(tmp_path / "bg" / "brick.png")
    out = tmp_path / "lbp.xml"
    res = CliRunner().invoke(
        cli,
        [
            "train-detector", "--faces", str(tmp_path / "faces"), "--nonfaces",
            str(tmp_path / "nonfaces"), "--backgrounds", str(tmp_path / "bg"), "--out", str(out),
            "--stages", "1", "--max-features", "300", "--max-weak", "10", "--features", "lbp",
            "--no-cifar-sample", "--weak", "tree:2",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "candidate lbp features" in res.output
    assert cv2.CascadeClassifier(str(out)).getFeatureType() == 1
    assert not load_cascade(out).is_stumps
    for bad_weak in ("tree:0", "tree:9", "forest"):
        bad = CliRunner().invoke(
            cli, ["train-detector", "--faces", str(tmp_path / "faces"), "--backgrounds",
                  str(tmp_path / "bg"), "--out", str(tmp_path / "x.xml"), "--weak", bad_weak],
        )  # fmt: skip
        assert bad.exit_code == 2 and "--weak" in bad.output, bad.output
    bad = CliRunner().invoke(cli, ["train-detector", "--features", "hog", "--faces", "x"])
    assert bad.exit_code == 2 and "hog" in bad.output


def test_compiled_lbp_codes_equal_the_block_sum_codes():
    from vedere.detect.candidate_features import lbp_codes
    from vedere.detect.lbp import enumerate_lbp_features
    from vedere.detect.normalize import window_integrals

    # 150 windows: two whole blocks of the kernel (LBP_BLOCK = 64) and a part of one
    windows = np.random.default_rng(2).integers(0, 256, (150, 18, 15)).astype(np.uint8)
    windows[:5] = 77  # flat windows: every block equals the centre, code 255
    feats = enumerate_lbp_features(18, 15)
    codes = lbp_codes(feats, windows)
    np.testing.assert_array_equal(codes, feats.values(window_integrals(windows)[0]))
    assert (codes[:, :5] == 255).all()
