"""Every layer and loss of the engine under :func:`~vedere.nn.gradcheck.gradcheck`, in float64."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .dropout import Dropout
from .flatten import Flatten
from .gradcheck import GradCheckReport, TableRow, gradcheck
from .linear import Linear
from .losses import MSE, BCEWithLogits, MulticlassHinge, PerceptronCriterion, SoftmaxCrossEntropy
from .regularizers import L1, L2, Regularized
from .sequential import Sequential


def _away_from_zero(a: np.ndarray) -> np.ndarray:
    """Move entries away from 0 so ReLU-like kinks are never within h of an input."""
    return a + np.where(a >= 0, 0.1, -0.1)


#: the relative error below which a backward pass counts as right (float64)
TOL = 1e-6


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
    return [
        ("Linear", lambda: gradcheck(Linear(d, k, dtype="float64", rng=0), x)),
        ("Sigmoid", lambda: gradcheck(Sigmoid(), x)),
        ("Tanh", lambda: gradcheck(Tanh(), x)),
        ("ReLU", lambda: gradcheck(ReLU(), _away_from_zero(x))),
        ("LeakyReLU", lambda: gradcheck(LeakyReLU(0.1), _away_from_zero(x))),
        ("Softmax", lambda: gradcheck(Softmax(), s)),
        ("Dropout (fixed mask)", dropout_fixed),
        ("Flatten", lambda: gradcheck(Flatten(), rng.standard_normal((n, 2, 3, 2)))),
        ("MSE", lambda: gradcheck(MSE(), s, sign)),
        ("SoftmaxCrossEntropy", lambda: gradcheck(SoftmaxCrossEntropy(), s, y)),
        ("  + label smoothing", lambda: gradcheck(SoftmaxCrossEntropy(0.1), s, y)),
        ("BCEWithLogits", lambda: gradcheck(BCEWithLogits(), s[:, 0], (sign[:, 0] > 0) * 1.0)),
        ("MulticlassHinge", lambda: gradcheck(MulticlassHinge(), s, y)),
        ("PerceptronCriterion", lambda: gradcheck(PerceptronCriterion(), s, y)),
        ("MLP + L1 + L2 + dropout", mlp_with_penalties),
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
