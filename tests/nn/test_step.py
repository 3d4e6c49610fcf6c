"""The one training step shared by the trainer and the playground, against PyTorch."""

import numpy as np
import torch

import vedere.nn as nn
from vedere.nn.optim import make_optimizer
from vedere.nn.regularizers import penalties
from vedere.nn.step import train_step


def test_a_step_with_l2_and_clipping_matches_pytorch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float64)
    y = rng.integers(0, 3, 16)
    model = nn.mlp([4, 5, 3], activation="tanh", rng=1, dtype="float64")
    ours = nn.Regularized(nn.SoftmaxCrossEntropy(), model, penalties(l2=0.1))
    opt = make_optimizer("momentum", model.parameters(), lr=0.5, momentum=0.9)
    lins = [m for m in model.layers if isinstance(m, nn.Linear)]
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    net = net.double()
    with torch.no_grad():
        for t, m in zip([net[0], net[2]], lins, strict=True):
            t.weight.copy_(torch.from_numpy(m.weight.data))
            t.bias.copy_(torch.from_numpy(m.bias.data))
    topt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    for _ in range(3):
        s = train_step(model, ours, opt, x, y, clip_norm=0.3)
        out = net(torch.from_numpy(x))
        data = torch.nn.functional.cross_entropy(out, torch.from_numpy(y))
        loss = data + 0.1 / 2 * sum((t.weight**2).sum() for t in (net[0], net[2]))
        topt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.3)
        topt.step()
        assert s.updated
        np.testing.assert_allclose(s.loss, loss.item(), rtol=1e-10)
        np.testing.assert_allclose(s.data_loss, data.item(), rtol=1e-10)
        np.testing.assert_allclose(s.output, out.detach().numpy(), rtol=1e-10)
    for t, m in zip([net[0], net[2]], lins, strict=True):
        np.testing.assert_allclose(m.weight.data, t.weight.detach().numpy(), rtol=1e-9)
        np.testing.assert_allclose(m.bias.data, t.bias.detach().numpy(), rtol=1e-9)


def test_a_non_finite_loss_updates_nothing():
    model = nn.mlp([2, 3], rng=0)
    model.layers[0].weight.data[0, 0] = 3e38
    before = [p.data.copy() for p in model.parameters()]
    opt = make_optimizer("adam", model.parameters(), lr=0.1)
    x = np.full((4, 2), 10.0, np.float32)
    with np.errstate(all="ignore"):
        s = train_step(model, nn.SoftmaxCrossEntropy(), opt, x, np.zeros(4, np.int64))
    assert not s.updated and not np.isfinite(s.loss) and opt.t == 0
    for a, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(a.data, b)
