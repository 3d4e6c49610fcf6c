"""The SGD step as one compiled pass (kernels.sgd_step) against torch.optim.SGD: every kind
(plain, momentum, Nesterov), coupled decay, float32 and float64, the serial and the parallel
build, and the BLAS path that non-contiguous parameters keep."""

import numpy as np
import pytest

from vedere.nn import optim
from vedere.nn.kernels_loader import kernels
from vedere.nn.parameter import Parameter

torch = pytest.importorskip("torch")

KINDS = [
    {"momentum": 0.0},
    {"momentum": 0.9},
    {"momentum": 0.85, "nesterov": True},
]


def _torch_steps(theta, grads, lr, wd, kind):
    t = torch.tensor(theta, requires_grad=True)
    opt = torch.optim.SGD([t], lr=lr, weight_decay=wd, **kind)
    for g in grads:
        t.grad = torch.tensor(g)
        opt.step()
    return t.detach().numpy()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("build", ["serial", "parallel"])
def test_each_build_steps_as_torch(kind, dtype, build, rng, monkeypatch):
    theta = rng.standard_normal((300, 257)).astype(dtype)
    grads = [rng.standard_normal(theta.shape).astype(dtype) for _ in range(4)]
    k = kernels().sgd_step
    calls = []
    real_run = type(k).run

    def run(self, in_parallel, *args):
        calls.append(in_parallel)
        return real_run(self, build == "parallel", *args)

    monkeypatch.setattr(type(k), "run", run)
    p = Parameter(theta.copy())
    opt = optim.SGD([p], lr=0.05, weight_decay=1e-3, **kind)
    for g in grads:
        p.grad = g.copy()
        opt.step()
    assert calls, "the compiled step was not used"
    want = _torch_steps(theta, grads, 0.05, 1e-3, kind)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(p.data, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", KINDS)
def test_a_non_contiguous_parameter_keeps_the_blas_path(kind, rng):
    theta = rng.standard_normal((40, 30)).astype(np.float32)
    grads = [rng.standard_normal((30, 40)).astype(np.float32) for _ in range(3)]
    p = Parameter(theta.copy().T)  # a transposed view: not C-contiguous
    assert not p.data.flags.c_contiguous
    opt = optim.SGD([p], lr=0.1, weight_decay=0.01, **kind)
    for g in grads:
        p.grad = g
        opt.step()
    want = _torch_steps(theta.T.copy(), grads, 0.1, 0.01, kind)
    np.testing.assert_allclose(p.data, want, rtol=1e-6, atol=1e-6)
