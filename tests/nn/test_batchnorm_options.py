"""BatchNorm with a frozen scale, a tiny eps and its own running-statistics momentum
(airbench94's) against torch.nn.BatchNorm2d, and the direction of the momentum."""

import numpy as np
import torch

from vedere.nn import BatchNorm2d
from vedere.nn.optim import SGD


def test_frozen_scale_eps_and_momentum_match_torch_over_three_batches():
    rng = np.random.default_rng(0)
    ours = BatchNorm2d(4, eps=1e-12, momentum=0.4, scale=False, dtype="float64")
    theirs = torch.nn.BatchNorm2d(4, eps=1e-12, momentum=0.4).double()
    theirs.weight.requires_grad_(False)  # airbench94: γ frozen at 1, β trained
    opt = SGD(ours.parameters(), lr=0.1)
    t_opt = torch.optim.SGD([theirs.bias], lr=0.1)
    for _ in range(3):
        x = rng.standard_normal((5, 4, 3, 3)) * 3 + 1
        g = rng.standard_normal(x.shape)
        y = ours.forward(x)
        dx = ours.backward(g)
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        ty.backward(torch.from_numpy(g))
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
        opt.step()
        opt.zero_grad()
        t_opt.step()
        t_opt.zero_grad()
    np.testing.assert_array_equal(ours.weight.data, 1.0)  # never trained
    np.testing.assert_allclose(ours.bias.data, theirs.bias.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var.data, theirs.running_var.numpy(), rtol=1e-12)
    assert ours.get_config()["scale"] is False and not ours.weight.trainable


def test_momentum_is_the_weight_of_the_new_batch():
    """momentum 0.4 = airbench's "0.6": running ← 0.6·running + 0.4·batch mean."""
    bn = BatchNorm2d(2, momentum=0.4, dtype="float64")
    bn.running_mean.data[:] = [10.0, -10.0]
    x = np.random.default_rng(1).standard_normal((6, 2, 2, 2))
    bn.forward(x)
    want = 0.6 * np.array([10.0, -10.0]) + 0.4 * x.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(bn.running_mean.data, want, rtol=1e-12)
