"""BatchNorm1d/2d against PyTorch: training output and gradients, running statistics, eval."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vedere.nn import BatchNorm1d, BatchNorm2d


def _pair(layer, rng):
    """A torch twin of ``layer`` with the same (random) γ, β."""
    ref_cls = torch.nn.BatchNorm2d if isinstance(layer, BatchNorm2d) else torch.nn.BatchNorm1d
    ref = ref_cls(layer.num_features, layer.eps, layer.momentum, dtype=torch.float64)
    layer.weight.data[:] = rng.uniform(0.5, 2, layer.num_features)
    layer.bias.data[:] = rng.standard_normal(layer.num_features)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.weight.data))
        ref.bias.copy_(torch.from_numpy(layer.bias.data))
    return ref


def _step(layer, ref, x, g):
    y = layer.forward(x)
    dx = layer.backward(g)
    tx = torch.from_numpy(x).requires_grad_()
    ty = ref(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), atol=1e-6, rtol=0)
    layer.zero_grad()
    ref.zero_grad()


@settings(max_examples=20, deadline=None)
@given(
    shape=st.sampled_from([(4, 3), (2, 3, 5), (3, 2, 4, 5), (1, 4, 3, 2), (2, 1, 1, 1)]),
    momentum=st.sampled_from([0.1, 0.5, 1.0, 0.0]),
    seed=st.integers(0, 2**16),
)
def test_batchnorm_training_eval_and_running_stats_match_torch(shape, momentum, seed):
    rng = np.random.default_rng(seed)
    layer = (BatchNorm2d if len(shape) == 4 else BatchNorm1d)(
        shape[1], eps=1e-3, momentum=momentum, dtype="float64"
    )
    ref = _pair(layer, rng)
    for _ in range(3):  # a few training steps move the running statistics
        x = rng.standard_normal(shape) * 3 + 1
        _step(layer, ref, x, rng.standard_normal(shape))
    np.testing.assert_allclose(layer.running_mean.data, ref.running_mean.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.running_var.data, ref.running_var.numpy(), atol=1e-12)
    assert int(layer.num_batches_tracked.data) == int(ref.num_batches_tracked) == 3
    layer.eval()
    ref.eval()
    x = rng.standard_normal(shape)
    _step(layer, ref, x, rng.standard_normal(shape))
    np.testing.assert_allclose(layer.running_var.data, ref.running_var.numpy(), atol=1e-12)


def test_running_variance_is_unbiased_worked_example():
    layer = BatchNorm1d(1, momentum=1.0, dtype="float64")
    layer.forward(np.array([[1.0], [2.0], [3.0], [6.0]]))
    # mean 3, Σ(x-3)² = 4+1+0+9 = 14: biased σ² = 3.5, unbiased 14/3
    np.testing.assert_allclose(layer.running_mean.data, [3.0])
    np.testing.assert_allclose(layer.running_var.data, [14 / 3])


def test_eval_output_of_one_image_does_not_depend_on_the_batch(rng):
    layer = BatchNorm2d(3, dtype="float64")
    for _ in range(5):
        layer.forward(rng.standard_normal((4, 3, 5, 5)))
    layer.eval()
    x = rng.standard_normal((6, 3, 5, 5))
    np.testing.assert_allclose(layer.forward(x)[:1], layer.forward(x[:1]), atol=1e-12)


def test_astype_converts_float_buffers_but_not_the_counter():
    layer = BatchNorm2d(4)
    assert layer.running_mean.dtype == np.float32
    layer.astype(np.float64)
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float64
    assert layer.num_batches_tracked.dtype == np.int64
    assert [b.name for b in layer.buffers()] == [
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


@pytest.mark.parametrize(
    ("layer", "shape", "match"),
    [
        (BatchNorm2d(3), (2, 4, 5, 5), r"x has shape \(2, 4, 5, 5\) but this BatchNorm2d"),
        (BatchNorm2d(3), (2, 3, 5), r"x has shape \(2, 3, 5\) but this BatchNorm2d expects"),
        (BatchNorm1d(3), (2, 3, 5, 5), r"expects \(N, C\) or \(N, C, L\) with C = 3"),
        (BatchNorm1d(3), (1, 3), r"x has shape \(1, 3\): batch statistics need more than one"),
        (BatchNorm2d(3), (1, 3, 1, 1), r"need more than one value per channel"),
    ],
)
def test_batchnorm_rejects_bad_shapes(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer.forward(np.ones(shape, dtype=np.float32))


def test_batchnorm_rejects_non_finite_and_bad_arguments():
    x = np.ones((2, 3), dtype=np.float32)
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"x \(shape \(2, 3\)\) contains 1 NaN"):
        BatchNorm1d(3).forward(x)
    with pytest.raises(ValueError, match="momentum must be a number in"):
        BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        BatchNorm2d(3, eps=0)
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        BatchNorm1d(0)
    # a single image is fine in eval mode
    assert BatchNorm2d(3).eval().forward(np.ones((1, 3, 1, 1), np.float32)).shape == (1, 3, 1, 1)
