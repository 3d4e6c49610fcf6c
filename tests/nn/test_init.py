"""Initialisation: the schemes' statistics and the course's symmetry problem."""

import numpy as np
import pytest
import torch

from vedere.nn import Linear, SoftmaxCrossEntropy, mlp, optim
from vedere.nn.init import init_weight


@pytest.mark.parametrize(
    ("scheme", "std"),
    [("small", 0.01), ("xavier", 1 / np.sqrt(400)), ("he", np.sqrt(2 / 400))],
)
def test_scheme_standard_deviation(scheme, std):
    w = init_weight((300, 400), scheme, np.random.default_rng(0), np.float64)
    assert abs(w.mean()) < 0.05 * std
    assert abs(w.std() / std - 1) < 0.01


def test_zeros_and_unknown():
    assert not init_weight((3, 4), "zeros", np.random.default_rng(0)).any()
    with pytest.raises(ValueError, match="unknown initialisation 'bogus'; choose one of zeros"):
        init_weight((3, 4), "bogus", np.random.default_rng(0))


def test_calibrated_variance_keeps_unit_output_variance():
    # course: w = randn(n) / sqrt(n) normalises each neuron's output variance to 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 500))
    layer = Linear(500, 200, init="xavier", rng=1, dtype="float64")
    assert abs(layer.forward(x).var() - 1) < 0.05
    small = Linear(500, 200, init="small", rng=1, dtype="float64")
    assert small.forward(x).var() < 0.1  # 0.01·N(0,1): the signal shrinks


def _train(init: str, activation: str, steps: int = 20):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = mlp([5, 8, 8, 3], activation=activation, init=init, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loss = SoftmaxCrossEntropy()
    for _ in range(steps):
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        opt.step()
        opt.zero_grad()
    return model, x


def _hidden_units_identical(model, x) -> bool:
    """Every hidden unit of every hidden layer computes the same function of x."""
    h = x
    for layer in model.layers[:-1]:
        h = layer.forward(h)
        if layer.parameters():
            continue
        if not np.allclose(h, h[:, :1], atol=1e-7):
            return False
    first = model.layers[0].weight.data
    return bool(np.allclose(first, first[:1], atol=1e-7))


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_zero_init_leaves_hidden_units_identical(activation):
    model, x = _train("zeros", activation)
    assert _hidden_units_identical(model, x)


@pytest.mark.parametrize("init", ["small", "xavier", "he"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_random_init_breaks_symmetry(init, activation):
    model, x = _train(init, activation)
    assert not _hidden_units_identical(model, x)
    w = model.layers[0].weight.data
    # all rows pairwise distinct
    d = np.abs(w[:, None, :] - w[None, :, :]).sum(-1)
    assert (d[~np.eye(len(w), dtype=bool)] > 1e-4).all()


TORCH_INITS = {
    # vedere's scheme -> the same distribution in torch.nn.init (weight of shape (out, in))
    "small": lambda w: torch.nn.init.normal_(w, std=0.01),
    "lecun": lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="linear"),
    "he": lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "glorot": lambda w: torch.nn.init.xavier_normal_(w),
}


@pytest.mark.parametrize("scheme", list(TORCH_INITS))
@pytest.mark.parametrize("shape", [(300, 400), (100, 900)])
def test_scheme_variance_matches_torch_init(scheme, shape):
    torch.manual_seed(0)
    ref = TORCH_INITS[scheme](torch.empty(shape, dtype=torch.float64)).numpy()
    w = init_weight(shape, scheme, np.random.default_rng(0), np.float64)
    # both are zero-mean normals; their variances agree within sampling error (~1%)
    assert abs(w.var() / ref.var() - 1) < 0.03
    assert abs(w.mean()) < 0.02 * w.std() and abs(ref.mean()) < 0.02 * ref.std()


def test_glorot_is_not_lecun_and_xavier_is_lecun():
    # Glorot's "Xavier" uses (n_in + n_out) / 2; vedere's old "xavier" was LeCun's 1/n_in
    shape = (100, 900)
    lecun = init_weight(shape, "lecun", np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(
        init_weight(shape, "xavier", np.random.default_rng(0), np.float64), lecun
    )
    glorot = init_weight(shape, "glorot", np.random.default_rng(0), np.float64)
    assert glorot.std() / lecun.std() == pytest.approx(np.sqrt(2 * 900 / 1000), rel=1e-9)
    assert Linear(3, 2, init="xavier", rng=0).get_config()["init"] == "lecun"


def test_every_offered_name_resolves():
    # vedere train --init and the playground offer these; "xavier" stays among them
    from vedere.nn.init import CANONICAL, SCHEMES, resolve

    assert "xavier" in SCHEMES and set(CANONICAL) <= set(SCHEMES)
    assert {resolve(s) for s in SCHEMES} == set(CANONICAL)
