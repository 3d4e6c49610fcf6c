"""Every layer and loss of the engine under :func:`~vedere.nn.gradcheck.gradcheck`, in float64."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .activations import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .gradcheck import GradCheckReport, TableRow, gradcheck
from .linear import Linear
from .losses import MSE, BCEWithLogits, MulticlassHinge, PerceptronCriterion, SoftmaxCrossEntropy
from .pooling import AvgPool2d, GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d
from .regularizers import L1, L2, Regularized
from .residual import Residual
from .scale import Scale
from .sequential import Sequential


def _away_from_zero(a: np.ndarray) -> np.ndarray:
    """Move entries away from 0 so ReLU-like kinks are never within h of an input."""
    return a + np.where(a >= 0, 0.1, -0.1)


#: the relative error below which a backward pass counts as right (float64)
TOL = 1e-6


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.05 apart (a shuffled grid plus small noise): no max-pooling window
    has a near-tie that a perturbation of h could flip."""
    size = int(np.prod(shape))
    grid = (rng.permutation(size) - size / 2) * 0.1
    return (grid + rng.uniform(-0.02, 0.02, size)).reshape(shape) / max(1.0, size / 40)


def small_resnet(c_in: int = 3, width: int = 4, n_classes: int = 3, seed: int = 0) -> Sequential:
    """A ResNet in miniature (float64): stem conv → BN → GELU, an identity residual block,
    max-pooling, a strided block with a 1×1 convolution on the shortcut, global average
    pooling and a linear classifier."""
    w, w2 = width, width + 2

    def conv(a: int, b: int, k: int = 3, s: int = 1, p: int = 1, bias: bool = True) -> Conv2d:
        return Conv2d(a, b, k, s, p, bias, rng=seed + a * 7 + b, dtype="float64")

    def bn(c: int) -> BatchNorm2d:
        return BatchNorm2d(c, dtype="float64")

    # a bias right before a BatchNorm is cancelled by its mean: those convolutions have none
    return Sequential(
        conv(c_in, w, bias=False),
        bn(w),
        GELU(),
        Residual(Sequential(conv(w, w, bias=False), bn(w), GELU(), conv(w, w))),
        MaxPool2d(2),
        Residual(
            Sequential(conv(w, w2, s=2, bias=False), bn(w2), GELU(), conv(w2, w2)),
            shortcut=conv(w, w2, k=1, s=2, p=0),
        ),
        GlobalAvgPool2d(),
        Linear(w2, n_classes, dtype="float64", rng=seed),
    )


def cases(seed: int = 0) -> list[tuple[str, Callable[[], GradCheckReport]]]:
    """(name, thunk) pairs; each thunk runs one gradient check on fresh random data."""
    rng = np.random.default_rng(seed)
    n, d, k = 5, 7, 4
    x = rng.standard_normal((n, d))
    y = rng.integers(0, k, n)
    s = rng.standard_normal((n, k))

    def mlp_with_penalties() -> GradCheckReport:
        drop = Dropout(0.3)
        model = Sequential(
            Linear(d, 6, dtype="float64", rng=1),
            Tanh(),
            drop,
            Linear(6, 5, dtype="float64", rng=2),
            ReLU(),
            Linear(5, k, dtype="float64", rng=3),
        )
        drop.fixed_mask = (rng.random((n, 6)) > 0.3).astype(np.float64)
        loss = Regularized(SoftmaxCrossEntropy(), model, [L1(1e-3), L2(1e-2)])
        return gradcheck(model, x, y, loss=loss)

    def dropout_fixed() -> GradCheckReport:
        layer = Dropout(0.5)
        layer.fixed_mask = (rng.random((n, d)) > 0.5).astype(np.float64)
        return gradcheck(layer, x)

    sign = rng.standard_normal((n, k))
    img = rng.standard_normal((2, 3, 7, 6))
    pooled = distinct(rng, (2, 3, 7, 6))

    def conv_case() -> GradCheckReport:
        layer = Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2), rng=0, dtype="float64")
        return gradcheck(layer, img)

    def batchnorm_eval() -> GradCheckReport:
        layer = BatchNorm2d(3, dtype="float64")
        layer.running_mean.data[:] = rng.standard_normal(3)
        layer.running_var.data[:] = rng.uniform(0.5, 2, 3)
        return gradcheck(layer.eval(), img)

    def resnet() -> GradCheckReport:
        model = small_resnet()
        xs = rng.standard_normal((3, 3, 8, 8))
        return gradcheck(model, xs, rng.integers(0, 3, 3), loss=SoftmaxCrossEntropy())

    return [
        ("Linear", lambda: gradcheck(Linear(d, k, dtype="float64", rng=0), x)),
        ("Sigmoid", lambda: gradcheck(Sigmoid(), x)),
        ("Tanh", lambda: gradcheck(Tanh(), x)),
        ("ReLU", lambda: gradcheck(ReLU(), _away_from_zero(x))),
        ("LeakyReLU", lambda: gradcheck(LeakyReLU(0.1), _away_from_zero(x))),
        ("Softmax", lambda: gradcheck(Softmax(), s)),
        ("Dropout (fixed mask)", dropout_fixed),
        ("Flatten", lambda: gradcheck(Flatten(), rng.standard_normal((n, 2, 3, 2)))),
        ("Scale", lambda: gradcheck(Scale(0.125), x)),
        ("GELU", lambda: gradcheck(GELU(), x * 2)),
        ("GELU (tanh)", lambda: gradcheck(GELU("tanh"), x * 2)),
        ("Conv2d", conv_case),
        ("MaxPool2d", lambda: gradcheck(MaxPool2d(3, stride=2), pooled)),
        ("AvgPool2d", lambda: gradcheck(AvgPool2d((2, 3), stride=(2, 1)), img)),
        ("GlobalAvgPool2d", lambda: gradcheck(GlobalAvgPool2d(), img)),
        ("GlobalMaxPool2d", lambda: gradcheck(GlobalMaxPool2d(), pooled)),
        ("BatchNorm2d", lambda: gradcheck(BatchNorm2d(3, dtype="float64"), img)),
        ("  (eval)", batchnorm_eval),
        ("BatchNorm1d", lambda: gradcheck(BatchNorm1d(d, dtype="float64"), 2 * x[:, ::-1] + 1)),
        (
            "Residual",
            lambda: gradcheck(Residual(Conv2d(3, 3, 3, padding=1, rng=1, dtype="float64")), img),
        ),
        ("MSE", lambda: gradcheck(MSE(), s, sign)),
        ("SoftmaxCrossEntropy", lambda: gradcheck(SoftmaxCrossEntropy(), s, y)),
        ("  + label smoothing", lambda: gradcheck(SoftmaxCrossEntropy(0.1), s, y)),
        ("BCEWithLogits", lambda: gradcheck(BCEWithLogits(), s[:, 0], (sign[:, 0] > 0) * 1.0)),
        ("MulticlassHinge", lambda: gradcheck(MulticlassHinge(), s, y)),
        ("PerceptronCriterion", lambda: gradcheck(PerceptronCriterion(), s, y)),
        ("MLP + L1 + L2 + dropout", mlp_with_penalties),
        ("small ResNet", resnet),
    ]


def run_suite(seed: int = 0, tol: float = TOL) -> tuple[list[TableRow], bool]:
    """Run every case; returns one table row per case (for
    :func:`~vedere.nn.gradcheck.format_table`) and whether all passed."""
    rows = []
    for name, thunk in cases(seed):
        report = thunk()
        report.tol = tol
        rows.append(report.summary(name))
    return rows, all(r.passed for r in rows)
