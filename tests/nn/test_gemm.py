"""vedere.nn.gemm: C ← A·B (+ C) for every operand layout the layers pass, against a float64
product computed apart."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vedere.nn.gemm import gemm


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
def test_gemm_matches_a_float64_product_for_every_layout(m, k, n, ta, tb, accumulate, dtype, seed):
    rng = np.random.default_rng(seed)
    a = _operand(rng, (m, k), ta, dtype)
    b = _operand(rng, (k, n), tb, dtype)
    start = rng.standard_normal((m, n)).astype(dtype)
    want = np.einsum("ik,kj->ij", a.astype(np.float64), b.astype(np.float64))
    want += start if accumulate else 0
    out = start.copy()
    assert gemm(a, b, out, accumulate=accumulate) is out
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol * k)


def test_gemm_into_a_row_block_of_a_larger_matrix(rng):
    """The convolution writes each block's product into its rows of the whole output."""
    a = rng.standard_normal((50, 30)).astype(np.float32)[10:30]
    b = rng.standard_normal((60, 8)).astype(np.float32)[::2]
    big = np.zeros((40, 8), np.float32)
    gemm(a, b, big[5:25])
    np.testing.assert_allclose(big[5:25], a @ b, rtol=1e-5, atol=1e-5)
    assert not big[:5].any() and not big[25:].any()


def test_gemm_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"gemm: shapes \(2, 3\) · \(4, 5\)"):
        gemm(np.ones((2, 3)), np.ones((4, 5)), np.empty((2, 5)))
