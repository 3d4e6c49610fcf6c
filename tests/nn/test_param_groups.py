"""Parameter groups, frozen parameters and airbench94's "decay as wd/lr" against PyTorch's
``torch.optim.SGD`` param_groups, step by step on the same gradients."""

import numpy as np
import pytest
import torch

from vedere.nn import optim
from vedere.nn.optim import SGD
from vedere.nn.param_group import ParamGroup, decay_per_step
from vedere.nn.parameter import Parameter


def _params(rng, shapes):
    return [Parameter(rng.standard_normal(s).astype(np.float64), f"p{i}") for i, s in
            enumerate(shapes)]  # fmt: skip


def test_groups_lr_multipliers_decay_and_a_group_that_trains_for_one_epoch_match_torch():
    rng = np.random.default_rng(0)
    ours = _params(rng, [(4, 3), (5,), (3,), (2, 2)])
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
    lr, wd, mom = 0.02, 0.003, 0.85
    # airbench94's groups: BN biases at 64× the rate, every group the same absolute decay wd
    groups = [
        ParamGroup([ours[1]], lr_scale=64.0, weight_decay=decay_per_step(wd, lr, 64.0)),
        ParamGroup([ours[0], ours[3]], weight_decay=decay_per_step(wd, lr)),
        ParamGroup([ours[2]], weight_decay=decay_per_step(wd, lr), epochs=1),  # a stem bias
    ]
    opt = SGD(groups, lr=lr, momentum=mom, nesterov=True)
    t_opt = torch.optim.SGD(
        [
            {"params": [theirs[1]], "lr": lr * 64, "weight_decay": wd / (lr * 64)},
            {"params": [theirs[0], theirs[3]], "lr": lr, "weight_decay": wd / lr},
            {"params": [theirs[2]], "lr": lr, "weight_decay": wd / lr},
        ],
        lr=lr,
        momentum=mom,
        nesterov=True,
    )
    base = [g["lr"] for g in t_opt.param_groups]
    for step in range(8):
        epoch = step // 4
        opt.set_epoch(epoch)
        theirs[2].requires_grad_(epoch < 1)  # airbench's whitening bias after its epochs
        factor = 0.2 + 0.1 * step  # a schedule scales both rates alike
        opt.lr = lr * factor
        for g, b in zip(t_opt.param_groups, base, strict=True):
            g["lr"] = b * factor
        for p, t in zip(ours, theirs, strict=True):
            g = rng.standard_normal(p.shape)
            p.grad = g.copy()
            t.grad = torch.from_numpy(g.copy()) if t.requires_grad else None
        opt.step()
        t_opt.step()
        for p, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-12)
    # the stem bias stopped after epoch 0: it holds what it had after step 4
    assert not opt.groups[2].active


def test_decay_per_step_gives_every_group_the_same_absolute_decay():
    lr, wd = 0.01, 0.002
    ps = [Parameter(np.ones(3), "a"), Parameter(np.ones(3), "b")]
    opt = SGD(
        [ParamGroup([ps[0]], weight_decay=decay_per_step(wd, lr)),
         ParamGroup([ps[1]], lr_scale=64, weight_decay=decay_per_step(wd, lr, 64))],
        lr=lr,
    )  # fmt: skip
    for p in ps:
        p.grad = np.zeros(3)
    opt.step()  # zero gradient: the step is the decay alone, θ ← θ - α s λ_s θ = θ(1 - wd)
    for p in ps:
        np.testing.assert_allclose(p.data, 1 - wd, rtol=1e-14)


def test_frozen_parameters_never_move_but_keep_a_state_buffer():
    rng = np.random.default_rng(1)
    a, b = _params(rng, [(3,), (2,)])
    b.trainable = False
    before = b.data.copy()
    opt = SGD([a, b], lr=0.1, momentum=0.9)
    for _ in range(3):
        a.grad, b.grad = np.ones(3), np.ones(2)
        opt.step()
    np.testing.assert_array_equal(b.data, before)
    assert set(opt.state_arrays()) == {"0.velocity", "1.velocity"}  # checkpoints see both
    np.testing.assert_array_equal(opt.state[1]["velocity"], 0)
    assert not np.array_equal(a.data, _params(np.random.default_rng(1), [(3,)])[0].data)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "adagrad", "adamw"])
def test_lr_scale_of_every_optimizer_matches_torch(name):
    rng = np.random.default_rng(2)
    ours = _params(rng, [(3, 2), (4,)])
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
    lr = 0.01
    opt = optim.make_optimizer(name, [ParamGroup([ours[0]]), ParamGroup([ours[1]], lr_scale=4.0)],
                               lr)  # fmt: skip
    cls = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop,
           "adagrad": torch.optim.Adagrad, "adamw": torch.optim.AdamW}[name]  # fmt: skip
    kw = {"weight_decay": 0.01} if name == "adamw" else {}
    if name == "rmsprop":
        kw["alpha"] = 0.99
    t_opt = cls([{"params": [theirs[0]]}, {"params": [theirs[1]], "lr": 4 * lr}], lr=lr, **kw)
    for _ in range(4):
        for p, t in zip(ours, theirs, strict=True):
            g = rng.standard_normal(p.shape)
            p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
        opt.step()
        t_opt.step()
    for p, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-6, atol=1e-9)


def test_bad_groups_are_refused_naming_the_problem():
    p = Parameter(np.ones(2), "p")
    with pytest.raises(ValueError, match="more than one optimizer group"):
        SGD([ParamGroup([p]), ParamGroup([p])], lr=0.1)
    with pytest.raises(ValueError, match="lr_scale must be a finite number > 0"):
        ParamGroup([p], lr_scale=0.0)
    with pytest.raises(ValueError, match="epochs must be an integer"):
        ParamGroup([p], epochs=1.5)
    with pytest.raises(ValueError, match="not a vedere Parameter or ParamGroup"):
        SGD([np.ones(2)], lr=0.1)
