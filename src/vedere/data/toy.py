"""Toy 2-D classification problems: XOR, circles, moons, two spirals, Gaussian blobs.

Each function returns ``X`` (N, 2) float32 and ``y`` (N,) int64, drawn from an explicit
``seed``; ``noise`` is the standard deviation of Gaussian noise added to the points.
Only XOR's four corner points and the blobs are linearly hard to varying degrees; circles,
moons and spirals are the course's "not linearly separable" data.
"""

from __future__ import annotations

import numpy as np

DATASETS = ("xor", "circles", "moons", "spirals", "blobs")


def _check(n: int, noise: float) -> None:
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")


def _finish(
    x: np.ndarray, y: np.ndarray, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if noise:
        x = x + rng.normal(0, noise, x.shape)
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order].astype(np.int64)


def xor(n: int = 4, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """XOR: label = (x₁ > 0) xor (x₂ > 0). n = 4 gives the four corners (±1, ±1) exactly."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    if n == 4 and noise == 0:
        x = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], dtype=np.float64)
        return x.astype(np.float32), np.array([0, 1, 1, 0], dtype=np.int64)
    x = rng.uniform(-1, 1, (n, 2))
    x += np.where(x >= 0, 0.05, -0.05)  # keep points off the axes
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    return _finish(x, y, noise, rng)


def circles(
    n: int = 400, noise: float = 0.05, factor: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: radius 1 (class 0) and ``factor`` (class 1)."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t = rng.uniform(0, 2 * np.pi, n)
    r = np.where(np.arange(n) < n0, 1.0, factor)
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    y = (np.arange(n) >= n0).astype(np.int64)
    return _finish(x, y, noise, rng)


def moons(n: int = 400, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half-circles."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n - n0)
    a = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    b = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([a, b]) - [0.5, 0.25]
    y = np.concatenate([np.zeros(n0), np.ones(n - n0)]).astype(np.int64)
    return _finish(x, y, noise, rng)


def spirals(
    n: int = 400, noise: float = 0.05, turns: float = 1.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals, r = t / (2π·turns), angle t (+π for class 1); points in [-1, 1]²."""
    _check(n, noise)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    y = (np.arange(n) >= n0).astype(np.int64)
    t = np.sqrt(rng.uniform(0.02, 1, n)) * turns * 2 * np.pi
    r = t / (turns * 2 * np.pi)
    angle = t + np.pi * y
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return _finish(x, y, noise, rng)


def blobs(
    n: int = 400, noise: float = 0.3, centers: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``centers`` Gaussian blobs with standard deviation ``noise`` around points on a circle."""
    _check(n, 0.0)
    if centers < 2:
        raise ValueError(f"centers must be at least 2, got {centers}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % centers
    angle = 2 * np.pi * y / centers
    x = 0.7 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _finish(x, y.astype(np.int64), noise, rng)


def make(
    name: str, n: int = 400, noise: float | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A toy dataset by name (xor, circles, moons, spirals, blobs); default noise per set."""
    makers = {"xor": xor, "circles": circles, "moons": moons, "spirals": spirals, "blobs": blobs}
    if name not in makers:
        raise ValueError(f"unknown toy dataset {name!r}; choose one of {', '.join(DATASETS)}")
    kwargs = {"n": n, "seed": seed}
    if noise is not None:
        kwargs["noise"] = noise
    return makers[name](**kwargs)
