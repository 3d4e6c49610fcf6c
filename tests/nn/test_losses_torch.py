"""Every loss's value and gradient against PyTorch (float64, within 1e-6)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from vedere.nn import MSE, BCEWithLogits, MulticlassHinge, PerceptronCriterion, SoftmaxCrossEntropy


def _torch_value_grad(fn, pred):
    t = torch.from_numpy(pred.copy()).requires_grad_()
    value = fn(t)
    value.backward()
    return value.item(), t.grad.numpy()


def _check(loss, pred, target, torch_fn):
    value = loss.forward(pred, target)
    grad = loss.backward()
    t_value, t_grad = _torch_value_grad(torch_fn, pred)
    assert abs(value - t_value) < 1e-6
    np.testing.assert_allclose(grad, t_grad, atol=1e-6, rtol=0)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_softmax_cross_entropy(smoothing, rng):
    s = rng.standard_normal((16, 10)) * 4
    y = rng.integers(0, 10, 16)
    _check(
        SoftmaxCrossEntropy(smoothing),
        s,
        y,
        lambda t: TF.cross_entropy(t, torch.from_numpy(y), label_smoothing=smoothing),
    )


def test_softmax_cross_entropy_soft_targets(rng):
    s = rng.standard_normal((5, 4))
    q = rng.random((5, 4))
    q /= q.sum(1, keepdims=True)
    _check(SoftmaxCrossEntropy(), s, q, lambda t: TF.cross_entropy(t, torch.from_numpy(q)))


def test_cross_entropy_huge_scores_stay_finite():
    s = np.array([[1e4, -1e4, 0.0], [-54.7, 123.1, 31.05]])
    loss = SoftmaxCrossEntropy()
    value = loss.forward(s, np.array([1, 0]))
    assert np.isfinite(value) and np.isfinite(loss.backward()).all()
    t = TF.cross_entropy(torch.from_numpy(s), torch.tensor([1, 0]))
    assert abs(value - t.item()) < 1e-6


def test_mse_is_the_course_formula(rng):
    # course: MSE = Σ (y_i - ŷ_i)² / n ; for vector outputs the per-sample errors are summed
    pred, target = rng.standard_normal((12, 3)), rng.standard_normal((12, 3))
    _check(
        MSE(),
        pred,
        target,
        lambda t: TF.mse_loss(t, torch.from_numpy(target), reduction="sum") / 12,
    )
    p1, t1 = pred[:, 0].copy(), target[:, 0].copy()
    _check(MSE(), p1, t1, lambda t: TF.mse_loss(t, torch.from_numpy(t1)))


@pytest.mark.parametrize("shape", [(20,), (20, 1)])
def test_bce_with_logits(shape, rng):
    z = rng.standard_normal(shape) * 5
    y = (rng.random(shape) > 0.5).astype(np.float64)
    _check(
        BCEWithLogits(), z, y, lambda t: TF.binary_cross_entropy_with_logits(t, torch.from_numpy(y))
    )


def test_bce_with_logits_extreme():
    z = np.array([1000.0, -1000.0, 30.0])
    y = np.array([0.0, 1.0, 1.0])
    loss = BCEWithLogits()
    v = loss.forward(z, y)
    t = TF.binary_cross_entropy_with_logits(torch.from_numpy(z), torch.from_numpy(y))
    assert np.isfinite(v) and abs(v - t.item()) < 1e-6


@pytest.mark.parametrize("margin", [1.0, 2.5])
def test_multiclass_hinge(margin, rng):
    s = rng.standard_normal((15, 6)) * 2
    y = rng.integers(0, 6, 15)
    # torch's multi_margin_loss averages the inner sum over the K classes as well
    _check(
        MulticlassHinge(margin),
        s,
        y,
        lambda t: TF.multi_margin_loss(t, torch.from_numpy(y), margin=margin) * 6,
    )


def test_perceptron_criterion_multiclass(rng):
    s = rng.standard_normal((15, 4))
    y = rng.integers(0, 4, 15)
    yt = torch.from_numpy(y)
    _check(
        PerceptronCriterion(),
        s,
        y,
        lambda t: (t.max(dim=1).values - t.gather(1, yt[:, None])[:, 0]).mean(),
    )


def test_perceptron_criterion_binary(rng):
    z = rng.standard_normal(30)
    y = (rng.random(30) > 0.5).astype(np.int64)
    sign = torch.from_numpy(2.0 * y - 1)
    _check(PerceptronCriterion(), z, y, lambda t: torch.relu(-sign * t).mean())


def test_perceptron_rule_is_gradient_descent_on_the_criterion():
    # one misclassified sample x with label +1: w ← w + x (Rosenblatt), i.e. w ← w - 1·dJ/dw
    from vedere.nn import Linear

    layer = Linear(3, 1, init="zeros", dtype="float64")
    layer.bias.data[:] = -1.0
    x = np.array([[1.0, 2.0, -1.0]])
    loss = PerceptronCriterion()
    loss.forward(layer.forward(x)[:, 0], np.array([1]))
    layer.backward(loss.backward()[:, None])
    np.testing.assert_allclose(-layer.weight.grad, x)
    np.testing.assert_allclose(-layer.bias.grad, [1.0])
