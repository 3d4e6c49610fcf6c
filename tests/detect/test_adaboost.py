"""AdaBoost's one-pass stumps against brute force and scikit-learn; weighted-rect features
against the Viola–Jones definitions; variance normalisation against numpy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

from vedere.detect import adaboost
from vedere.detect.haar import enumerate_features, feature_values
from vedere.detect.normalize import window_integrals
from vedere.detect.rect_features import from_haar


def brute_force_stump(values, signed):
    """Every threshold between distinct values (and beyond both ends), both polarities."""
    v = np.unique(values)
    cands = np.concatenate([[v[0] - 1], (v[:-1] + v[1:]) / 2, [v[-1] + 1]])
    faces = signed > 0
    w = np.abs(signed)
    best = np.inf
    for t in cands:
        below = values < t
        best = min(best, w[below != faces].sum(), w[below == faces].sum())
    return best


@st.composite
def problems(draw):
    n = draw(st.integers(2, 40))
    f = draw(st.integers(1, 6))
    levels = draw(st.integers(1, 6))  # few distinct values: many ties
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    values = rng.integers(0, levels, (f, n)).astype(np.float32)
    labels = rng.integers(0, 2, n)
    labels[0], labels[-1] = 1, 0
    w = rng.random(n) + 0.01
    w /= w.sum()
    return values, np.where(labels == 1, w, -w)


@settings(max_examples=200, deadline=None)
@given(problems())
def test_one_pass_errors_equal_brute_force_even_with_ties(problem):
    values, signed = problem
    order = adaboost.presort(lambda idx: values[idx], len(values))
    errors = adaboost.stump_errors(order, signed)
    for f in range(len(values)):
        expect = brute_force_stump(values[f], signed)
        assert errors[f] == pytest.approx(expect, abs=1e-12)
        err, thr, pol = adaboost.exact_stump(values[f], signed)
        assert err == pytest.approx(expect, abs=1e-12)
        stump = adaboost.Stump(0, thr, pol, err, 1.0)
        wrong = stump.predict(values[f]).astype(bool) != (signed > 0)
        assert np.abs(signed)[wrong].sum() == pytest.approx(err, abs=1e-12)


def test_uint32_order_beyond_15_bits():
    rng = np.random.default_rng(0)
    n = 2**15 + 10
    values = rng.normal(size=(2, n)).astype(np.float32)
    values[1, :100] = 0.0  # ties
    signed = np.where(rng.random(n) < 0.5, 1.0, -1.0) / n
    order = adaboost.presort(lambda idx: values[idx], 2)
    assert order.dtype == np.uint32
    errors = adaboost.stump_errors(order, signed)
    for f in range(2):
        assert errors[f] == pytest.approx(adaboost.exact_stump(values[f], signed)[0], abs=1e-12)


def naive_adaboost(X, y, rounds):
    """Table 1 of the paper, literally: every feature, every threshold, both polarities."""
    _n, f = X.shape
    n_pos, n_neg = y.sum(), (1 - y).sum()
    w = np.where(y == 1, 1 / (2 * n_pos), 1 / (2 * n_neg))
    chosen = []
    for _ in range(rounds):
        w = w / w.sum()
        best = (np.inf, None)
        for j in range(f):
            v = np.unique(X[:, j])
            for t in np.concatenate([[v[0] - 1], (v[:-1] + v[1:]) / 2, [v[-1] + 1]]):
                for p in (1, -1):
                    h = (p * X[:, j] < p * t).astype(int)
                    e = w[h != y].sum()
                    if e < best[0] - 1e-15:
                        best = (e, (j, h))
        e, (j, h) = best
        beta = e / (1 - e)
        w = w * beta ** (1 - np.abs(h - y))
        chosen.append((j, e, np.log(1 / beta), h))
    return chosen


def test_boosting_matches_a_literal_implementation_of_the_paper():
    rng = np.random.default_rng(3)
    n, f = 120, 8
    X = np.round(rng.normal(size=(n, f)), 1).astype(np.float32)  # rounded: ties
    y = ((X[:, 0] + 0.5 * X[:, 3] - 0.3 * X[:, 7] + 0.3 * rng.normal(size=n)) > 0.2).astype(int)
    vals = np.ascontiguousarray(X.T)
    boost = adaboost.AdaBoost(lambda idx: vals[idx], f, y)
    for _ in range(8):
        boost.step()
    ref = naive_adaboost(X.astype(np.float64), y, 8)
    for s, (j, e, alpha, h) in zip(boost.stumps, ref, strict=True):
        assert s.error == pytest.approx(e, abs=1e-9)
        assert s.alpha == pytest.approx(alpha, rel=1e-6)
        if s.feature == j:  # equal errors may tie between features
            np.testing.assert_array_equal(s.predict(vals[j]), h)


def test_strong_classifier_agrees_with_scikit_learn_samme_given_the_same_stumps():
    """SAMME with two classes re-weights incorrect samples by e^α while the paper shrinks the
    correct ones by β = e^−α: after normalisation the weights, errors and α are the same.
    Fitting scikit-learn's AdaBoost on our own stumps' outputs as features (so its depth-1
    trees can only reproduce them) must give our α and decisions."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = ((X[:, 1] - X[:, 4] + 0.5 * rng.normal(size=200)) > 0).astype(int)
    vals = np.ascontiguousarray(X.T)
    boost = adaboost.AdaBoost(lambda idx: vals[idx], 6, y)
    boost.step()
    s = boost.stumps[0]
    n_pos, n_neg = y.sum(), (1 - y).sum()
    w0 = np.where(y == 1, 1 / (2 * n_pos), 1 / (2 * n_neg))
    H = s.predict(vals[s.feature])[:, None].astype(float)
    sk = AdaBoostClassifier(estimator=DecisionTreeClassifier(max_depth=1), n_estimators=1).fit(
        H, y, sample_weight=w0
    )
    assert sk.estimator_weights_[0] == pytest.approx(s.alpha)
    assert sk.estimator_errors_[0] == pytest.approx(s.error)
    np.testing.assert_array_equal(sk.predict(H), s.predict(vals[s.feature]))


def test_weights_follow_the_paper():
    rng = np.random.default_rng(5)
    vals = rng.normal(size=(4, 50)).astype(np.float32)
    y = (vals[1] > 0).astype(int)
    y[:3] = 1 - y[:3]  # some noise: the best stump errs
    boost = adaboost.AdaBoost(lambda idx: vals[idx], 4, y)
    w = boost.weights / boost.weights.sum()
    s = boost.step()
    correct = s.predict(vals[s.feature]).astype(bool) == y.astype(bool)
    beta = s.error / (1 - s.error)
    assert s.error == pytest.approx(w[~correct].sum())
    np.testing.assert_allclose(boost.weights, w * np.where(correct, beta, 1.0))


def test_adaboost_rejects_one_class():
    with pytest.raises(ValueError, match="both classes"):
        adaboost.AdaBoost(lambda idx: np.zeros((len(idx), 3), np.float32), 2, np.ones(3))


def test_weighted_rect_features_equal_the_haar_definitions(rng):
    windows = rng.integers(0, 256, (7, 24, 24), dtype=np.uint8)
    haar = enumerate_features(24, 24)
    pick = rng.choice(len(haar), 3000, replace=False)
    rects = from_haar(haar[pick])
    assert (rects.weights != 0).sum(1).max() <= 3
    ii, _inv, _ = window_integrals(windows)
    expect = feature_values(ii, haar[pick]).astype(np.float32)
    np.testing.assert_array_equal(rects.values(ii), expect)
    flat = ii.reshape(7, -1).astype(np.float32)
    np.testing.assert_array_equal(rects.dense(24, 24) @ flat.T, expect)


def test_variance_normalisation_is_inner_area_times_std(rng):
    windows = rng.integers(0, 256, (20, 24, 24), dtype=np.uint8)
    windows[0] = 77  # flat: not examined
    windows[1] = rng.integers(100, 108, (24, 24))  # σ < 10: not examined
    _, inv, ok = window_integrals(windows)
    inner = windows[:, 1:23, 1:23].astype(np.float64).reshape(20, -1)
    nf = 484 * inner.std(axis=1)
    assert not ok[0] and not ok[1] and ok[2:].all()
    np.testing.assert_allclose(inv[2:], 1 / nf[2:], rtol=1e-6)
