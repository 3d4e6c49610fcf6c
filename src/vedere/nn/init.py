"""Weight initialisation by name: the course's three schemes, and He's and Glorot's.

=========  =======================================  ==============================================
name       W_ij ~                                   why
=========  =======================================  ==============================================
zeros      0                                        every unit computes the same: symmetry
small      0.01 · N(0, 1)                           breaks symmetry; signals shrink layer by layer
lecun      N(0, 1) / sqrt(n_in)                     calibrated: output variance ≈ input variance
he         N(0, 1) · sqrt(2 / n_in)                 calibrated for ReLU, which zeroes half the
                                                    inputs
glorot     N(0, 1) · sqrt(2 / (n_in + n_out))       a compromise between the forward and the
                                                    backward pass's variance
=========  =======================================  ==============================================

(n_in, n_out) = (fan-in, fan-out) of the layer. In PyTorch's terms: lecun is
``kaiming_normal_(w, nonlinearity="linear")``, he is ``kaiming_normal_(w,
nonlinearity="relu")`` and glorot is ``xavier_normal_(w)``.

Aliases: ``"xavier"`` means **lecun** — the name vedere used for the course's
N(0, 1)/sqrt(n_in) before it was given its proper name (Glorot & Bengio's "Xavier"
initialisation is ``glorot``); ``"calibrated"`` is lecun too, ``"normal"`` is small and
``"zero"`` is zeros. Biases start at zero in every scheme.
"""

from __future__ import annotations

import numpy as np

#: the schemes, by their proper names
CANONICAL = ("zeros", "small", "lecun", "he", "glorot")
#: the names offered to users (``vedere train --init``, the playground): the schemes and
#: "xavier", the name the course's N(0, 1)/sqrt(n_in) had before (an alias of lecun)
SCHEMES = ("zeros", "small", "lecun", "xavier", "he", "glorot")
#: every other accepted name → its scheme
ALIASES = {
    "xavier": "lecun",
    "calibrated": "lecun",
    "normal": "small",
    "zero": "zeros",
    "kaiming": "he",
    "xavier_normal": "glorot",
    "glorot_normal": "glorot",
}


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator (returned as is), an int seed, or None (fresh
    entropy from the operating system, as ``np.random.default_rng()`` and PyTorch do: two
    layers made without a seed get different weights)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def resolve(scheme: str) -> str:
    """Canonical scheme name; ValueError listing the valid names otherwise."""
    name = ALIASES.get(scheme, scheme) if isinstance(scheme, str) else scheme
    if name not in CANONICAL:
        raise ValueError(
            f"unknown initialisation {str(scheme)[:40]!r}; choose one of {', '.join(CANONICAL)} "
            f"(aliases: {', '.join(f'{a}={n}' for a, n in ALIASES.items())})"
        )
    return name


def std(scheme: str, n_in: int, n_out: int) -> float:
    """The standard deviation of ``scheme``'s weights for a layer of fan-in ``n_in`` and
    fan-out ``n_out`` (see the module docstring)."""
    name = resolve(scheme)
    return {
        "zeros": 0.0,
        "small": 0.01,
        "lecun": 1.0 / np.sqrt(n_in),
        "he": np.sqrt(2.0 / n_in),
        "glorot": np.sqrt(2.0 / (n_in + n_out)),
    }[name]


def init_weight(
    shape: tuple[int, int],
    scheme: str,
    rng: np.random.Generator,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """A weight matrix of ``shape`` = (n_out, n_in) drawn by ``scheme``: N(0, 1) · std
    (see the module docstring)."""
    name = resolve(scheme)
    n_out, n_in = shape
    if name == "zeros":
        return np.zeros(shape, dtype=dtype)
    w = rng.standard_normal(shape)
    w *= std(name, n_in, n_out)
    return w.astype(dtype)
