"""Bad input gets a clear ValueError naming the argument and shape; nothing broadcasts."""

import numpy as np
import pytest

import vedere.nn as nn


@pytest.fixture
def model():
    return nn.mlp([4, 3, 2], rng=0)


def test_wrong_feature_count(model):
    with pytest.raises(ValueError, match=r"x has shape \(5, 3\).*expects 4 features"):
        model.forward(np.zeros((5, 3), dtype=np.float32))


def test_wrong_rank(model):
    with pytest.raises(ValueError, match=r"x must be 2-D, got shape \(4,\)"):
        model.forward(np.zeros(4, dtype=np.float32))


def test_dtype_mismatch(model):
    with pytest.raises(ValueError, match=r"x has dtype float64 but the model computes in float32"):
        model.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"x must be float32 or float64, got dtype uint8"):
        model.forward(np.zeros((2, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="must be a numpy array"):
        model.forward([[0.0] * 4])


@pytest.mark.parametrize(
    ("bad", "what"), [(np.nan, "1 NaN and 0 inf"), (np.inf, "0 NaN and 1 inf")]
)
def test_nan_and_inf_inputs(model, bad, what):
    x = np.zeros((2, 4), dtype=np.float32)
    x[1, 2] = bad
    with pytest.raises(ValueError, match=rf"x \(shape \(2, 4\)\) contains {what}"):
        model.forward(x)


def test_wrong_gradient_shape(model):
    model.forward(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"grad_out has shape \(2, 3\).*had shape \(2, 2\)"):
        model.backward(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Linear(2, 2).backward(np.zeros((1, 2), dtype=np.float32))


def test_labels_out_of_range_and_wrong_shape():
    s = np.zeros((3, 4))
    loss = nn.SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"labels in \[0, 4\] but there are 4 classes"):
        loss.forward(s, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"labels in \[-1, 1\]"):
        nn.MulticlassHinge().forward(s, np.array([0, 1, -1]))
    with pytest.raises(ValueError, match=r"target must have shape \(3,\).*got \(4,\)"):
        loss.forward(s, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="integer class indices"):
        loss.forward(s, np.array([0.0, 1.0, 2.0]))


def test_losses_never_broadcast():
    with pytest.raises(ValueError, match=r"target has shape \(5, 1\) but pred has shape \(5,\)"):
        nn.MSE().forward(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"target has shape \(5,\) but pred has shape \(5, 1\)"):
        nn.BCEWithLogits().forward(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        nn.BCEWithLogits().forward(np.zeros(2), np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match=r"target \(shape \(2,\)\) contains 1 NaN"):
        nn.MSE().forward(np.zeros(2), np.array([0.0, np.nan]))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        nn.Linear(2, 3, dtype="int32")
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.SoftmaxCrossEntropy(1.5)
    with pytest.raises(ValueError, match="unknown activation"):
        nn.activation("swish")
    with pytest.raises(ValueError, match="share one dtype"):
        nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2, dtype="float64"))


def test_diverged_predictions_give_nan_loss_not_an_exception():
    # a training loop must be able to see divergence as a non-finite loss
    loss = nn.SoftmaxCrossEntropy().forward(np.array([[np.nan, 1.0]]), np.array([0]))
    assert np.isnan(loss)
