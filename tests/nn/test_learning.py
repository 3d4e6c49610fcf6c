"""What networks can and cannot learn: XOR, spirals; reproducibility from a seed."""

import numpy as np

from vedere.data import toy
from vedere.nn import Linear, PerceptronCriterion, SoftmaxCrossEntropy, mlp, optim


def _fit(model, x, y, loss_fn, opt, epochs, batch=None, seed=0):
    rng = np.random.default_rng(seed)
    n = len(y)
    for _ in range(epochs):
        order = rng.permutation(n) if batch else np.arange(n)
        for start in range(0, n, batch or n):
            idx = order[start : start + (batch or n)]
            loss_fn.forward(model.forward(x[idx]), y[idx])
            model.backward(loss_fn.backward())
            opt.step()
            opt.zero_grad()
    return model


def _accuracy(model, x, y):
    model.eval()
    out = model.forward(x)
    model.train()
    pred = out.argmax(1) if out.ndim == 2 and out.shape[1] > 1 else (out.reshape(-1) > 0)
    return float((pred == y).mean())


def test_single_layer_perceptron_cannot_fit_xor():
    x, y = toy.xor()
    # Rosenblatt's rule (perceptron criterion, lr 1) and a softmax linear classifier alike
    for loss_fn, n_out in ((PerceptronCriterion(), 1), (SoftmaxCrossEntropy(), 2)):
        for seed in range(5):
            model = Linear(2, n_out, init="small", rng=seed)
            best = 0.0
            opt = optim.SGD(model.parameters(), lr=1.0)
            for _ in range(200):
                out = model.forward(x)
                loss_fn.forward(out[:, 0] if n_out == 1 else out, y)
                g = loss_fn.backward()
                model.backward(g[:, None] if n_out == 1 else g)
                opt.step()
                opt.zero_grad()
                best = max(best, _accuracy(model, x, y))
            assert best <= 0.75  # at most 3 of the 4 points: XOR is not linearly separable


def test_two_hidden_layer_mlp_fits_xor():
    x, y = toy.xor()
    model = mlp([2, 8, 8, 2], activation="tanh", init="xavier", rng=0)
    _fit(model, x, y, SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=0.05), 300)
    assert _accuracy(model, x, y) == 1.0


def test_two_hidden_layer_mlp_fits_two_spirals():
    x, y = toy.spirals(400, noise=0.05, seed=0)
    model = mlp([2, 64, 64, 2], activation="tanh", init="xavier", rng=0)
    _fit(model, x, y, SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=0.01), 600)
    assert _accuracy(model, x, y) >= 0.97


def test_linear_model_cannot_fit_spirals():
    x, y = toy.spirals(400, noise=0.05, seed=0)
    model = Linear(2, 2, rng=0)
    _fit(model, x, y, SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=0.01), 300)
    assert _accuracy(model, x, y) < 0.75


def _train_with_seed(seed):
    x, y = toy.moons(256, seed=3)
    model = mlp([2, 32, 32, 2], activation="relu", init="he", dropout=0.2, rng=seed)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _fit(model, x, y, SoftmaxCrossEntropy(0.1), opt, 5, batch=32, seed=seed)
    return model.state_dict()


def test_same_seed_gives_bit_identical_weights():
    a, b, c = _train_with_seed(11), _train_with_seed(11), _train_with_seed(12)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_float32_default_and_float64_on_request():
    assert mlp([3, 4, 2]).dtype == np.float32
    m = mlp([3, 4, 2], dtype="float64")
    assert m.dtype == np.float64
    assert m.forward(np.zeros((1, 3))).dtype == np.float64
    m.astype(np.float32)
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in m.parameters())
