"""Pooling layers against PyTorch (float64) over hypothesis-drawn shapes, and bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as tf
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vedere.nn import AvgPool2d, GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d


def _check_against_torch(layer, torch_fn, x, rng):
    y = layer.forward(x)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch_fn(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-6, rtol=0)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)),
    kind=st.sampled_from(["max", "avg"]),
    seed=st.integers(0, 2**16),
)
def test_pooling_matches_torch(n, c, size, kernel, stride, kind, seed):
    assume(kernel[0] <= size[0] and kernel[1] <= size[1])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, *size))
    if kind == "max":
        layer = MaxPool2d(kernel, stride)
        ref = torch.nn.MaxPool2d(kernel, stride)
    else:
        layer = AvgPool2d(kernel, stride)
        ref = torch.nn.AvgPool2d(kernel, stride)
    _check_against_torch(layer, ref, x, rng)


def test_max_pool_ties_go_to_the_first_maximum_like_torch(rng):
    x = np.zeros((1, 1, 4, 4))  # every window is a tie
    x[0, 0, 3, 3] = 1.0
    _check_against_torch(MaxPool2d(2), torch.nn.MaxPool2d(2), x, rng)
    _check_against_torch(MaxPool2d(3, 1), torch.nn.MaxPool2d(3, 1), x, rng)


def test_global_pools_match_torch(rng):
    x = rng.standard_normal((3, 4, 5, 6))
    _check_against_torch(GlobalAvgPool2d(), lambda t: t.mean(dim=(2, 3)), x, rng)
    _check_against_torch(
        GlobalMaxPool2d(), lambda t: tf.adaptive_max_pool2d(t, 1).flatten(1), x, rng
    )
    assert GlobalAvgPool2d().forward(x).shape == (3, 4)


def test_pooling_keeps_float32(rng):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    for layer in (MaxPool2d(2), AvgPool2d(2), GlobalAvgPool2d(), GlobalMaxPool2d()):
        y = layer.forward(x)
        assert y.dtype == np.float32
        assert layer.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("layer", [MaxPool2d(3), AvgPool2d((2, 5))])
def test_pooling_rejects_a_kernel_larger_than_the_input(layer):
    with pytest.raises(ValueError, match=r"x has shape \(1, 2, 2, 4\): the \dx\d kernel"):
        layer.forward(np.zeros((1, 2, 2, 4)))


@pytest.mark.parametrize("layer", [MaxPool2d(2), GlobalAvgPool2d(), GlobalMaxPool2d()])
def test_pooling_rejects_bad_rank_and_non_finite(layer):
    with pytest.raises(ValueError, match=r"x must be 4-D"):
        layer.forward(np.zeros((2, 3, 4)))
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"x \(shape \(1, 1, 2, 2\)\) contains 0 NaN and 1 inf"):
        layer.forward(x)


def test_pooling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1"):
        MaxPool2d(0)
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        AvgPool2d(2, stride=(1, 0))
