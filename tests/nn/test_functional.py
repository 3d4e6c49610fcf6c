"""Softmax and friends: the course's worked numbers, stability, and invariants."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vedere.nn import functional as F
from vedere.nn.functional import softmax


def test_course_softmax_example():
    # the course's code cell: softmax([3.0, 1.0, 0.2]) -> [0.8360188 0.11314284 0.05083836]
    p = softmax(np.array([3.0, 1.0, 0.2]))
    np.testing.assert_allclose(p, [0.8360188, 0.11314284, 0.05083836], rtol=1e-6)


def test_course_dog_cat_mouse_scores_do_not_overflow():
    # the course's linear classifier: scores dog -54.7, cat 123.1, mouse 31.05
    with np.errstate(over="raise", under="ignore", invalid="raise"):
        p = softmax(np.array([-54.7, 123.1, 31.05]))
    np.testing.assert_allclose(p, [6.05956038e-78, 1.0, 1.05485543e-40], rtol=1e-6)
    # the naive formula of the course's code cell overflows on larger scores; ours does not
    with np.errstate(over="raise", invalid="raise"):
        q = softmax(np.array([[-54.7, 1230.1, 31.05]]))
    assert np.isfinite(q).all() and q[0, 1] == 1.0


def test_extreme_scores_give_finite_probabilities():
    for scores in ([1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]):
        for dtype in (np.float32, np.float64):
            p = softmax(np.array(scores, dtype=dtype))
            assert np.isfinite(p).all()
            assert abs(p.sum() - 1) < 1e-6


def test_softmax_matches_torch(rng):
    s = rng.standard_normal((6, 10)) * 20
    np.testing.assert_allclose(
        softmax(s), torch.softmax(torch.from_numpy(s), 1).numpy(), atol=1e-12
    )
    np.testing.assert_allclose(
        F.log_softmax(s), torch.log_softmax(torch.from_numpy(s), 1).numpy(), atol=1e-10
    )


def test_sigmoid_stable_and_matches_torch(rng):
    z = np.concatenate([rng.standard_normal(50) * 10, [-1000.0, 1000.0, 0.0]])
    with np.errstate(over="raise"):
        s = F.sigmoid(z)
    np.testing.assert_allclose(s, torch.sigmoid(torch.from_numpy(z)).numpy(), rtol=1e-12, atol=0)


def test_course_activation_derivatives(rng):
    # f'(x) = f(1 - f), 1 - f², step — against torch autograd
    z = rng.standard_normal(20)
    t = torch.from_numpy(z).requires_grad_()
    for f, grad in (
        (torch.sigmoid, F.sigmoid_grad(F.sigmoid(z))),
        (torch.tanh, F.tanh_grad(F.tanh(z))),
        (torch.relu, F.relu_grad(z)),
    ):
        (g,) = torch.autograd.grad(f(t).sum(), t)
        np.testing.assert_allclose(grad, g.numpy(), atol=1e-12)


finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 12)), elements=finite))
def test_softmax_is_a_distribution_and_shift_invariant(s):
    p = softmax(s)
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(softmax(s + 123.0), p, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 12)), elements=finite))
def test_softmax_float32_sums_to_one(s):
    p = softmax(s)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
