"""The classifiers: scikit-learn's estimator battery, accuracy against scikit-learn, files."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_classification
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.utils.estimator_checks import check_estimator

from vedere.classify import (
    LinearSVM,
    LogisticRegression,
    MLPClassifier,
    Perceptron,
    SoftmaxClassifier,
    load_classifier,
)
from vedere.errors import NotFittedError
from vedere.nn import ModelFileError

ALL = [Perceptron, LogisticRegression, SoftmaxClassifier, LinearSVM, MLPClassifier]


def small(cls, **kw):
    if cls is MLPClassifier:
        kw = {"hidden_sizes": (16,), "augment": False, "dropout": 0.0, **kw}
    return cls(**{"epochs": 40, **kw})


@pytest.mark.parametrize(
    "cls",
    # the Perceptron's battery takes about 15 s (several times the others'): slow tier
    [pytest.param(c, marks=pytest.mark.slow) if c is Perceptron else c for c in ALL],
    ids=lambda c: c.__name__,
)
def test_scikit_learn_check_estimator(cls):
    # every check of scikit-learn's battery passes; the two it skips need pandas or the
    # array API, which vedere does not claim to support
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(small(cls), on_fail=None)
    failed = [
        (r["check_name"], str(r["exception"])[:300]) for r in results if r["status"] == "failed"
    ]
    assert not failed
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input", "check_classifier_data_not_an_array"}
    assert len(results) >= 50


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_accuracy_close_to_scikit_learn(cls):
    X, y = make_classification(
        1200, 20, n_informative=8, n_classes=3, n_clusters_per_class=1, random_state=0
    )
    Xtr, ytr, Xte, yte = X[:900], y[:900], X[900:], y[900:]
    ref = SkLogistic(max_iter=2000).fit(Xtr, ytr).score(Xte, yte)
    est = small(cls, epochs=30).fit(Xtr, ytr)
    slack = 0.12 if cls is Perceptron else 0.05
    assert est.score(Xte, yte) >= ref - slack
    proba = est.predict_proba(Xte)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_string_labels_and_binary_decision_function():
    X, y = make_blobs(200, centers=2, random_state=1)
    names = np.where(y == 1, "cat", "not-cat")
    est = LogisticRegression(epochs=20).fit(X, names)
    assert est.classes_.tolist() == ["cat", "not-cat"]
    d = est.decision_function(X)
    assert d.shape == (200,)
    np.testing.assert_array_equal(est.predict(X), est.classes_[(d > 0).astype(int)])
    assert est.score(X, names) > 0.95


def test_params_round_trip_and_validation():
    est = MLPClassifier(hidden_sizes=(8, 4), lr=0.1)
    assert est.get_params()["hidden_sizes"] == (8, 4)
    est.set_params(dropout=0.5)
    assert est.dropout == 0.5
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        est.set_params(bogus=1)
    assert repr(MLPClassifier(lr=0.5)) == "MLPClassifier(lr=0.5)"
    with pytest.raises(NotFittedError):
        est.predict(np.zeros((2, 3)))


def test_images_path_with_augmentation_and_save_load(tmp_path, rng):
    # two classes of 8x8 images: bright top half vs bright bottom half (flips keep the class)
    n = 200
    images = rng.integers(0, 60, (n, 8, 8, 3), dtype=np.uint8)
    y = np.arange(n) % 2
    images[y == 0, :4] += 150
    images[y == 1, 4:] += 150
    est = SoftmaxClassifier(epochs=15, augment=True, crop_padding=1, batch_size=32)
    est.fit(images[:150], y[:150])
    assert est.preprocess_.kind == "image" and est.preprocess_.shape == (8, 8, 3)
    assert est.score(images[150:], y[150:]) > 0.9
    path = est.save(tmp_path / "m.safetensors")
    again = load_classifier(path)
    np.testing.assert_array_equal(again.predict_proba(images), est.predict_proba(images))
    assert again.get_params() == est.get_params()
    with pytest.raises(
        ValueError, match="X has 4x4x3 images, but SoftmaxClassifier is expecting 8x8x3"
    ):
        again.predict(images[:, :4, :4])


def test_plain_network_is_not_a_classifier(tmp_path):
    import vedere.nn as nn

    path = nn.save(nn.mlp([4, 2]), tmp_path / "net.safetensors")
    with pytest.raises(ModelFileError, match="not a vedere classifier"):
        load_classifier(path)


def test_validation_split_and_early_stopping_attributes():
    X, y = make_classification(600, 10, random_state=0)
    est = SoftmaxClassifier(epochs=50, validation_split=0.2, early_stopping=3, lr=0.05).fit(X, y)
    rows = est.history_.rows
    assert all(np.isfinite(r["val_loss"]) for r in rows)
    assert est.history_.stopped in ("early_stopping", "epochs")


# -- model files that may be hostile (issues 11, 12) ---------------------------------------------
def classifier_meta(**changes):
    meta = {
        "estimator": "SoftmaxClassifier",
        "params": {"epochs": 3},
        "classes": ["a", "b", "c"],
        "classes_dtype": "<U1",
        "preprocess": {"kind": "vector", "shape": [4], "mean": [0.0] * 4, "std": [1.0] * 4},
    }
    meta.update(changes)
    return meta


def classifier_file(tmp_path, n_in=4, n_out=3, **changes):
    import vedere.nn as nn

    net = nn.mlp([n_in, n_out], rng=0)
    return nn.save(net, tmp_path / "clf.safetensors", extra=classifier_meta(**changes))


def test_hand_made_classifier_file_loads(tmp_path):
    est = load_classifier(classifier_file(tmp_path))
    assert est.classes_.tolist() == ["a", "b", "c"] and est.n_features_in_ == 4
    assert est.predict(np.zeros((2, 4))).shape == (2,)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"classes_dtype": "<U100000000"}, "classes_dtype"),
        ({"classes_dtype": "O"}, "classes_dtype"),
        ({"classes_dtype": ["<U1"]}, "classes_dtype"),
        ({"classes_dtype": "<U2000"}, "class names of 2,000 characters"),
        ({"classes": ["a", "b"]}, "2 class names for a network with 3 outputs"),
        ({"classes": [str(i) for i in range(20)], "classes_dtype": "<U2"}, "20 class names"),
        ({"classes": ["a", "a", "b"]}, "distinct"),
        ({"classes": ["abc", "b", "c"]}, "longer than"),
        ({"classes": [["a"], "b", "c"]}, "list of labels"),
        ({"classes": [2**70, 1, 2], "classes_dtype": "<i8"}, "classes"),
        ({"estimator": ["SoftmaxClassifier"]}, "not a vedere classifier"),
        ({"params": [1, 2]}, "params and run must be objects"),
        ({"params": {"bogus": 1}}, "invalid classifier metadata"),
        ({"run": "x"}, "params and run must be objects"),
        ({"preprocess": [1]}, "preprocess must be an object"),
        ({"preprocess": {"kind": "vector", "shape": ["4"]}}, "preprocess shape"),
        ({"preprocess": {"kind": "vector", "shape": [2**64 + 4]}}, "preprocess shape"),
        ({"preprocess": {"kind": "audio", "shape": [4]}}, "unknown input kind"),
        (
            {"preprocess": {"kind": "vector", "shape": [4], "mean": [0.0] * 3, "std": [1.0] * 4}},
            "mean must be 4 finite numbers",
        ),
        (
            {"preprocess": {"kind": "vector", "shape": [4], "mean": [0.0] * 4, "std": [0.0] * 4}},
            "std must be positive",
        ),
        (
            {"preprocess": {"kind": "vector", "shape": [4], "mean": [1e300] * 4, "std": [1.0] * 4}},
            "finite in float32",
        ),
        (
            {"preprocess": {"kind": "vector", "shape": [5], "mean": [0.0] * 5, "std": [1.0] * 5}},
            r"does not accept the \(5,\) input",
        ),
    ],
)
def test_bad_classifier_metadata_is_a_model_file_error(tmp_path, changes, problem):
    path = classifier_file(tmp_path, **changes)
    with pytest.raises(ModelFileError, match=rf"clf\.safetensors: .*{problem}"):
        load_classifier(path)


@pytest.mark.parametrize(
    "shape", [[-32, -32, 3], [2**32, 2**32, 3], [32, 32, 0], ["32", "32", "3"], [32, 96]]
)
def test_bad_image_shape_blames_the_model_file(tmp_path, shape):
    pre = {"kind": "image", "shape": shape, "mean": [0.5] * 3, "std": [0.25] * 3}
    path = classifier_file(tmp_path, n_in=3072, n_out=3, preprocess=pre)
    with pytest.raises(ModelFileError, match=r"clf\.safetensors: .*preprocess shape"):
        load_classifier(path)


def test_image_classifier_file_with_matching_shape_loads(tmp_path):
    pre = {"kind": "image", "shape": [32, 32, 3], "mean": [0.5] * 3, "std": [0.25] * 3}
    est = load_classifier(classifier_file(tmp_path, n_in=3072, n_out=3, preprocess=pre))
    images = np.zeros((2, 32, 32, 3), np.uint8)
    assert est.predict_proba(images).shape == (2, 3)


def test_shipped_playground_model_still_loads():
    from vedere.web import uploads

    est = load_classifier(uploads.SHIPPED_MODEL)
    assert len(est.classes_) == 10 and est.preprocess_.shape == (32, 32, 3)


# -- score with a column y (issue 11, item 9) ------------------------------------------------------
def test_score_with_a_column_y_matches_scikit_learn_and_warns():
    from sklearn.exceptions import DataConversionWarning
    from sklearn.metrics import accuracy_score

    X, y = make_blobs(60, centers=3, cluster_std=4.0, random_state=3)
    est = SoftmaxClassifier(epochs=2).fit(X, y)
    column = y[:, None]
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        got = est.score(X, column)
    assert got == pytest.approx(accuracy_score(column, est.predict(X)))
    assert got == est.score(X, y) < 1.0  # not the N×N broadcast's mean
    with pytest.raises(ValueError, match=r"y must be 1-D .* got shape \(60, 2\)"):
        est.score(X, np.stack([y, y], axis=1))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.score(X, y[:10])


# -- seeds (item 5): explicit seeds reproduce, estimators pass theirs down ---------------------
def test_estimators_are_reproducible_from_their_seed():
    X, y = make_blobs(80, centers=3, random_state=0)
    a = MLPClassifier(hidden_sizes=(8,), dropout=0.3, epochs=2, augment=False, seed=5).fit(X, y)
    b = MLPClassifier(hidden_sizes=(8,), dropout=0.3, epochs=2, augment=False, seed=5).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
