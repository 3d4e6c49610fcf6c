"""Optimisers, schedules and clipping against torch.optim on the same problem."""

import numpy as np
import pytest
import torch

from vedere.nn import Linear, Sequential, SoftmaxCrossEntropy, Tanh, optim, schedules

OPTIMIZERS = [
    ("sgd", lambda p: optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    (
        "sgd_wd",
        lambda p: optim.SGD(p, lr=0.1, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01),
    ),
    (
        "momentum",
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    ),
    (
        "nesterov",
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    ),
    ("adagrad", lambda p: optim.AdaGrad(p, lr=0.1), lambda p: torch.optim.Adagrad(p, lr=0.1)),
    ("rmsprop", lambda p: optim.RMSProp(p, lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    ("adam", lambda p: optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (
        "adam_wd",
        lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    ),
    (
        "adamw",
        lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    ),
]


def _problem():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 6))
    y = rng.integers(0, 3, 32)
    model = Sequential(
        Linear(6, 8, dtype="float64", rng=1), Tanh(), Linear(8, 3, dtype="float64", rng=2)
    )
    ref = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ).double()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(dict(model.named_parameters())[name].data))
    return x, y, model, ref


@pytest.mark.parametrize(("name", "ours", "theirs"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_first_five_steps_match_torch(name, ours, theirs):
    x, y, model, ref = _problem()
    opt, t_opt = ours(model.parameters()), theirs(ref.parameters())
    loss_fn = SoftmaxCrossEntropy()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(5):
        loss = loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        opt.step()
        opt.zero_grad()
        t_opt.zero_grad()
        t_loss = torch.nn.functional.cross_entropy(ref(tx), ty)
        t_loss.backward()
        t_opt.step()
        assert abs(loss - t_loss.item()) < 1e-6
        for n, p in model.named_parameters():
            np.testing.assert_allclose(
                p.data, dict(ref.named_parameters())[n].detach().numpy(), atol=1e-6
            )


def test_sgd_is_the_course_update():
    # θ ← θ - α dL/dθ
    layer = Linear(2, 1, init="zeros", dtype="float64")
    layer.weight.grad[:] = [[1.0, -2.0]]
    optim.SGD(layer.parameters(), lr=0.5).step()
    np.testing.assert_allclose(layer.weight.data, [[-0.5, 1.0]])


def _torch_lrs(make_sched, epochs, base=0.1):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = make_sched(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            schedules.StepDecay(0.1, step_size=3, gamma=0.5),
            lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        ),
        (
            schedules.ExponentialDecay(0.1, gamma=0.9),
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
        ),
        (
            schedules.Cosine(0.1, t_max=10, min_lr=0.001),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        ),
        (
            schedules.Warmup(schedules.Constant(0.1), warmup=4, start_factor=0.25),
            lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4),
        ),
        (schedules.Constant(0.1), lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=1.0)),
    ],
    ids=["step", "exp", "cosine", "warmup", "constant"],
)
def test_schedules_match_torch(ours, theirs):
    expected = _torch_lrs(theirs, 11)
    np.testing.assert_allclose([ours(t) for t in range(11)], expected, rtol=1e-9)


def test_make_schedule_names():
    for name in ("constant", "step", "exp", "cosine"):
        s = schedules.make_schedule(name, 0.1, epochs=20, warmup=2)
        assert s(0) < 0.1 and abs(s(2) - 0.1) < 1e-12
    assert schedules.make_schedule("exp", 0.1, 10)(10) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="unknown schedule"):
        schedules.make_schedule("bogus", 0.1, 10)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(0)
    layer = Linear(5, 4, dtype="float64")
    layer.weight.grad[:] = rng.standard_normal((4, 5))
    layer.bias.grad[:] = rng.standard_normal(4)
    tw = torch.nn.Parameter(torch.zeros(4, 5, dtype=torch.float64))
    tb = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    tw.grad = torch.from_numpy(layer.weight.grad.copy())
    tb.grad = torch.from_numpy(layer.bias.grad.copy())
    norm = optim.clip_grad_norm(layer.parameters(), max_norm)
    t_norm = torch.nn.utils.clip_grad_norm_([tw, tb], max_norm)
    assert norm == pytest.approx(t_norm.item(), rel=1e-12)
    np.testing.assert_allclose(layer.weight.grad, tw.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, tb.grad.numpy(), atol=1e-12)


def test_optimizer_arguments_are_validated():
    params = Linear(2, 2).parameters()
    with pytest.raises(ValueError, match="lr"):
        optim.SGD(params, lr=-1)
    with pytest.raises(ValueError, match="lr"):
        optim.Adam(params, lr=float("nan"))
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD(params, lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.make_optimizer("lbfgs", params, lr=0.1)
    for name in optim.OPTIMIZERS:
        assert isinstance(optim.make_optimizer(name, params, lr=0.1), optim.Optimizer)
