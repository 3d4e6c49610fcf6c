"""Forward and backward of every layer against PyTorch (float64, within 1e-6)."""

import numpy as np
import pytest
import torch

from vedere.nn import (
    GELU,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)


def _torch_forward_backward(fn, x, g):
    t = torch.from_numpy(x.copy()).requires_grad_()
    out = fn(t)
    out.backward(torch.from_numpy(g))
    return out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize(
    ("layer", "torch_fn"),
    [
        (Sigmoid(), torch.sigmoid),
        (Tanh(), torch.tanh),
        (ReLU(), torch.relu),
        (LeakyReLU(0.05), lambda t: torch.nn.functional.leaky_relu(t, 0.05)),
        (Softmax(), lambda t: torch.softmax(t, dim=1)),
        (GELU(), torch.nn.functional.gelu),
        (GELU("tanh"), lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
    ],
    ids=["sigmoid", "tanh", "relu", "leaky_relu", "softmax", "gelu", "gelu_tanh"],
)
def test_activation_matches_torch(layer, torch_fn, rng):
    x = rng.standard_normal((8, 13)) * 3
    g = rng.standard_normal((8, 13))
    out = layer.forward(x)
    dx = layer.backward(g)
    t_out, t_dx = _torch_forward_backward(torch_fn, x, g)
    np.testing.assert_allclose(out, t_out, atol=1e-6, rtol=0)
    np.testing.assert_allclose(dx, t_dx, atol=1e-6, rtol=0)


def test_linear_matches_torch(rng):
    layer = Linear(13, 7, dtype="float64", rng=3)
    ref = torch.nn.Linear(13, 7, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.weight.data))
        ref.bias.copy_(torch.from_numpy(rng.standard_normal(7)))
    layer.bias.data[:] = ref.bias.detach().numpy()
    x = rng.standard_normal((9, 13))
    g = rng.standard_normal((9, 7))
    out = layer.forward(x)
    dx = layer.backward(g)
    t_out, t_dx = _torch_forward_backward(ref, x, g)
    np.testing.assert_allclose(out, t_out, atol=1e-6)
    np.testing.assert_allclose(dx, t_dx, atol=1e-6)
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), atol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), atol=1e-6)


def test_linear_gradients_accumulate_until_zero_grad(rng):
    layer = Linear(4, 3, dtype="float64", rng=0)
    x, g = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    layer.forward(x)
    layer.backward(g)
    once = layer.weight.grad.copy()
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, once)


def test_dropout_matches_torch_given_the_same_mask(rng):
    x = rng.standard_normal((6, 10))
    g = rng.standard_normal((6, 10))
    mask = rng.random((6, 10)) > 0.4
    layer = Dropout(0.4)
    layer.fixed_mask = mask
    out = layer.forward(x)
    dx = layer.backward(g)
    # torch's dropout is x * mask / (1 - p): compose it from the same mask
    t_out, t_dx = _torch_forward_backward(lambda t: t * torch.from_numpy(mask) / 0.6, x, g)
    np.testing.assert_allclose(out, t_out, atol=1e-12)
    np.testing.assert_allclose(dx, t_dx, atol=1e-12)


def test_dropout_inverted_scaling_and_eval_identity():
    x = np.ones((400, 500), dtype=np.float32)
    layer = Dropout(0.25, rng=0)
    y = layer.forward(x)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01  # each unit dropped with probability p
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)  # survivors scaled by 1/(1-p)
    assert abs(y.mean() - 1) < 0.01  # expectation preserved
    np.testing.assert_array_equal(layer.backward(x), y)
    layer.eval()
    assert layer.forward(x) is x


def test_flatten_and_sequential_match_torch(rng):
    x = rng.standard_normal((4, 3, 2, 2))
    model = Sequential(
        Flatten(),
        Linear(12, 5, dtype="float64", rng=1),
        Tanh(),
        Linear(5, 3, dtype="float64", rng=2),
    )
    ref = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)
    ).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            dict(ref.named_parameters())[name].copy_(torch.from_numpy(p.data))
    g = rng.standard_normal((4, 3))
    out = model.forward(x)
    dx = model.backward(g, need_input_grad=True)
    t_out, t_dx = _torch_forward_backward(ref, x, g)
    np.testing.assert_allclose(out, t_out, atol=1e-6)
    np.testing.assert_allclose(dx, t_dx, atol=1e-6)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(
            p.grad, dict(ref.named_parameters())[name].grad.numpy(), atol=1e-6
        )


def test_sequential_skips_the_input_gradient_by_default(rng):
    model = Sequential(Linear(3, 2, rng=0))
    model.forward(rng.standard_normal((2, 3)).astype(np.float32))
    assert model.backward(np.ones((2, 2), dtype=np.float32)) is None


def test_gelu_float32_matches_torch_over_its_whole_range():
    # float32 uses a rational approximation of erf (no libm call, so it vectorises) and
    # its exact derivative; both must agree with PyTorch's float32 GELU
    x = np.linspace(-9, 9, 200_001, dtype=np.float32)
    g = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    layer = GELU()
    out = layer.forward(x)
    dx = layer.backward(g)
    t_out, t_dx = _torch_forward_backward(torch.nn.functional.gelu, x, g)
    assert out.dtype == dx.dtype == np.float32
    np.testing.assert_allclose(out, t_out, atol=2e-6, rtol=1e-6)
    np.testing.assert_allclose(dx, t_dx, atol=2e-5 * np.abs(g).max(), rtol=0)
    assert np.abs(dx / g - t_dx / g).max() < 1e-5  # the derivative itself, within 1e-5


def test_gelu_keeps_the_memory_layout_of_its_input(rng):
    x = np.ascontiguousarray(rng.standard_normal((2, 5, 4, 3)).astype(np.float32))
    x_cl = x.transpose(0, 3, 1, 2)  # NCHW-shaped, channels-last memory
    layer = GELU()
    y = layer.forward(x_cl)
    assert y.strides == x_cl.strides
    np.testing.assert_allclose(y, GELU().forward(np.ascontiguousarray(x_cl)), atol=1e-7)
    g = rng.standard_normal(x_cl.shape).astype(np.float32)  # C-ordered: another layout
    expected = torch.nn.functional.gelu(torch.from_numpy(np.ascontiguousarray(x_cl)))
    np.testing.assert_allclose(y, expected.numpy(), atol=2e-6)
    _, t_dx = _torch_forward_backward(torch.nn.functional.gelu, np.ascontiguousarray(x_cl), g)
    np.testing.assert_allclose(layer.backward(g), t_dx, atol=2e-5)
