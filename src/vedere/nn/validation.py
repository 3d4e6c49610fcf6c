"""Input checks shared by layers and losses: clear ValueErrors, never silent broadcasting."""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _square_sum(x: np.ndarray) -> float:
    """Σ x² — one BLAS dot for contiguous arrays. It is finite whenever every entry is
    finite and |x| < 1e19; otherwise the caller looks at the entries one by one."""
    if x.flags.c_contiguous:
        flat = x.reshape(-1)
        return float(np.dot(flat, flat))
    return float(np.add.reduce(x * x, axis=None))


def check_float_array(
    x: object,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype: np.dtype | None = None,
    finite: bool = True,
) -> np.ndarray:
    """Return ``x`` if it is a float32/float64 ndarray of the expected rank and dtype.

    Raises ValueError naming ``name`` and the offending shape or dtype otherwise. With
    ``finite`` the array must hold no NaN or inf (checked with one reduction, then
    precisely when that reduction is not finite).
    """
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(
            f"{name} must be float32 or float64, got dtype {x.dtype} (shape {x.shape})"
        )
    if dtype is not None and x.dtype != dtype:
        raise ValueError(
            f"{name} has dtype {x.dtype} but the model computes in {np.dtype(dtype)} "
            f"(shape {x.shape}); convert it with .astype(np.{np.dtype(dtype).name})"
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {x.shape}")
    if finite and x.size and not np.isfinite(_square_sum(x)):
        bad = ~np.isfinite(x)
        if bad.any():
            n_nan = int(np.isnan(x).sum())
            n_inf = int(bad.sum()) - n_nan
            raise ValueError(
                f"{name} (shape {x.shape}) contains {n_nan} NaN and {n_inf} inf values"
            )
    return x


def check_labels(y: object, name: str, n: int, n_classes: int) -> np.ndarray:
    """Return integer class labels ``y`` of shape (n,) with values in [0, n_classes)."""
    if not isinstance(y, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(y).__name__}")
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match the predictions, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{name} holds labels in [{y.min()}, {y.max()}] but there are {n_classes} classes "
            f"(valid labels 0..{n_classes - 1})"
        )
    return y


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ValueError unless ``a`` and ``b`` have exactly the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} has shape {b.shape} but {name_a} has shape {a.shape}; "
            "they must match exactly (no broadcasting)"
        )
