"""Stateless functions of the course: softmax, log-softmax, sigmoid and the activations.

All take and return NumPy arrays and never overflow: softmax subtracts the row maximum
(softmax(s) = softmax(s - max s)), sigmoid splits on the sign of its argument.
"""

from __future__ import annotations

import numpy as np


def softmax(s: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax p_k = e^{s_k} / Σ_j e^{s_j}, computed as e^{s_k - m} / Σ_j e^{s_j - m}, m = max s.

    ``s``: scores (logits) of any shape; the classes lie along ``axis`` (default: last).
    Returns probabilities of the same shape that sum to 1 along ``axis``.

    >>> softmax(np.array([3.0, 1.0, 0.2])).round(8)
    array([0.8360188 , 0.11314284, 0.05083836])
    """
    s = np.asarray(s)
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def logsumexp(s: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """log Σ_j e^{s_j} = m + log Σ_j e^{s_j - m}, m = max_j s_j (no overflow)."""
    m = s.max(axis=axis, keepdims=True)
    out = m + np.log(np.exp(s - m).sum(axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(s: np.ndarray, axis: int = -1) -> np.ndarray:
    """log p_k = s_k - log Σ_j e^{s_j}: finite even where p_k underflows to 0."""
    return s - logsumexp(s, axis=axis, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^{-z}); for z < 0 computed as e^{z} / (1 + e^{z}) so nothing overflows."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def sigmoid_grad(f: np.ndarray) -> np.ndarray:
    """σ'(z) = f (1 - f), given f = σ(z) — the course's formula."""
    return f * (1 - f)


def tanh(z: np.ndarray) -> np.ndarray:
    """tanh(z) = (e^{z} - e^{-z}) / (e^{z} + e^{-z})."""
    return np.tanh(z)


def tanh_grad(f: np.ndarray) -> np.ndarray:
    """tanh'(z) = 1 - f², given f = tanh(z) — the course's formula."""
    return 1 - f * f


def relu(z: np.ndarray) -> np.ndarray:
    """ReLU(z) = max(0, z)."""
    return np.maximum(z, 0)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """ReLU'(z) = 1 if z > 0 else 0 (the course's step)."""
    return (z > 0).astype(z.dtype)


def leaky_relu(z: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """LeakyReLU(z) = z if z > 0 else slope·z."""
    return np.where(z > 0, z, z * slope)


def leaky_relu_grad(z: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """LeakyReLU'(z) = 1 if z > 0 else slope."""
    return np.where(z > 0, 1, slope).astype(z.dtype)
