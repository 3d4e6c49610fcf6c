"""vedere.nn.gemm: C ← A·B (+ C) through MKL or NumPy, for every operand layout the layers
pass, against NumPy's matmul in float64."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vedere.nn import gemm

BACKENDS = ["numpy", "mkl"]


def _has_mkl() -> bool:
    return bool(gemm._candidates())


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "mkl" and not _has_mkl():
        pytest.skip("MKL is not installed (pip install 'vedere[mkl]')")
    gemm.use(request.param)
    yield request.param
    gemm.use(None)


def _operand(rng, shape, transposed, dtype):
    """A C-contiguous array of ``shape``, or the transpose of one (an F-ordered view)."""
    if transposed:
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    return rng.standard_normal(shape).astype(dtype)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 40),
    k=st.integers(1, 40),
    n=st.integers(1, 40),
    ta=st.booleans(),
    tb=st.booleans(),
    accumulate=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]),
    seed=st.integers(0, 2**16),
)
def test_gemm_matches_matmul_for_every_layout(m, k, n, ta, tb, accumulate, dtype, seed):
    rng = np.random.default_rng(seed)
    a = _operand(rng, (m, k), ta, dtype)
    b = _operand(rng, (k, n), tb, dtype)
    start = rng.standard_normal((m, n)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64) + (start if accumulate else 0)
    tol = 1e-4 if dtype == "float32" else 1e-12
    for name in ["numpy"] + (["mkl"] if _has_mkl() else []):
        gemm.use(name)
        try:
            out = start.copy()
            assert gemm.gemm(a, b, out, accumulate=accumulate) is out
        finally:
            gemm.use(None)
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * k)


def test_gemm_with_a_strided_row_slice_and_a_non_contiguous_operand(backend, rng):
    """Row blocks of a larger matrix (the convolution's blocks) are read in place; an
    operand BLAS cannot read (every other column) goes through NumPy; both are right."""
    big = rng.standard_normal((50, 30)).astype(np.float32)
    a = big[10:30]
    b = rng.standard_normal((60, 8)).astype(np.float32)[::2]
    out = np.empty((20, 8), np.float32)
    gemm.gemm(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


def test_gemm_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"gemm: shapes \(2, 3\) · \(4, 5\)"):
        gemm.gemm(np.ones((2, 3)), np.ones((4, 5)), np.empty((2, 5)))


def test_layers_agree_across_backends(rng):
    """A small CNN step (conv, linear: forward and the weight gradients; the hidden
    layer's input gradient feeds them) gives the same numbers with
    MKL as with NumPy's OpenBLAS, to float32 rounding."""
    if not _has_mkl():
        pytest.skip("MKL is not installed (pip install 'vedere[mkl]')")
    from vedere.nn import Conv2d, Flatten, Linear, Sequential

    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    results = []
    for name in BACKENDS:
        gemm.use(name)
        try:
            net = Sequential(Conv2d(3, 5, 3, padding=1, rng=0), Flatten(), Linear(320, 4, rng=1))
            y = net.forward(x)
            net.backward(np.ones_like(y))
            results.append([y] + [p.grad.copy() for p in net.parameters()])
        finally:
            gemm.use(None)
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_vedere_blas_environment_variable_is_checked():
    env = {**os.environ, "VEDERE_BLAS": "fastest"}
    code = "from vedere.nn import gemm; gemm.backend()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert "VEDERE_BLAS must be auto, mkl or numpy, got 'fastest'" in out.stderr


def test_vedere_blas_numpy_is_honoured():
    env = {**os.environ, "VEDERE_BLAS": "numpy"}
    code = "from vedere.nn import gemm; print(gemm.backend())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "numpy"
