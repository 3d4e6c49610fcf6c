"""Dirac and patch-whitening initialisation: dirac against torch.nn.init.dirac_, whitening
by its definition (the whitened patches' covariance is the identity), checked with
PyTorch's own convolution and unfold."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vedere.nn.init import dirac_, patch_covariance, patch_whitening


@pytest.mark.parametrize("shape", [(8, 8, 3, 3), (4, 6, 3, 3), (6, 4, 3, 3), (3, 3, 1, 1)])
def test_dirac_matches_torch(shape):
    w = np.random.default_rng(0).standard_normal(shape)
    t = torch.from_numpy(w.copy())
    torch.nn.init.dirac_(t)
    np.testing.assert_array_equal(dirac_(w), t.numpy())


def test_dirac_of_the_first_input_filters_is_airbench_s_conv_init():
    w = np.random.default_rng(1).standard_normal((6, 4, 3, 3))
    rest = w[4:].copy()
    dirac_(w[:4])  # the first C_in filters pass the input through, the others stay random
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((2, 4, 5, 5)))
    y = F.conv2d(x, torch.from_numpy(w), padding=1).numpy()
    np.testing.assert_allclose(y[:, :4], x.numpy(), atol=1e-12)
    np.testing.assert_array_equal(w[4:], rest)


def _images(n=120, seed=0):
    """Correlated images (N, 3, 12, 12): smooth random fields mixed across channels."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(np.cumsum(rng.standard_normal((n, 3, 12, 12)), axis=2), axis=3) / 6
    mix = np.array([[1.0, 0.5, 0.2], [0.3, 1.0, 0.4], [0.1, 0.6, 1.0]])
    return np.einsum("dc,nchw->ndhw", mix, x) + 0.3


def _torch_patches(x, k):
    """Every k×k patch of x (N, C, H, W) as rows in (c, u, v) order, by torch's unfold."""
    cols = F.unfold(torch.from_numpy(x), k)  # (N, C·k·k, L), channel-major as a conv kernel
    return cols.transpose(1, 2).reshape(-1, cols.shape[1]).numpy()


def test_patch_covariance_is_torch_unfold_s():
    x = _images(20)
    p = _torch_patches(x, 2)
    np.testing.assert_allclose(patch_covariance(x, (2, 2)), p.T @ p / len(p), rtol=1e-10)


def test_whitened_patches_have_identity_covariance():
    x = _images()
    w = patch_whitening(x, (2, 2), eps=1e-12)
    assert w.shape == (24, 3, 2, 2)
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy()  # (N, 24, 11, 11)
    rows = out.transpose(0, 2, 3, 1).reshape(-1, 24)
    cov = rows[:, :12].T @ rows[:, :12] / len(rows)
    np.testing.assert_allclose(cov, np.eye(12), atol=1e-3)
    np.testing.assert_array_equal(rows[:, 12:], -rows[:, :12])  # the negated copy


def test_eps_shrinks_each_direction_by_lambda_over_lambda_plus_eps():
    x = _images()
    eps = 5e-4 * 100
    w = patch_whitening(x, (2, 2), eps=eps)
    p = _torch_patches(x, 2)
    lam = np.linalg.eigvalsh(p.T @ p / len(p))[::-1]
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w[:12])).numpy()
    rows = out.transpose(0, 2, 3, 1).reshape(-1, 12)
    cov = rows.T @ rows / len(rows)
    np.testing.assert_allclose(cov, np.diag(lam / (lam + eps)), atol=1e-8)


def test_whitening_refuses_bad_input_naming_it():
    with pytest.raises(ValueError, match=r"images must be float \(N, C, H, W\)"):
        patch_whitening(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        patch_whitening(np.zeros((2, 3, 1, 1), np.float32))
    with pytest.raises(ValueError, match="eps must be"):
        patch_whitening(np.zeros((2, 3, 4, 4), np.float32), eps=-1)
