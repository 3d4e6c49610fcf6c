"""In-place BLAS updates agree with the NumPy fallback (both paths are used in the wild)."""

import numpy as np
import pytest

from vedere.nn import blas


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("use_blas", [True, False], ids=["blas", "numpy"])
def test_axpy_axpby_scal(monkeypatch, rng, dtype, use_blas):
    if not use_blas:
        monkeypatch.setattr(blas, "_BLAS", None)
    x = rng.standard_normal((7, 5)).astype(dtype)
    y = rng.standard_normal((7, 5)).astype(dtype)
    expected = 0.3 * x + y
    blas.axpy(0.3, x, y)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    expected = -2.0 * x + 0.5 * y
    blas.axpby(-2.0, x, 0.5, y)
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    expected = 1.5 * y
    blas.scal(1.5, y)
    np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_non_contiguous_arrays_fall_back(rng):
    x = rng.standard_normal((6, 6))
    y = rng.standard_normal((6, 6))
    yt = y.T  # not C-contiguous: BLAS would be given the wrong layout
    expected = 2.0 * x + yt
    blas.axpy(2.0, x, yt)
    np.testing.assert_allclose(yt, expected)
    with pytest.raises(ValueError, match="axpy: x has shape"):
        blas.axpy(1.0, x, np.zeros(3))


def test_numpy_wheel_blas_is_found():
    # NumPy's wheels on this platform ship OpenBLAS with cblas symbols; if a future NumPy
    # build does not, the fallback above keeps results the same (only slower)
    assert blas.available()
