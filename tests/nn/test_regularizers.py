"""L1 and L2 penalties in the loss value and the gradient, against torch autograd."""

import numpy as np
import torch

import vedere.nn as nn
from vedere.nn.regularizers import L1, L2, Regularized, penalties


def test_regularized_loss_and_gradients_match_torch(rng):
    model = nn.Sequential(
        nn.Linear(5, 4, dtype="float64", rng=1), nn.Tanh(), nn.Linear(4, 3, dtype="float64", rng=2)
    )
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    l1, l2 = 0.01, 0.1
    loss = Regularized(nn.SoftmaxCrossEntropy(), model, [L1(l1), L2(l2)])
    value = loss.forward(model.forward(x), y)
    model.backward(loss.backward())

    params = {
        n: torch.from_numpy(p.data.copy()).requires_grad_() for n, p in model.named_parameters()
    }
    h = torch.tanh(torch.from_numpy(x) @ params["0.weight"].T + params["0.bias"])
    out = h @ params["2.weight"].T + params["2.bias"]
    weights = [params["0.weight"], params["2.weight"]]  # biases are not penalised
    t_value = (
        torch.nn.functional.cross_entropy(out, torch.from_numpy(y))
        + l1 * sum(w.abs().sum() for w in weights)
        + l2 * 0.5 * sum((w**2).sum() for w in weights)
    )
    t_value.backward()
    assert abs(value - t_value.item()) < 1e-10
    assert loss.penalty > 0 and abs(loss.data_loss + loss.penalty - value) < 1e-12
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, params[n].grad.numpy(), atol=1e-10)


def test_l2_penalty_equals_sgd_weight_decay(rng):
    a = nn.Linear(3, 2, dtype="float64", rng=0)
    b = nn.Linear(3, 2, dtype="float64", rng=0)
    x = rng.standard_normal((4, 3))
    g = rng.standard_normal((4, 2))
    for layer in (a, b):
        layer.forward(x)
        layer.backward(g)
    L2(0.1).backward(a.parameters())
    nn.optim.SGD(a.parameters(), lr=0.5).step()
    nn.optim.SGD(b.parameters(), lr=0.5, weight_decay=0.1).step()
    np.testing.assert_allclose(a.weight.data, b.weight.data)


def test_l1_drives_weights_to_zero():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 20)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)  # only feature 0 matters
    nonzero = {}
    for lam in (0.0, 0.02):
        model = nn.Linear(20, 2, rng=0)
        loss = Regularized(nn.SoftmaxCrossEntropy(), model, penalties(l1=lam))
        opt = nn.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(300):
            loss.forward(model.forward(x), y)
            model.backward(loss.backward())
            opt.step()
            opt.zero_grad()
        nonzero[lam] = int((np.abs(model.weight.data[:, 1:]) > 0.01).sum())
    assert nonzero[0.02] < nonzero[0.0] / 3
