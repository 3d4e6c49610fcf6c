"""Loss functions L(ŷ, y) and their gradients dL/dŷ.

The empirical cost is the mean over the batch, as in the course:
J(θ) = (1/N) Σ_i L(f(x_i; θ), y_i).  ``forward(pred, target)`` returns J as a Python float
and caches what ``backward()`` needs to return dJ/dpred (same shape as ``pred``).

:class:`SoftmaxCrossEntropy` also takes ``reduction="sum"``: J = Σ_i L(…) (N times the mean,
and N times its gradient; airbench's loss, which makes the step size grow with the batch).
A loss's ``reduction`` attribute says which; :meth:`Loss.per_sample` turns J back into the
mean per sample for reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional as F
from .validation import check_float_array, check_labels, check_same_shape


class Loss:
    """Base class: ``forward(pred, target) -> float`` then ``backward() -> dJ/dpred``."""

    #: "mean" (J is the batch mean) or "sum" (J is the batch sum)
    reduction = "mean"

    def __init__(self) -> None:
        self._grad: np.ndarray | None = None

    def per_sample(self, value: float, n: int) -> float:
        """The mean loss per sample of a value J this loss returned for a batch of ``n``."""
        return value / n if self.reduction == "sum" and n else value

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        """J, the loss of predictions ``pred`` against ``target``, averaged over the batch; caches
        dJ/dpred for :meth:`backward`."""
        raise NotImplementedError

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        """``loss_fn(pred, target)`` is ``loss_fn.forward(pred, target)`` (the subclass's)."""
        return self.forward(pred, target)

    def backward(self) -> np.ndarray:
        """dJ/dpred for the last ``forward`` call, shape of ``pred``."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._grad

    def get_config(self) -> dict[str, Any]:
        """The loss's hyper-parameters as JSON-ready values (what a model file records)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_pred(pred: object, ndim: int | tuple[int, ...]) -> np.ndarray:
    # the predictions are not checked for NaN: a diverging network must produce a NaN loss
    # that a training loop can detect, not an exception in the middle of a step
    return check_float_array(pred, "pred", ndim=ndim, finite=False)


def _binary_targets(target: object, pred: np.ndarray) -> np.ndarray:
    """Targets in [0, 1] of the predictions' shape, in their dtype."""
    if not isinstance(target, np.ndarray):
        raise ValueError(f"target must be a numpy array, got {type(target).__name__}")
    check_same_shape(pred, target, "pred", "target")
    t = target.astype(pred.dtype, copy=False)
    if t.size and (not np.isfinite(t).all() or t.min() < 0 or t.max() > 1):
        raise ValueError(f"target (shape {target.shape}) must hold values in [0, 1]")
    return t


class MSE(Loss):
    """Mean squared error  J = (1/N) Σ_i ||y_i - ŷ_i||²  (the course's Σ (y_i - ŷ_i)² / n).

    pred, target: (N,) or (N, D) of the same shape; for D outputs the squared errors of a
    sample are summed, then averaged over the batch.  dJ/dŷ = 2 (ŷ - y) / N.
    """

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred = _check_pred(pred, (1, 2))
        check_float_array(target, "target")
        check_same_shape(pred, target, "pred", "target")
        n = pred.shape[0]
        diff = pred - target.astype(pred.dtype, copy=False)
        self._grad = diff * pred.dtype.type(2.0 / n)
        return float(np.sum(diff * diff) / n)


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, fused:  J = -(1/N) Σ_i Σ_k q_ik log p_ik.

    pred: logits s (N, K); target: class indices (N,) or a distribution (N, K).
    p = softmax(s) is never formed in the log: log p_ik = s_ik - logsumexp(s_i), so huge
    scores do not overflow. With label smoothing ε the target becomes
    q = (1 - ε)·onehot(y) + ε/K.  Gradient: dJ/ds = (p - q) / N.
    ``reduction="sum"``: J = -Σ_i Σ_k q_ik log p_ik and dJ/ds = p - q (PyTorch's
    ``cross_entropy(..., reduction="sum")``).
    """

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {str(reduction)[:20]!r}")
        self.label_smoothing = float(label_smoothing)
        self.reduction = reduction

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        mean = self._mean_forward(pred, target)
        if self.reduction == "mean":
            return mean
        n = pred.shape[0]
        assert self._grad is not None
        self._grad *= self._grad.dtype.type(n)  # d(Σ)/ds = N · d(mean)/ds
        return mean * n

    def _mean_forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        s = _check_pred(pred, 2)
        n, k = s.shape
        logp = F.log_softmax(s, axis=1)
        p = np.exp(logp)
        eps = self.label_smoothing
        if isinstance(target, np.ndarray) and target.ndim == 2:
            check_float_array(target, "target")
            check_same_shape(s, target, "pred", "target")
            q = target.astype(s.dtype, copy=False)
            if eps:
                q = q * s.dtype.type(1 - eps) + s.dtype.type(eps / k)
            loss = -np.sum(q * logp) / n
            self._grad = (p - q) / s.dtype.type(n)
            return float(loss)
        # class indices: q = (1 - ε)·onehot(y) + ε/K without forming the one-hot matrix
        y = check_labels(target, "target", n, k)
        rows = np.arange(n)
        loss = -(1 - eps) * np.sum(logp[rows, y])
        if eps:
            loss -= eps / k * np.sum(logp)
            p -= s.dtype.type(eps / k)
        p[rows, y] -= s.dtype.type(1 - eps)  # p - q
        p /= s.dtype.type(n)
        self._grad = p
        return float(loss / n)

    def get_config(self) -> dict[str, Any]:
        return {"label_smoothing": self.label_smoothing, "reduction": self.reduction}


class BCEWithLogits(Loss):
    """Binary cross-entropy on logits (sigmoid fused in, e.g. cat vs not-cat).

    J = -(1/N) Σ_i [y_i log σ(z_i) + (1 - y_i) log(1 - σ(z_i))]
      = (1/N) Σ_i [max(z_i, 0) - z_i y_i + log(1 + e^{-|z_i|})]   (stable form)
    pred: logits z, (N,) or (N, 1); target: same shape, values in [0, 1].
    Gradient: dJ/dz = (σ(z) - y) / N.
    """

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        z = _check_pred(pred, (1, 2))
        y = _binary_targets(target, z)
        n = z.shape[0]
        loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        self._grad = (F.sigmoid(z) - y) / z.dtype.type(n)
        return float(np.sum(loss) / n)


class MulticlassHinge(Loss):
    """Multiclass SVM loss  J = (1/N) Σ_i Σ_{j≠y_i} max(0, s_ij - s_iy_i + Δ).

    pred: scores s (N, K); target: class indices (N,). Δ = ``margin`` (1 by default).
    Gradient: each violated margin adds +1/N to dJ/ds_ij and -1/N to dJ/ds_iy_i.
    (PyTorch's ``multi_margin_loss`` divides the inner sum by K as well.)
    """

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin = float(margin)

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        s = _check_pred(pred, 2)
        n, k = s.shape
        y = check_labels(target, "target", n, k)
        rows = np.arange(n)
        margins = s - s[rows, y][:, None] + s.dtype.type(self.margin)
        margins[rows, y] = 0
        active = (margins > 0).astype(s.dtype)
        grad = active
        grad[rows, y] = -active.sum(axis=1)
        self._grad = grad / s.dtype.type(n)
        return float(np.sum(np.maximum(margins, 0)) / n)

    def get_config(self) -> dict[str, Any]:
        return {"margin": self.margin}


class PerceptronCriterion(Loss):
    """Rosenblatt's perceptron criterion: pay only for mistakes, in proportion to the score.

    Binary — pred z (N,) or (N, 1), target y ∈ {0, 1} of the same shape (t = 2y - 1 ∈ {-1, +1}):
        J = (1/N) Σ_i max(0, -t_i z_i),        dJ/dz_i = -t_i / N where t_i z_i ≤ 0.
    Multiclass — pred s (N, K), target class indices (N,), r_i = arg max_{j≠y_i} s_ij:
        J = (1/N) Σ_i max(0, s_ir_i - s_iy_i); dJ/ds: +1/N at r_i, -1/N at y_i if s_ir_i ≥ s_iy_i.
    A tie counts as a mistake (the sub-gradient at the kink), as in Rosenblatt's rule, so a
    perceptron that starts at zero learns. Gradient descent on it with lr 1 is the perceptron
    learning rule w ← w + t·x on every mistake.
    """

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        s = _check_pred(pred, (1, 2))
        n = s.shape[0]
        if s.ndim == 1 or s.shape[1] == 1:
            t = 2 * _binary_targets(target, s) - 1
            margin = -t * s
            self._grad = np.where(margin >= 0, -t, 0).astype(s.dtype) / s.dtype.type(n)
            return float(np.sum(np.maximum(margin, 0)) / n)
        k = s.shape[1]
        y = check_labels(target, "target", n, k)
        rows = np.arange(n)
        others = s.copy()
        others[rows, y] = -np.inf
        rival = others.argmax(axis=1)
        gap = s[rows, rival] - s[rows, y]
        wrong = (gap >= 0).astype(s.dtype) / s.dtype.type(n)
        grad = np.zeros_like(s)
        grad[rows, rival] += wrong
        grad[rows, y] -= wrong
        self._grad = grad
        return float(np.sum(np.maximum(gap, 0)) / n)
