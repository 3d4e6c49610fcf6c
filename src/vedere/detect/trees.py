"""Decision trees of depth D as AdaBoost's weak classifiers (``--weak tree:D``), as in
OpenCV's ``haarcascade_frontalface_alt2`` (depth 2 "splits") and ``opencv_traincascade
-maxDepth``.

A tree is grown greedily, top down: each node takes the best single split of the samples
that reach it — the best stump (Haar: feature and threshold; LBP: feature and 256-code set)
under the boosting weights restricted to those samples (the others weigh 0) — until depth D
or a side holds one class only; each leaf says "face" (1) when the face weight reaching it
outweighs the non-face weight. h(x) ∈ {0, 1} is the leaf a sample reaches, its weighted
error e = Σ w_i [h(x_i) ≠ y_i], and discrete AdaBoost goes on as with stumps
(:mod:`vedere.detect.adaboost`): β = e/(1 − e), α = log 1/β, the leaves worth α and 0.

Nodes are numbered in preorder (a child after its parent), the layout of
:class:`vedere.detect.cascade.Cascade` and of OpenCV's trees.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vedere.detect import boosting_kernels
from vedere.detect.adaboost import exact_stump, presort, stump_errors
from vedere.detect.lbp import in_subset, subset_of

#: the deepest tree ``--weak tree:D`` grows (2**D − 1 nodes at most)
MAX_DEPTH = 5


@dataclass
class WeakTree:
    """Per node n: ``feature[n]``, ``split[n]`` (a threshold, or an (8,) int32 code set),
    ``children[n]`` (the node each side leads to, −1: a leaf) and ``labels[n]`` (the leaf's
    class on each side, where it is a leaf); ``alpha``, ``error``. Left: value < threshold,
    or code in the set."""

    feature: list[int] = field(default_factory=list)
    split: list[float | np.ndarray] = field(default_factory=list)
    children: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    alpha: float = 0.0
    error: float = 0.0
    categorical: bool = False

    def goes_left(self, n: int, values: np.ndarray) -> np.ndarray:
        """Which of ``values`` (M,) of node ``n``'s feature go left: value < threshold, or
        (LBP) code in the node's set."""
        if self.categorical:
            return in_subset(self.split[n], values)  # type: ignore[arg-type]
        return np.asarray(values) < np.float32(self.split[n])  # type: ignore[arg-type]

    def predict(self, node_values: np.ndarray) -> np.ndarray:
        """h(x) (M,) int8 from the values (n_nodes, M) of each node's feature."""
        m = node_values.shape[1]
        out = np.zeros(m, dtype=np.int8)
        stack = [(0, np.arange(m))]
        while stack:
            n, idx = stack.pop()
            left = self.goes_left(n, node_values[n, idx])
            for side, sub in ((0, idx[left]), (1, idx[~left])):
                child = self.children[n][side]
                if child >= 0:
                    stack.append((child, sub))
                else:
                    out[sub] = self.labels[n][side]
        return out


def parse_weak(spec: str) -> int:
    """``stump`` → 1, ``tree:D`` → D (1 ≤ D ≤ MAX_DEPTH); ValueError otherwise."""
    if spec == "stump":
        return 1
    if spec.startswith("tree:") and spec[5:].isdigit() and 1 <= int(spec[5:]) <= MAX_DEPTH:
        return int(spec[5:])
    raise ValueError(f"weak must be stump or tree:D with 1 <= D <= {MAX_DEPTH}, got {spec!r}")


class TreeBoost:
    """Discrete AdaBoost over trees of depth ``depth``: Haar features (``values_fn``,
    ``n_features``: as :class:`vedere.detect.adaboost.AdaBoost`, presorted once) or LBP
    (``codes`` (F, N) uint8)."""

    def __init__(
        self,
        labels: np.ndarray,
        depth: int,
        values_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        n_features: int = 0,
        codes: np.ndarray | None = None,
    ) -> None:
        y = np.asarray(labels)
        n_pos, n_neg = int(y.sum()), int((1 - y).sum())
        if n_pos == 0 or n_neg == 0:
            raise ValueError(f"AdaBoost needs both classes, got {n_pos} faces and {n_neg} others")
        self.labels = y.astype(bool)
        self.depth = depth
        self.values_fn = values_fn
        self.codes = None if codes is None else np.ascontiguousarray(codes, dtype=np.uint8)
        self.order = presort(values_fn, n_features) if values_fn is not None else None
        self.weights = np.where(self.labels, 1 / (2 * n_pos), 1 / (2 * n_neg))
        self.stumps: list[WeakTree] = []  # named as AdaBoost's, for the trainer

    def _best(self, signed: np.ndarray) -> tuple[int, float | np.ndarray, np.ndarray]:
        """The best split under these signed weights: (feature, split, goes left (N,))."""
        if self.codes is not None:
            errors = np.empty(len(self.codes), dtype=np.float64)
            boosting_kernels.lbp_errors(self.codes, np.ascontiguousarray(signed), errors)
            f = int(np.argmin(errors))
            row = self.codes[f].astype(np.int64)
            pos = np.bincount(row, weights=np.maximum(signed, 0), minlength=256)
            neg = np.bincount(row, weights=np.maximum(-signed, 0), minlength=256)
            subset = subset_of(np.flatnonzero(pos > neg))
            return f, subset, in_subset(subset, row)
        assert self.order is not None and self.values_fn is not None
        f = int(np.argmin(stump_errors(self.order, signed)))
        values = self.values_fn(np.array([f]))[0]
        _, thr, _ = exact_stump(values, signed)
        return f, thr, values < np.float32(thr)

    def step(self) -> WeakTree:
        """One boosting round (Viola–Jones' AdaBoost): grow the tree that best splits the
        weighted samples, with error ε, β = ε / (1 - ε) and α = ln(1/β); the samples it gets
        right are down-weighted by β."""
        w = self.weights / self.weights.sum()
        y = self.labels
        tree = WeakTree(categorical=self.codes is not None)
        pred = np.zeros(len(y), dtype=np.int8)

        def grow(mask: np.ndarray, depth: int) -> int:
            n = len(tree.feature)
            signed = np.where(mask, np.where(y, w, -w), 0.0)
            f, split, left = self._best(signed)
            tree.feature.append(f)
            tree.split.append(split)
            tree.children.append([-1, -1])
            tree.labels.append([0, 0])
            for side, sub in ((0, mask & left), (1, mask & ~left)):
                w_pos, w_neg = float(w[sub & y].sum()), float(w[sub & ~y].sum())
                if depth > 1 and w_pos > 0 and w_neg > 0:
                    tree.children[n][side] = grow(sub, depth - 1)
                else:
                    label = int(w_pos > w_neg)
                    tree.labels[n][side] = label
                    pred[sub] = label
            return n

        grow(np.ones(len(y), dtype=bool), self.depth)
        err = float(w[pred.astype(bool) != y].sum())
        e = min(max(err, 1e-10), 1 - 1e-10)
        beta = e / (1 - e)
        tree.error, tree.alpha = err, math.log(1 / beta)
        self.weights = w * np.where(pred.astype(bool) == y, beta, 1.0)
        self.stumps.append(tree)
        return tree
