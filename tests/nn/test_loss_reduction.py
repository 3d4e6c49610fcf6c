"""Summed vs mean cross-entropy against PyTorch's reduction="sum" / "mean"."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vedere.nn import SoftmaxCrossEntropy


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_reductions_match_torch(reduction, smoothing):
    rng = np.random.default_rng(0)
    s = rng.standard_normal((7, 5))
    y = rng.integers(0, 5, 7)
    loss = SoftmaxCrossEntropy(smoothing, reduction=reduction)
    value = loss(s, y)
    t = torch.tensor(s, requires_grad=True)
    want = F.cross_entropy(t, torch.from_numpy(y), label_smoothing=smoothing, reduction=reduction)
    want.backward()
    assert value == pytest.approx(want.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), t.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert loss.per_sample(value, 7) == pytest.approx(
        F.cross_entropy(t, torch.from_numpy(y), label_smoothing=smoothing).item(), rel=1e-12
    )


def test_bad_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        SoftmaxCrossEntropy(reduction="max")
