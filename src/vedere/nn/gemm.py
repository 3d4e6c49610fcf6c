"""The layers' matrix products C ← A·B (or C ← A·B + C), through Intel MKL when it is
installed (``pip install 'vedere[mkl]'``), else NumPy's ``matmul`` (its bundled OpenBLAS).

Why a second BLAS: a convolution's products are tall and narrow — (N·H·W) × 9·C_in times
9·C_in × C_out with C_out of 24 to 256 — and on the CPUs measured (BENCHMARKS.md) OpenBLAS
reaches 0.65–0.8 of MKL's speed on such shapes (0.9 on the MLP's squarer ones); PyTorch's
CPU build multiplies with MKL. Nothing else changes: the products are the same, only who
computes them, and the results agree to float rounding (tests compare both backends).

``VEDERE_BLAS`` selects: ``auto`` (the default: MKL where its wheel is installed — the user
opted in — else NumPy), ``mkl`` (MKL, or an error at first use), ``numpy``. A per-process
timing to choose was tried and dropped: on a loaded 2-core machine it picked either at
random. MKL is loaded from the environment's ``lib`` folder
(where its wheel puts ``libmkl_rt``) on first use, threaded by Intel's OpenMP runtime (not the
GNU one a loaded PyTorch brings, unless ``MKL_THREADING_LAYER`` says so), its threads told not
to spin after a product (``KMP_BLOCKTIME=0`` unless the user set it: idle, they would take the
cores that vedere's other kernels need next) and run-to-run reproducible results whatever the
arrays' alignment (``MKL_CBWR=AUTO`` unless set). :func:`backend` names the one in force.

MKL is called through its C interface (``cblas_sgemm``/``cblas_dgemm``, row-major, 32-bit
integers): operands must be C-contiguous or transposes of C-contiguous arrays, the output
C-contiguous rows; anything else, or sizes past 2³¹, goes through NumPy.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
import threading
from typing import Any

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_MKL_THREADING_INTEL = 0
_INT_MAX = 2**31 - 1
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)

_lock = threading.Lock()
_state: dict[str, Any] = {}


def _candidates() -> list[str]:
    """Where an installed MKL wheel keeps libmkl_rt: the environment's lib folders."""
    roots = {sys.prefix, sys.base_prefix, os.path.join(os.path.expanduser("~"), ".local")}
    found: list[str] = []
    for root in sorted(roots):
        found += sorted(glob.glob(os.path.join(root, "lib", "libmkl_rt.so*")))
    return found


def _load_mkl() -> dict[Any, Any] | None:
    os.environ.setdefault("KMP_BLOCKTIME", "0")  # read when MKL's OpenMP runtime loads
    # the same results from run to run whatever the arrays' alignment (a resumed run must
    # repeat the uninterrupted one bit for bit)
    os.environ.setdefault("MKL_CBWR", "AUTO")
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            if not os.environ.get("MKL_THREADING_LAYER"):
                # Intel's OpenMP runtime, not the GNU one that PyTorch may have loaded (whose
                # threads spin between products: KMP_BLOCKTIME does not reach them)
                lib.MKL_Set_Threading_Layer(_MKL_THREADING_INTEL)
            fns = {}
            for dtype, name, real in (
                (_F32, "cblas_sgemm", ctypes.c_float),
                (_F64, "cblas_dgemm", ctypes.c_double),
            ):
                fn = getattr(lib, name)
                i = ctypes.c_int
                p = ctypes.c_void_p
                fn.argtypes = [i, i, i, i, i, i, real, p, i, p, i, real, p, i]
                fn.restype = None
                fns[dtype] = fn
        except (OSError, AttributeError):
            continue
        fns["path"] = path
        fns["lib"] = lib
        return fns
    return None


def _mkl() -> dict[Any, Any] | None:
    """MKL's gemm functions (by dtype), or None where NumPy multiplies; loaded once."""
    if "mkl" not in _state:
        with _lock:
            if "mkl" not in _state:
                choice = os.environ.get("VEDERE_BLAS", "auto").strip().lower() or "auto"
                if choice not in ("auto", "mkl", "numpy"):
                    raise ValueError(f"VEDERE_BLAS must be auto, mkl or numpy, got {choice!r}")
                fns = None if choice == "numpy" else _load_mkl()
                if fns is None and choice == "mkl":
                    raise RuntimeError(
                        "VEDERE_BLAS=mkl but no libmkl_rt was found in "
                        f"{sorted({os.path.dirname(c) for c in _candidates()}) or sys.prefix}: "
                        "pip install 'vedere[mkl]'"
                    )
                _state["mkl"] = fns
    return _state["mkl"]


def is_mkl() -> bool:
    """Whether MKL computes the products (then :func:`local_threads` applies)."""
    return _mkl() is not None


class local_threads:
    """``with local_threads(n):`` — MKL products made by *this* thread use ``n`` threads
    (``mkl_set_num_threads_local``; other threads keep theirs); a no-op without MKL.

    Convolutions that split a batch between the cores run their products one thread each
    this way, each core on its own images, with no hand-off inside a product.
    """

    def __init__(self, n: int) -> None:
        self.n = int(n)
        self._previous = 0

    def __enter__(self) -> local_threads:
        fns = _mkl()
        if fns is not None:
            self._previous = fns["lib"].MKL_Set_Num_Threads_Local(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        fns = _mkl()
        if fns is not None:
            fns["lib"].MKL_Set_Num_Threads_Local(self._previous)


def backend() -> str:
    """``"mkl (PATH)"`` or ``"numpy"``: who computes the layers' matrix products."""
    fns = _mkl()
    return "numpy" if fns is None else f"mkl ({fns['path']})"


def use(name: str | None) -> None:
    """Switch backend for this process (``"mkl"``, ``"numpy"``, or None to choose again
    from ``VEDERE_BLAS``); tests use it to run both."""
    with _lock:
        _state.pop("mkl", None)
        if name == "numpy":
            _state["mkl"] = None
        elif name == "mkl":
            fns = _load_mkl()
            if fns is None:
                raise RuntimeError("no libmkl_rt found: pip install 'vedere[mkl]'")
            _state["mkl"] = fns
        elif name is not None:
            raise ValueError(f"backend must be 'mkl', 'numpy' or None, got {name!r}")


def _operand(a: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a 2-D operand as BLAS reads it, or None."""
    item = a.itemsize
    s0, s1 = a.strides
    if s1 == item and s0 % item == 0 and s0 // item >= max(a.shape[1], 1):
        return _NO_TRANS, s0 // item
    if s0 == item and s1 % item == 0 and s1 // item >= max(a.shape[0], 1):
        return _TRANS, s1 // item
    return None


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> np.ndarray:
    """out ← a·b, or out ← a·b + out with ``accumulate``; a (M, K), b (K, N), out (M, N), one
    float dtype. Returns ``out``."""
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or out.shape != (m, n):
        raise ValueError(f"gemm: shapes {a.shape} · {b.shape} → {out.shape} do not match")
    fns = _mkl()
    dtype = out.dtype
    if (
        fns is not None
        and dtype in (_F32, _F64)
        and a.dtype == dtype
        and b.dtype == dtype
        and max(m, n, k) <= _INT_MAX
        and min(m, n, k) > 0
        and out.flags.writeable
    ):
        ta, tb = _operand(a), _operand(b)
        if (
            ta is not None
            and tb is not None
            and out.strides[1] == out.itemsize
            and out.strides[0] == n * out.itemsize
        ):
            fns[dtype](
                _ROW_MAJOR, ta[0], tb[0], m, n, k, 1.0,
                a.ctypes.data, ta[1], b.ctypes.data, tb[1],
                1.0 if accumulate else 0.0, out.ctypes.data, n,
            )  # fmt: skip
            return out
    if accumulate:
        out += a @ b
    else:
        np.matmul(a, b, out=out)
    return out
