"""BatchNorm followed by GELU or ReLU, fused into one pass each way (issue 21), against the
same layers run one by one, against PyTorch, and (ReLU, float64) against finite differences,
on both kernel builds (parallel and serial)."""

import numpy as np
import pytest
import torch

from vedere import nn, parallel


@pytest.fixture(params=["parallel", "serial"])
def build(request):
    parallel.set_parallel_min_work(0 if request.param == "parallel" else 10**15)
    yield request.param
    parallel.set_parallel_min_work(None)


def _net(seed: int = 0, act=nn.GELU, dtype: str = "float32") -> nn.Sequential:
    rng = np.random.default_rng(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, rng=rng, dtype=dtype),
        nn.BatchNorm2d(8, dtype=dtype),
        act(),
        nn.Conv2d(8, 6, 3, padding=1, bias=False, rng=rng, dtype=dtype),
        nn.MaxPool2d(2),
        nn.BatchNorm2d(6, dtype=dtype),
        act(),
        nn.GlobalMaxPool2d(),
        nn.Linear(6, 5, rng=rng, dtype=dtype),
        nn.BatchNorm1d(5, dtype=dtype),
        act(),
    )
    for layer in net.layers:  # γ and β away from 1 and 0, so that their gradients matter
        if isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)):
            layer.weight.data[...] = rng.uniform(0.5, 1.5, layer.weight.data.shape)
            layer.bias.data[...] = rng.uniform(-0.5, 0.5, layer.bias.data.shape)
    return net


def _pass(net: nn.Sequential, x: np.ndarray, g: np.ndarray, training: bool):
    net.train(training)
    net.zero_grad()
    y = net.forward(x)
    dx = net.backward(g, need_input_grad=True)
    grads = {name: p.grad.copy() for name, p in net.named_parameters()}
    return y, dx, grads


@pytest.mark.parametrize("act", [nn.GELU, nn.ReLU])
@pytest.mark.parametrize("training", [True, False])
def test_fused_pairs_give_the_layer_by_layer_numbers(build, training, act, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3, 8, 8)).astype(np.float32)
    g = rng.standard_normal((6, 5)).astype(np.float32)
    fused, plain = _net(act=act), _net(act=act)
    plain.fuse_bn_act = False
    calls = []
    for layer in fused.layers:
        if isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)):
            for name in ("_forward_act", "_backward_act"):
                original = getattr(layer, name)

                def spy(*a, original=original, name=name):
                    calls.append(name)
                    return original(*a)

                monkeypatch.setattr(layer, name, spy)
    y1, dx1, g1 = _pass(fused, x, g, training)
    y2, dx2, g2 = _pass(plain, x, g, training)
    assert calls.count("_forward_act") == 3 and calls.count("_backward_act") == 3
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx1, dx2, rtol=1e-4, atol=1e-6)
    for name in g2:
        np.testing.assert_allclose(g1[name], g2[name], rtol=1e-4, atol=1e-5, err_msg=name)
    if training:  # the running statistics moved alike
        for a, b in zip(fused.buffers(), plain.buffers(), strict=True):
            np.testing.assert_allclose(a.data, b.data, rtol=1e-6)


@pytest.mark.parametrize("act", ["gelu", "relu"])
@pytest.mark.parametrize("training", [True, False])
def test_fused_batchnorm_activation_matches_torch(build, training, act):
    rng = np.random.default_rng(2)
    bn = nn.BatchNorm2d(7, momentum=0.4)
    bn.weight.data[...] = rng.uniform(0.5, 1.5, 7)
    bn.bias.data[...] = rng.uniform(-0.5, 0.5, 7)
    bn.running_mean.data[...] = rng.uniform(-0.2, 0.2, 7)
    bn.running_var.data[...] = rng.uniform(0.5, 2.0, 7)
    # a layer in front, so that the pair is not the network's validated first layer
    lin = nn.Conv2d(4, 7, 1, rng=0)
    net = nn.Sequential(lin, bn, nn.GELU() if act == "gelu" else nn.ReLU())
    assert net._fusable(net._n_checked) == {1: act == "relu"}
    x = rng.standard_normal((5, 4, 6, 6)).astype(np.float32)
    g = rng.standard_normal((5, 7, 6, 6)).astype(np.float32)
    ref = torch.nn.Sequential(
        torch.nn.Conv2d(4, 7, 1),
        torch.nn.BatchNorm2d(7, momentum=0.4),
        torch.nn.GELU() if act == "gelu" else torch.nn.ReLU(),
    )
    with torch.no_grad():
        ref[0].weight.copy_(torch.from_numpy(lin.weight.data))
        ref[0].bias.copy_(torch.from_numpy(lin.bias.data))
        ref[1].weight.copy_(torch.from_numpy(bn.weight.data))
        ref[1].bias.copy_(torch.from_numpy(bn.bias.data))
        ref[1].running_mean.copy_(torch.from_numpy(bn.running_mean.data))
        ref[1].running_var.copy_(torch.from_numpy(bn.running_var.data))
    net.train(training)
    ref.train(training)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = ref(tx)
    ty.backward(torch.from_numpy(g))
    y = net.forward(x)
    dx = net.backward(g, need_input_grad=True)
    assert 1 in net._fused
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.weight.grad, ref[1].weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.bias.grad, ref[1].bias.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        bn.running_var.data, ref[1].running_var.numpy(), rtol=1e-5, atol=1e-6
    )


def test_fused_relu_pairs_in_float64_pass_the_finite_difference_check(build):
    from vedere.nn.gradcheck import gradcheck

    net = _net(act=nn.ReLU, dtype="float64")
    assert set(net._fusable(net._n_checked)) == {1, 5, 9}
    x = np.random.default_rng(5).standard_normal((4, 3, 6, 6))
    report = gradcheck(net, x, np.array([0, 1, 2, 3]), loss=nn.SoftmaxCrossEntropy())
    assert report, report


def test_pairs_that_cannot_fuse_run_layer_by_layer():
    net64 = nn.Sequential(
        nn.Conv2d(2, 3, 1, rng=0, dtype="float64"), nn.BatchNorm2d(3, dtype="float64"), nn.GELU()
    )
    tanh = nn.Sequential(nn.Conv2d(2, 3, 1, rng=0), nn.BatchNorm2d(3), nn.GELU("tanh"))
    first = nn.Sequential(nn.BatchNorm2d(3), nn.GELU())  # validated as the network's input
    assert not net64._fusable(net64._n_checked)
    assert not tanh._fusable(tanh._n_checked)
    assert not first._fusable(first._n_checked)
    x = np.random.default_rng(3).standard_normal((4, 3, 5, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="x"):
        first.forward(x[:, :2])  # the first layer still checks its input's channels
