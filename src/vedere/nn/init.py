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

import math

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


# -- structured initialisations (airbench94's) ----------------------------------------------
def dirac_(weight: np.ndarray) -> np.ndarray:
    """Make a conv kernel (C_out, C_in, kh, kw) the identity, in place, and return it:
    W[o, c, u, v] = 1 if o = c < min(C_out, C_in) and (u, v) = (kh//2, kw//2), else 0
    (``torch.nn.init.dirac_``). airbench94 applies it to the first C_in filters of every
    3×3 conv, ``dirac_(w[:C_in])``, so that each block starts by passing its input through."""
    if not isinstance(weight, np.ndarray) or weight.ndim != 4:
        raise ValueError(
            f"dirac_ needs a conv kernel (C_out, C_in, kh, kw), got {getattr(weight, 'shape', '?')}"
        )
    o, c, kh, kw = weight.shape
    weight[...] = 0
    k = min(o, c)
    weight[np.arange(k), np.arange(k), kh // 2, kw // 2] = 1
    return weight


#: images whose patches are read at a time (bounds the memory of the patch matrix)
_PATCH_CHUNK = 128


def patch_covariance(images: np.ndarray, kernel_size: tuple[int, int]) -> np.ndarray:
    """The uncentred covariance Σ = (1/P) Σ_p p pᵀ (D, D), D = C·kh·kw, of every kh×kw patch p
    (stride 1, no padding) of ``images`` (N, C, H, W), each flattened in (c, u, v) order —
    the order of a conv kernel's (C_in, kh, kw). Accumulated in float64, a few images at a
    time."""
    x = np.asarray(images)
    if x.ndim != 4 or x.dtype.kind != "f":
        raise ValueError(f"images must be float (N, C, H, W), got {x.dtype} {x.shape}")
    kh, kw = kernel_size
    n, c, h, w = x.shape
    if not (1 <= kh <= h and 1 <= kw <= w) or n < 1:
        raise ValueError(f"a {kh}x{kw} patch does not fit images of shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("images hold NaN or inf")
    d = c * kh * kw
    acc = np.zeros((d, d))
    count = 0
    for s in range(0, n, _PATCH_CHUNK):
        win = np.lib.stride_tricks.sliding_window_view(x[s : s + _PATCH_CHUNK], (kh, kw), (2, 3))
        # (b, C, H', W', kh, kw) → rows (b·H'·W', C·kh·kw) in (c, u, v) order
        p = win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, d).astype(np.float64)
        acc += p.T @ p
        count += p.shape[0]
    return acc / count


def patch_whitening(
    images: np.ndarray, kernel_size: tuple[int, int] = (2, 2), eps: float = 5e-4
) -> np.ndarray:
    """airbench94's whitening kernel (2·D, C, kh, kw), D = C·kh·kw, from images (N, C, H, W).

    With Σ = V diag(λ) Vᵀ the patch covariance (:func:`patch_covariance`), eigenvalues in
    decreasing order, filter i < D is v_i / √(λ_i + ε) and filter D + i its negative: the
    first D output channels of a conv with this kernel have patch covariance
    diag(λ / (λ + ε)) ≈ I over these images (whitened), and the second D carry the same
    signal negated, so that a following GELU keeps both signs."""
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    x = np.asarray(images)
    cov = patch_covariance(x, kernel_size)
    lam, vecs = np.linalg.eigh(cov)  # ascending
    lam, vecs = lam[::-1], vecs[:, ::-1]
    if lam[-1] + eps <= 0:
        raise ValueError("the patch covariance is singular; give eps > 0")
    filters = (vecs / np.sqrt(np.maximum(lam, 0) + eps)).T  # row i = v_i / √(λ_i + ε)
    c = x.shape[1]
    kh, kw = kernel_size
    w = np.concatenate([filters, -filters]).reshape(2 * c * kh * kw, c, kh, kw)
    return w.astype(x.dtype)
