"""Weight initialisation by name, as the course lists them.

=========  ===============================  ==========================================
name       W_ij ~                           why
=========  ===============================  ==========================================
zeros      0                                every unit computes the same: symmetry
small      0.01 · N(0, 1)                   breaks symmetry; signals shrink layer by layer
xavier     N(0, 1) / sqrt(n_in)             calibrated: output variance ≈ input variance
he         N(0, 1) · sqrt(2 / n_in)         calibrated for ReLU, which zeroes half the inputs
=========  ===============================  ==========================================

Biases start at zero in every scheme.
"""

from __future__ import annotations

import numpy as np

SCHEMES = ("zeros", "small", "xavier", "he")
ALIASES = {"lecun": "xavier", "calibrated": "xavier", "normal": "small", "zero": "zeros"}


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator (returned as is), an int seed, or None (seed 0)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def resolve(scheme: str) -> str:
    """Canonical scheme name; ValueError listing the valid names otherwise."""
    name = ALIASES.get(scheme, scheme)
    if name not in SCHEMES:
        raise ValueError(f"unknown initialisation {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return name


def init_weight(
    shape: tuple[int, int],
    scheme: str,
    rng: np.random.Generator,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """A weight matrix of ``shape`` = (n_out, n_in) drawn by ``scheme`` (see module docstring)."""
    name = resolve(scheme)
    n_in = shape[1]
    if name == "zeros":
        return np.zeros(shape, dtype=dtype)
    w = rng.standard_normal(shape)
    if name == "small":
        w *= 0.01
    elif name == "xavier":
        w /= np.sqrt(n_in)
    else:  # he
        w *= np.sqrt(2.0 / n_in)
    return w.astype(dtype)
