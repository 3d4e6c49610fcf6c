"""The loop's airbench94 features: fractional epochs and drop-last, per-update schedules,
parameter groups that train for some epochs, summed losses reported per sample, indexed
transforms, and lookahead — checked against literal re-computations, and resumed
bit-identically from a checkpoint taken mid-epoch."""

import math

import numpy as np
import pytest

import vedere.nn as nn
from vedere.classify.hooks import TrainHook
from vedere.classify.trainer import TrainConfig, Trainer
from vedere.data import toy
from vedere.nn.optim import ParamGroup
from vedere.nn.schedules import PiecewiseLinear


def _problem(seed=0):
    x, y = toy.blobs(300, noise=0.4, centers=3, seed=seed)
    xv, yv = toy.blobs(90, noise=0.4, centers=3, seed=seed + 1)
    return x.astype(np.float32), y, xv.astype(np.float32), yv


def _net():
    return nn.Sequential(nn.Linear(2, 8, rng=0), nn.BatchNorm1d(8), nn.Tanh(),
                         nn.Linear(8, 3, rng=1))  # fmt: skip


def _recipe_trainer(tmp_path=None, net=None, **cfg):
    net = net or _net()
    bn = net.layers[1]
    groups = [
        ParamGroup([bn.bias], lr_scale=4.0, name="bn bias"),
        ParamGroup([net.layers[0].bias], epochs=1, name="first bias"),
        ParamGroup([net.layers[0].weight, net.layers[3].weight, net.layers[3].bias]),
    ]
    bn.weight.trainable = False
    config = TrainConfig(**{"epochs": 2.5, "batch_size": 64, "lr": 0.002, "optimizer": "nesterov",
                            "momentum": 0.85, "schedule": "piecewise", "drop_last": True,
                            "lookahead": True, **cfg})  # fmt: skip
    ckpt = tmp_path / "ckpt.safetensors" if tmp_path else None
    return Trainer(net, nn.SoftmaxCrossEntropy(0.2, reduction="sum"), config, checkpoint=ckpt,
                   progress=False, param_groups=groups)  # fmt: skip


class _Recorder(TrainHook):
    def __init__(self):
        self.lrs, self.steps = [], []

    def before_step(self, trainer):
        self.lrs.append(trainer.optimizer.lr)
        self.steps.append((trainer.state.epoch, trainer.state.step))


def test_fractional_epochs_drop_last_and_the_per_update_schedule():
    x, y, xv, yv = _problem()
    t = _recipe_trainer()
    rec = _Recorder()
    t.hooks.append(rec)
    h = t.fit(x, y, xv, yv)
    per_epoch = 300 // 64  # 4: the partial batch of 44 is dropped
    total = math.ceil(per_epoch * 2.5)  # 10 updates: 4, 4 and 2
    assert rec.steps == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3),
                         (2, 0), (2, 1)]  # fmt: skip
    assert len(h.rows) == 3 and t.optimizer.t == total
    want = [PiecewiseLinear(0.002).at_step(k, total) for k in range(total)]
    assert rec.lrs == pytest.approx(want, rel=1e-12)


def test_a_group_with_epochs_stops_training_after_them():
    x, y, xv, yv = _problem()
    t = _recipe_trainer(lookahead=False)
    seen = []

    class Watch(TrainHook):
        def on_epoch_end(self, trainer, row):
            seen.append(trainer.network.layers[0].bias.data.copy())

    t.hooks.append(Watch())
    t.fit(x, y, xv, yv)
    assert np.abs(seen[0]).sum() > 0  # it trained in epoch 1 (a Linear bias starts at 0)
    np.testing.assert_array_equal(seen[1], seen[0])  # epochs 2 and 3: frozen
    np.testing.assert_array_equal(seen[2], seen[0])
    np.testing.assert_array_equal(t.network.layers[1].weight.data, 1.0)  # frozen scale


def test_summed_loss_is_reported_per_sample():
    x, y, xv, yv = _problem()
    t = _recipe_trainer()
    t.fit(x, y, xv, yv)
    loss, _ = t.evaluate(xv, yv)
    t.network.eval()
    mean = nn.SoftmaxCrossEntropy(0.2)(t.network.forward(xv), yv)
    assert loss == pytest.approx(mean, rel=1e-5)


def test_lookahead_in_the_loop_is_the_literal_rule():
    """The trainer's run against the same updates taken by hand: SGD groups, the schedule,
    and ema ← lerp(ema, net, 1 - 0.95⁵ (k/T)³) every 5 updates, net ← ema, net ← ema at T."""
    x, y, _, _ = _problem()
    t = _recipe_trainer()
    t.fit(x, y)
    # by hand, with the trainer's own generator sequence (one permutation per epoch)
    net = _net()
    ref = _recipe_trainer(net=net)  # only for its optimiser and loss objects
    opt, loss = ref.optimizer, ref.loss
    rng = np.random.default_rng([0, 1])
    state = net.state_dict()
    ema = {k: v.copy() for k, v in state.items()}
    total, k = 10, 0
    net.train()
    for epoch in range(3):
        perm = rng.permutation(300)
        opt.set_epoch(epoch)
        for s in range(4):
            if k == total:
                break
            opt.lr = PiecewiseLinear(0.002).at_step(k, total)
            idx = perm[s * 64 : (s + 1) * 64]
            out = net.forward(x[idx])
            loss(out, y[idx])
            net.backward(loss.backward())
            opt.step()
            opt.zero_grad()
            k += 1
            live = net.state_dict()
            if k % 5 == 0:
                d = 0.95**5 * (k / total) ** 3
                for n in ema:
                    if ema[n].dtype.kind == "f":
                        ema[n] = ema[n] + np.float32(1 - d) * (live[n] - ema[n])
                net.load_state_dict({**live, **{n: v for n, v in ema.items()
                                                if v.dtype.kind == "f"}})  # fmt: skip
            if k == total:
                net.load_state_dict({**live, **{n: v for n, v in ema.items()
                                                if v.dtype.kind == "f"}})  # fmt: skip
    got = t.network.state_dict()
    for n, v in net.state_dict().items():
        np.testing.assert_allclose(got[n], v, rtol=1e-5, atol=1e-6, err_msg=n)


def test_interrupted_recipe_run_resumes_bit_identical(tmp_path):
    x, y, xv, yv = _problem()
    ref = _recipe_trainer(tmp_path / "ref")
    ref.fit(x, y, xv, yv)

    def stop_at(epoch, step):
        if (epoch, step) == (1, 2):  # after update 6: the lookahead average differs from θ
            raise KeyboardInterrupt

    a = _recipe_trainer(tmp_path)
    a.callback = stop_at
    with pytest.raises(KeyboardInterrupt):
        a.fit(x, y, xv, yv)
    b = _recipe_trainer(tmp_path)
    b.fit(x, y, xv, yv, resume=True)
    for n, w in ref.network.state_dict().items():
        np.testing.assert_array_equal(b.network.state_dict()[n], w, err_msg=n)


def test_bad_loop_settings_are_refused():
    with pytest.raises(ValueError, match="epochs must be a number from 1 to"):
        TrainConfig(epochs=float("nan"))
    with pytest.raises(ValueError, match="drop_last must be True or False"):
        TrainConfig(drop_last=1)
