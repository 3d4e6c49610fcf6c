"""Discrete AdaBoost over decision stumps, as in Viola and Jones (2001), Table 1.

Given samples x_i with labels y_i ∈ {0, 1} (l faces, m non-faces):

1. w_i = 1/(2l) for faces, 1/(2m) for non-faces.
2. For t = 1..T: normalise w to sum 1; pick the stump h_t(x) = [p·f(x) < p·θ] (feature f,
   threshold θ, polarity p) with the least weighted error e_t = Σ w_i |h(x_i) − y_i|;
   β_t = e_t / (1 − e_t); w_i ← w_i · β_t^(1 − |h(x_i) − y_i|) (correct samples lose weight).
3. The strong classifier says "face" when Σ α_t h_t(x) ≥ θ_stage, α_t = log(1/β_t)
   (θ_stage = ½ Σ α_t in the paper; the cascade lowers it to keep its detection rate).

**Best stump in one pass.** Each feature's sample order is sorted once (``order``, (F, N)).
With signed weights s_i = +w_i (face) / −w_i (non-face) in that order and c_k = Σ_{j≤k} s_j,
a threshold after position k errs by T₊ − c_k if faces lie below it and by T₋ + c_k if they
lie above (T₊, T₋: total face and non-face weight), so a feature's best error is
min(T₊ − max_k c_k, T₋ + min_k c_k): one pass of a gather, a running sum and a max/min per
feature (compiled with Numba, :mod:`vedere.detect.boosting_kernels`).

**Ties.** A threshold can only fall between *distinct* values. The top bit of each ``order``
entry flags "the next sample in this order has the same value", and the pass only considers
positions where that flag is clear, so the errors are exact.

**Memory.** ``order`` takes F·N·2 bytes (uint16 while N < 32,768; 162,336 × 6,400 → 2.1 GB).
Feature values are never held for all features: they are computed ``chunk`` features at a
time (a chunk × N float32 block) to be sorted, and recomputed for the winner each round.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from vedere.detect import boosting_kernels

ValuesFn = Callable[[np.ndarray], np.ndarray]  # feature indices (k,) -> values (k, N) float32


@dataclass
class Stump:
    """h(x) = 1 when ``polarity`` · f(x) < ``polarity`` · ``threshold`` (polarity +1: the
    face side is below the threshold), weighted by ``alpha`` in the strong classifier."""

    feature: int
    threshold: float
    polarity: int
    error: float
    alpha: float

    @property
    def leaves(self) -> tuple[float, float]:
        """OpenCV's (left, right) leaf values: left when f(x) < threshold."""
        return (self.alpha, 0.0) if self.polarity > 0 else (0.0, self.alpha)

    def predict(self, values: np.ndarray) -> np.ndarray:
        """h(x) ∈ {0, 1} for the feature's values (any shape)."""
        below = np.asarray(values) < np.float32(self.threshold)
        return (below if self.polarity > 0 else ~below).astype(np.int8)


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def order_dtype(n_samples: int) -> type:
    """uint16 while the sample index fits in 15 bits (the top bit is the tie flag)."""
    return np.uint16 if n_samples < 2**15 else np.uint32


def presort(values_fn: ValuesFn, n_features: int, chunk: int = 2048) -> np.ndarray:
    """Each feature's samples in ascending order of value, with the tie flag (top bit: the
    next sample has the same value): (F, N) uint16 or uint32, built ``chunk`` features at a
    time on a few threads."""
    n = values_fn(np.arange(min(1, n_features))).shape[1]
    dtype = order_dtype(n)
    flag = dtype(1 << (8 * np.dtype(dtype).itemsize - 1))
    order = np.empty((n_features, n), dtype=dtype)

    def work(start: int) -> None:
        idx = np.arange(start, min(start + chunk, n_features))
        vals = values_fn(idx)
        o = np.argsort(vals, axis=1)
        tied = np.take_along_axis(vals, o, axis=1)
        tied = tied[:, 1:] == tied[:, :-1]
        o = o.astype(dtype)
        o[:, :-1] |= tied.astype(dtype) * flag
        order[idx] = o

    with ThreadPoolExecutor(_workers()) as pool:
        list(pool.map(work, range(0, n_features, chunk)))
    return order


def _totals(signed: np.ndarray) -> tuple[float, float]:
    """T₊ and T₋: the total weight of the faces and of the non-faces."""
    return float(signed[signed > 0].sum()), float(-signed[signed < 0].sum())


def stump_errors(order: np.ndarray, signed: np.ndarray) -> np.ndarray:
    """The exact best-stump error of every feature, (F,) float64, from the flagged ``order``
    and the signed weights (N,) (+w faces, −w non-faces)."""
    t_pos, t_neg = _totals(signed)
    out = np.empty(order.shape[0], dtype=np.float64)
    flag = 1 << (8 * order.dtype.itemsize - 1)
    signed = np.ascontiguousarray(signed, np.float64)
    boosting_kernels.stump_errors(order, signed, t_pos, t_neg, flag, out)
    return out


def exact_stump(values: np.ndarray, signed: np.ndarray) -> tuple[float, float, int]:
    """The best stump on one feature's values (N,), ties respected: (error, threshold,
    polarity). Thresholds sit halfway between neighbouring distinct values."""
    v = np.asarray(values, dtype=np.float32)
    idx = np.argsort(v, kind="stable")
    sv = v[idx]
    c = np.cumsum(signed[idx].astype(np.float64))
    t_pos, t_neg = _totals(signed)
    ends = np.flatnonzero(np.append(sv[1:] != sv[:-1], True))  # last index of each run
    cs = np.concatenate([[0.0], c[ends]])  # prefix sums at allowed splits (first: empty)
    below = t_pos - cs  # faces below the threshold
    above = t_neg + cs
    kb, ka = int(np.argmin(below)), int(np.argmin(above))
    if below[kb] <= above[ka]:
        err, k, pol = float(below[kb]), kb, 1
    else:
        err, k, pol = float(above[ka]), ka, -1
    if k == 0:
        thr = float(sv[0]) - 1.0
    elif k == len(ends):
        thr = float(sv[-1]) + 1.0
    else:
        a, b = sv[ends[k - 1]], sv[ends[k - 1] + 1]
        mid = np.float32((np.float64(a) + np.float64(b)) / 2)
        thr = float(mid if mid > a else b)
    return max(err, 0.0), thr, pol


class AdaBoost:
    """Boosting rounds over a presorted feature pool; one :meth:`step` adds one stump.

    ``values_fn(indices)`` returns those features' values on the N training samples (k, N)
    float32; ``labels`` (N,) in {0, 1}."""

    def __init__(
        self,
        values_fn: ValuesFn,
        n_features: int,
        labels: np.ndarray,
        order: np.ndarray | None = None,
    ) -> None:
        y = np.asarray(labels)
        if y.ndim != 1 or not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be a 1-D array of 0 (non-face) and 1 (face)")
        n_pos, n_neg = int(y.sum()), int((1 - y).sum())
        if n_pos == 0 or n_neg == 0:
            raise ValueError(f"AdaBoost needs both classes, got {n_pos} faces and {n_neg} others")
        self.values_fn, self.labels = values_fn, y.astype(bool)
        self.order = presort(values_fn, n_features) if order is None else order
        if self.order.shape != (n_features, len(y)):
            raise ValueError(f"order must be {(n_features, len(y))}, got {self.order.shape}")
        self.weights = np.where(self.labels, 1 / (2 * n_pos), 1 / (2 * n_neg))
        self.stumps: list[Stump] = []

    def step(self) -> Stump:
        """One boosting round: pick the stump of least weighted error, give it α = log(1/β), lower
        the weight of the samples it gets right; returns the stump."""
        w = self.weights / self.weights.sum()
        signed = np.where(self.labels, w, -w)
        f = int(np.argmin(stump_errors(self.order, signed)))
        values = self.values_fn(np.array([f]))[0]
        err, thr, pol = exact_stump(values, signed)
        e = min(max(err, 1e-10), 1 - 1e-10)
        beta = e / (1 - e)
        stump = Stump(f, thr, pol, err, math.log(1 / beta))
        correct = stump.predict(values).astype(bool) == self.labels
        self.weights = w * np.where(correct, beta, 1.0)
        self.stumps.append(stump)
        return stump

    def scores(self, values: np.ndarray | None = None) -> np.ndarray:
        """Σ α_t h_t(x) for the training samples, or for given values (T, M) of the chosen
        features on other samples."""
        if values is None:
            values = self.values_fn(np.array([s.feature for s in self.stumps]))
        return strong_scores(self.stumps, values)


def stump_sums(
    values: np.ndarray, thresholds: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Σ_k (left_k if values_k < thresholds_k else right_k) for values (K, M) of K stumps'
    features on M samples: (M,) float64, summed stump by stump (as OpenCV does)."""
    out = np.zeros(values.shape[1], dtype=np.float64)
    for row, t, a, b in zip(values, thresholds, left, right, strict=True):
        out += np.where(row < t, a, b)
    return out


def strong_scores(stumps: list[Stump], values: np.ndarray) -> np.ndarray:
    """Σ_t α_t h_t(x) for values (T, M) of the stumps' features on M samples: (M,) float64."""
    thresholds = np.array([s.threshold for s in stumps], dtype=np.float32)
    leaves = np.array([s.leaves for s in stumps], dtype=np.float64).reshape(-1, 2)
    return stump_sums(values, thresholds, leaves[:, 0], leaves[:, 1])


@dataclass
class CategoricalStump:
    """h(x) = 1 when the LBP code of ``feature`` is in ``subset`` (8,) int32 words (the
    codes where the face weight outweighed the non-face weight), weighted by ``alpha``."""

    feature: int
    subset: np.ndarray
    error: float
    alpha: float

    @property
    def leaves(self) -> tuple[float, float]:
        """OpenCV's (left, right) leaf values: left when the code is in the subset."""
        return (self.alpha, 0.0)

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """h(x) ∈ {0, 1}: 1 where the LBP code is in the stump's subset of the 256 codes."""
        from vedere.detect.lbp import in_subset

        return in_subset(self.subset, codes).astype(np.int8)


class CategoricalBoost:
    """Discrete AdaBoost (as :class:`AdaBoost`) over categorical stumps on LBP codes
    (``codes`` (F, N) uint8 of the F features on the N samples): each round the feature whose
    best 256-code set errs least (:func:`vedere.detect.boosting_kernels.lbp_errors`)."""

    def __init__(self, codes: np.ndarray, labels: np.ndarray) -> None:
        y = np.asarray(labels)
        if y.ndim != 1 or not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be a 1-D array of 0 (non-face) and 1 (face)")
        n_pos, n_neg = int(y.sum()), int((1 - y).sum())
        if n_pos == 0 or n_neg == 0:
            raise ValueError(f"AdaBoost needs both classes, got {n_pos} faces and {n_neg} others")
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if self.codes.shape[1] != len(y):
            raise ValueError(f"codes must be (F, {len(y)}), got {self.codes.shape}")
        self.labels = y.astype(bool)
        self.weights = np.where(self.labels, 1 / (2 * n_pos), 1 / (2 * n_neg))
        self.stumps: list[CategoricalStump] = []

    def step(self) -> CategoricalStump:
        """One boosting round over the LBP features: the feature whose best code subset errs least
        becomes a stump, the weights are updated as in :meth:`AdaBoost.step`; returns the stump."""
        from vedere.detect.lbp import subset_of

        w = self.weights / self.weights.sum()
        signed = np.where(self.labels, w, -w)
        errors = np.empty(len(self.codes), dtype=np.float64)
        boosting_kernels.lbp_errors(self.codes, np.ascontiguousarray(signed), errors)
        f = int(np.argmin(errors))
        row = self.codes[f].astype(np.int64)
        pos = np.bincount(row, weights=np.where(self.labels, w, 0.0), minlength=256)
        neg = np.bincount(row, weights=np.where(self.labels, 0.0, w), minlength=256)
        subset = subset_of(np.flatnonzero(pos > neg))
        err = float(np.minimum(pos, neg).sum())
        e = min(max(err, 1e-10), 1 - 1e-10)
        beta = e / (1 - e)
        stump = CategoricalStump(f, subset, err, math.log(1 / beta))
        correct = stump.predict(row).astype(bool) == self.labels
        self.weights = w * np.where(correct, beta, 1.0)
        self.stumps.append(stump)
        return stump
