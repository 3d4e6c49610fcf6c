"""In-place vector updates through NumPy's own BLAS: y ← a·x + y (axpy), y ← a·x + b·y
(axpby) and x ← a·x (scal); and the number of threads its products use
(:func:`one_thread`).

NumPy's element-wise ufuncs run on one core; BLAS ``axpy`` and ``scal`` use every BLAS
thread. An optimiser step over a 3072×512 weight is about four times faster this way (see
BENCHMARKS.md). We call the OpenBLAS that NumPy itself loaded (its wheels ship one in
``numpy.libs``), so no second BLAS thread pool competes with NumPy's matrix products.
Where that library or its symbols are not found (another NumPy build), or an array is not
contiguous, the same update runs through NumPy ufuncs: results agree to rounding.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Callable
from typing import Any

import numpy as np

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_KINDS = (("s", _F32, ctypes.c_float), ("d", _F64, ctypes.c_double))


def _find_openblas() -> dict[tuple[str, np.dtype], Callable[..., Any]] | None:
    """Load axpy/scal for float32/float64 from NumPy's bundled OpenBLAS, or None."""
    if os.environ.get("VEDERE_NO_BLAS"):
        return None
    libs_dir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs_dir, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix, int_t in (
            ("scipy_cblas_", "64_", ctypes.c_int64),
            ("cblas_", "64_", ctypes.c_int64),
            ("scipy_cblas_", "", ctypes.c_int),
            ("cblas_", "", ctypes.c_int),
        ):
            try:
                funcs = {}
                for letter, dtype, real in _KINDS:
                    axpy = getattr(lib, f"{prefix}{letter}axpy{suffix}")
                    axpy.argtypes = [int_t, real, ctypes.c_void_p, int_t, ctypes.c_void_p, int_t]
                    axpy.restype = None
                    scal = getattr(lib, f"{prefix}{letter}scal{suffix}")
                    scal.argtypes = [int_t, real, ctypes.c_void_p, int_t]
                    scal.restype = None
                    axpby = getattr(lib, f"{prefix}{letter}axpby{suffix}")
                    axpby.argtypes = [
                        int_t,
                        real,
                        ctypes.c_void_p,
                        int_t,
                        real,
                        ctypes.c_void_p,
                        int_t,
                    ]
                    axpby.restype = None
                    funcs["axpy", dtype] = axpy
                    funcs["scal", dtype] = scal
                    funcs["axpby", dtype] = axpby
            except AttributeError:
                continue
            if _works(funcs):
                for name in ("set_num_threads", "get_num_threads"):
                    prefix_ = "scipy_openblas_" if prefix.startswith("scipy") else "openblas_"
                    fn = getattr(lib, f"{prefix_}{name}{suffix}", None)
                    if fn is not None:
                        fn.restype = None if name.startswith("set") else ctypes.c_int
                        fn.argtypes = [ctypes.c_int] if name.startswith("set") else []
                        funcs[name, _F32] = fn
                return funcs
    return None


def _works(funcs: dict[tuple[str, np.dtype], Callable[..., Any]]) -> bool:
    """Check the loaded routines on a tiny example before trusting them."""
    for dtype in (_F32, _F64):
        x = np.arange(5, dtype=dtype)
        y = np.ones(5, dtype=dtype)
        funcs["axpy", dtype](5, 2.0, x.ctypes.data, 1, y.ctypes.data, 1)
        funcs["scal", dtype](5, 0.5, y.ctypes.data, 1)
        funcs["axpby", dtype](5, 1.0, x.ctypes.data, 1, 2.0, y.ctypes.data, 1)
        if not np.array_equal(y, (2 * np.arange(5) + 1) + np.arange(5)):
            return False
    return True


_BLAS = _find_openblas()


def available() -> bool:
    """Whether updates run through BLAS (True) or the NumPy fallback (False)."""
    return _BLAS is not None


def _blas_ok(*arrays: np.ndarray) -> bool:
    first = arrays[0]
    return (
        _BLAS is not None
        and first.dtype in (_F32, _F64)
        and all(a.dtype == first.dtype and a.flags.c_contiguous for a in arrays)
    )


def axpy(a: float, x: np.ndarray, y: np.ndarray) -> None:
    """y ← a·x + y, in place; ``x`` and ``y`` of the same shape."""
    if x.shape != y.shape:
        raise ValueError(f"axpy: x has shape {x.shape}, y has shape {y.shape}")
    if _blas_ok(x, y) and y.flags.writeable:
        _BLAS["axpy", y.dtype](y.size, a, x.ctypes.data, 1, y.ctypes.data, 1)  # type: ignore[index]
    else:
        y += y.dtype.type(a) * x


def axpby(a: float, x: np.ndarray, b: float, y: np.ndarray) -> None:
    """y ← a·x + b·y, in place, in one pass (OpenBLAS's extension to BLAS)."""
    if x.shape != y.shape:
        raise ValueError(f"axpby: x has shape {x.shape}, y has shape {y.shape}")
    if _blas_ok(x, y) and y.flags.writeable:
        _BLAS["axpby", y.dtype](y.size, a, x.ctypes.data, 1, b, y.ctypes.data, 1)  # type: ignore[index]
    else:
        y *= y.dtype.type(b)
        y += y.dtype.type(a) * x


def scal(a: float, x: np.ndarray) -> None:
    """x ← a·x, in place."""
    if _blas_ok(x) and x.flags.writeable:
        _BLAS["scal", x.dtype](x.size, a, x.ctypes.data, 1)  # type: ignore[index]
    else:
        x *= x.dtype.type(a)


def threads_settable() -> bool:
    """Whether :func:`one_thread` can set NumPy's BLAS threads (its OpenBLAS was found)."""
    return _BLAS is not None and ("set_num_threads", _F32) in _BLAS


class one_thread:
    """``with one_thread():`` NumPy's OpenBLAS multiplies on the calling thread only, so
    that several Python threads can each run their own products at once (OpenBLAS runs one
    multi-threaded product at a time); its thread count is restored on exit. The setting is
    process-wide: hold :data:`vedere.parallel.PARALLEL_LOCK` around it. A no-op where the
    library's symbols were not found (:func:`threads_settable`)."""

    def __enter__(self) -> one_thread:
        self._before = None
        if threads_settable():
            self._before = int(_BLAS["get_num_threads", _F32]())  # type: ignore[index]
            _BLAS["set_num_threads", _F32](1)  # type: ignore[index]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._before is not None:
            _BLAS["set_num_threads", _F32](self._before)  # type: ignore[index]
