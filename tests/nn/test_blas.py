"""In-place BLAS updates agree with the NumPy fallback (both paths are used in the wild)."""

from pathlib import Path

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


def test_blas_is_found_in_the_wheel_and_falls_back_elsewhere(monkeypatch, tmp_path):
    # NumPy's pip wheels ship OpenBLAS in numpy.libs and vedere uses it; other builds
    # (conda, distribution packages) have no numpy.libs and vedere falls back to ufuncs
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    assert blas.available() == any(libs.glob("*openblas*"))
    # a NumPy without numpy.libs (its files elsewhere): no library, and the updates still work
    fake = tmp_path / "site-packages" / "numpy"
    fake.mkdir(parents=True)
    monkeypatch.setattr(np, "__file__", str(fake / "__init__.py"))
    assert blas._find_openblas() is None
    monkeypatch.setattr(blas, "_BLAS", blas._find_openblas())
    assert not blas.available()
    y = np.ones(4, dtype=np.float32)
    blas.axpy(2.0, np.arange(4, dtype=np.float32), y)
    np.testing.assert_array_equal(y, [1, 3, 5, 7])
