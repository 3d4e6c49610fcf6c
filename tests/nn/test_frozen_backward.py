"""Backward passes skip the work whose only use is the gradient of a frozen or resting
parameter (issue 21): the gradients that are still wanted equal those of the full backward
pass, which the layers' PyTorch tests check, and the skipped layers are never called."""

import numpy as np
import pytest

from vedere import nn
from vedere.nn.optim import SGD, ParamGroup


def _stem_net(seed: int = 0) -> nn.Sequential:
    """airbench's front: a frozen 2×2 stem with a trainable bias, GELU, conv, BN, GELU, head."""
    rng = np.random.default_rng(seed)
    stem = nn.Conv2d(3, 6, 2, bias=True, rng=rng, dtype="float64")
    stem.weight.trainable = False
    return nn.Sequential(
        stem,
        nn.GELU(),
        nn.Conv2d(6, 8, 3, padding=1, bias=False, rng=rng, dtype="float64"),
        nn.BatchNorm2d(8, dtype="float64"),
        nn.GELU(),
        nn.GlobalMaxPool2d(),
        nn.Linear(8, 4, rng=rng, dtype="float64"),
    )


def _grads(net: nn.Sequential, x: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
    net.zero_grad()
    net.forward(x)
    net.backward(g)
    return {name: p.grad.copy() for name, p in net.named_parameters()}


def _calls(net: nn.Sequential, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Record (layer index, need_input_grad) of every layer backward call."""
    calls: list[tuple[int, bool]] = []
    for i, layer in enumerate(net.layers):
        original = layer._backward

        def spy(grad, need, i=i, original=original):
            calls.append((i, need))
            return original(grad, need)

        monkeypatch.setattr(layer, "_backward", spy)
    return calls


def test_a_resting_stem_bias_stops_the_chain_and_the_other_gradients_are_unchanged(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 9, 9))
    full = _stem_net()
    g = rng.standard_normal(full.forward(x).shape)
    want = _grads(full, x, g)

    net = _stem_net()
    calls = _calls(net, monkeypatch)
    net.layers[0].bias.resting = True
    got = _grads(net, x, g)
    # the stem and its GELU are skipped, and the first conv returns no dL/dx
    assert [i for i, _ in calls] == [6, 5, 4, 3, 2]
    assert dict(calls)[2] is False and all(need for i, need in calls if i > 2)
    for name in want:
        if name == "0.bias":
            assert np.array_equal(got[name], np.zeros_like(got[name]))  # not computed
        elif name != "0.weight":
            np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-12)


def test_a_frozen_kernel_keeps_the_bias_gradient_and_skips_only_its_own():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 7, 7))
    free = nn.Conv2d(3, 5, 3, padding=1, rng=0, dtype="float64")
    frozen = nn.Conv2d(3, 5, 3, padding=1, rng=0, dtype="float64")
    frozen.weight.trainable = False
    g = rng.standard_normal(free.forward(x).shape)
    frozen.forward(x)
    frozen.zero_grad()
    free.zero_grad()
    dx_free, dx_frozen = free.backward(g), frozen.backward(g)
    np.testing.assert_allclose(dx_frozen, dx_free, rtol=1e-12)
    np.testing.assert_allclose(frozen.bias.grad, free.bias.grad, rtol=1e-12)
    assert not frozen.weight.grad.any() and free.weight.grad.any()


def test_a_linear_layer_with_a_frozen_weight_still_returns_dx():
    rng = np.random.default_rng(3)
    lin = nn.Linear(6, 3, rng=0, dtype="float64")
    ref = nn.Linear(6, 3, rng=0, dtype="float64")
    lin.weight.trainable = False
    x, g = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    lin.forward(x)
    ref.forward(x)
    np.testing.assert_allclose(lin.backward(g), ref.backward(g), rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad, ref.bias.grad, rtol=1e-12)
    assert not lin.weight.grad.any()


def test_set_epoch_rests_a_groups_parameters_and_a_new_optimizer_wakes_them():
    net = _stem_net()
    stem_bias = net.layers[0].bias
    rest = [p for p in net.parameters() if p is not stem_bias and p.trainable]
    opt = SGD([ParamGroup(rest), ParamGroup([stem_bias], epochs=3)], lr=0.1)
    opt.set_epoch(2)
    assert stem_bias.wants_grad
    opt.set_epoch(3)
    assert stem_bias.resting and not stem_bias.wants_grad
    assert all(p.wants_grad for p in rest)
    assert not net.layers[0].wants_grad() and net.layers[2].wants_grad()
    SGD(net.parameters(), lr=0.1)  # fine-tuning later: everything trains again
    assert stem_bias.wants_grad


def test_a_network_asked_for_dx_computes_it_through_frozen_layers():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 3, 6, 6))
    net, ref = _stem_net(), _stem_net()
    for p in net.parameters():
        p.trainable = False
    g = rng.standard_normal(net.forward(x).shape)
    ref.forward(x)
    np.testing.assert_allclose(
        net.backward(g, need_input_grad=True), ref.backward(g, need_input_grad=True), rtol=1e-12
    )
    assert net.backward(g) is None  # and nothing at all when nobody wants a gradient
