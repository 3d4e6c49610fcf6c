"""The training loop: batch modes, stopping rules, divergence guard, checkpoints and resume."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import vedere.nn as nn
from vedere.classify.trainer import Diverged, TrainConfig, Trainer
from vedere.data import toy
from vedere.nn.divergence import GROWTH, MAX_WEIGHT, weights_diverged


def _problem(seed=0):
    x, y = toy.blobs(300, noise=0.4, centers=3, seed=seed)
    xv, yv = toy.blobs(150, noise=0.4, centers=3, seed=seed + 1)
    return x, y, xv, yv


def _trainer(tmp_path=None, **cfg):
    model = nn.mlp([2, 16, 3], activation="tanh", init="xavier", dropout=0.1, rng=0)
    config = TrainConfig(**{"epochs": 6, "batch_size": 32, "lr": 0.05, **cfg})
    ckpt = tmp_path / "ckpt.safetensors" if tmp_path else None
    return Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        config,
        checkpoint=ckpt,
        progress=False,
        history_dir=tmp_path,
    )


@pytest.mark.parametrize("batch_size", [1, 32, 0], ids=["stochastic", "mini-batch", "full-batch"])
def test_batch_modes_learn(batch_size):
    x, y, xv, yv = _problem()
    t = _trainer(
        batch_size=batch_size,
        epochs=10 if batch_size else 150,
        lr=0.05 if batch_size != 1 else 0.01,
    )
    h = t.fit(x, y, xv, yv)
    assert h.rows[-1]["val_acc"] > 0.85
    assert h.rows[-1]["train_loss"] < h.rows[0]["train_loss"]


def test_history_files(tmp_path):
    x, y, xv, yv = _problem()
    h = _trainer(tmp_path).fit(x, y, xv, yv)
    saved = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in saved["epochs"]] == [1, 2, 3, 4, 5, 6]
    assert saved["stopped"] == "epochs"
    csv = (tmp_path / "history.csv").read_text().splitlines()
    assert csv[0] == "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds" and len(csv) == 7
    assert h.column("lr") == [0.05] * 6


def test_early_stopping_restores_best_weights(tmp_path):
    # a tiny noisy training set overfits quickly: validation loss turns up
    x, y = toy.blobs(30, noise=1.0, centers=3, seed=0)
    xv, yv = toy.blobs(300, noise=1.0, centers=3, seed=1)
    model = nn.mlp([2, 128, 128, 3], activation="relu", init="he", rng=0)
    t = Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        TrainConfig(epochs=300, batch_size=0, lr=0.01, optimizer="adam", early_stopping=5),
        progress=False,
    )
    h = t.fit(x, y, xv, yv)
    assert h.stopped == "early_stopping"
    best = int(np.argmin(h.column("val_loss")))
    assert h.best_epoch == best + 1 and len(h) == best + 1 + 5
    assert t.evaluate(xv, yv)[0] == pytest.approx(h.rows[best]["val_loss"], rel=1e-6)


def test_convergence_tolerance():
    x, y, xv, yv = _problem()
    h = _trainer(epochs=200, tol=1e-3, batch_size=0, lr=0.1).fit(x, y, xv, yv)
    assert h.stopped == "converged" and len(h) < 200
    assert abs(h.rows[-1]["val_loss"] - h.rows[-2]["val_loss"]) < 1e-3


def test_divergence_guard_keeps_last_good_weights(tmp_path):
    x, y, xv, yv = _problem()
    model = nn.mlp([2, 16, 16, 3], activation="relu", init="he", rng=0)
    t = Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        TrainConfig(epochs=3, batch_size=32, lr=1e6, momentum=0.0, optimizer="sgd"),
        progress=False,
        history_dir=tmp_path,
    )  # far too high: float32 overflows
    start = {n: p.data.copy() for n, p in t.network.named_parameters()}
    with pytest.raises(Diverged, match=r"learning rate 1e\+06 is probably too high"):
        t.fit(x, y, xv, yv)
    for n, p in t.network.named_parameters():
        assert np.isfinite(p.data).all()
        np.testing.assert_array_equal(p.data, start[n])  # diverged in the first epoch
    assert json.loads((tmp_path / "history.json").read_text())["stopped"] == "diverged"


def _final_weights(t):
    return {n: p.data.copy() for n, p in t.network.named_parameters()}


def test_interrupt_mid_epoch_then_resume_is_bit_identical(tmp_path):
    x, y, xv, yv = _problem()
    ref = _trainer(tmp_path / "ref")
    ref.fit(x, y, xv, yv)

    def stop_at(epoch, step):
        if (epoch, step) == (2, 4):
            raise KeyboardInterrupt

    a = _trainer(tmp_path / "a")
    a.callback = stop_at
    with pytest.raises(KeyboardInterrupt):
        a.fit(x, y, xv, yv)
    b = _trainer(tmp_path / "a")  # a fresh process would build the same objects
    b.fit(x, y, xv, yv, resume=True)
    for n, w in _final_weights(ref).items():
        np.testing.assert_array_equal(_final_weights(b)[n], w)
    assert [r["val_loss"] for r in b.history.rows] == [r["val_loss"] for r in ref.history.rows]


def test_checkpoint_mismatch_is_refused(tmp_path):
    x, y, xv, yv = _problem()
    _trainer(tmp_path, epochs=1).fit(x, y, xv, yv)
    other = Trainer(
        nn.mlp([2, 8, 3], rng=0),
        nn.SoftmaxCrossEntropy(),
        TrainConfig(epochs=6, batch_size=32, lr=0.05),
        checkpoint=tmp_path / "ckpt.safetensors",
        progress=False,
    )
    with pytest.raises(ValueError, match="another architecture"):
        other.fit(x, y, xv, yv, resume=True)
    changed = _trainer(tmp_path, lr=0.5)
    with pytest.raises(ValueError, match=r"other settings \(lr\)"):
        changed.fit(x, y, xv, yv, resume=True)


SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    import vedere.nn as nn
    from vedere.classify.trainer import Trainer, TrainConfig
    from vedere.data import toy

    out, resume, slow = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
    x, y = toy.spirals(2000, seed=0)
    model = nn.mlp([2, 64, 64, 2], activation="tanh", init="xavier", dropout=0.1, rng=0)
    def pace(epoch, step):
        if slow:
            time.sleep(0.01)
    t = Trainer(model, nn.SoftmaxCrossEntropy(), TrainConfig(epochs=4, batch_size=50, lr=0.05),
                checkpoint=out + "/ckpt.safetensors", progress=False, callback=pace,
                history_dir=out)
    t.fit(x, y, resume=resume)
    np.save(out + "/final.npy", np.concatenate([p.data.ravel() for p in model.parameters()]))
""")


def _run(out, resume, slow):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out), "1" if resume else "0", "1" if slow else "0"]
    )


@pytest.mark.slow  # kills a process
def test_killed_process_resumes_bit_identical(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir()
    run.mkdir()
    assert _run(ref, False, False).wait(120) == 0
    p = _run(run, False, True)
    ckpt = run / "ckpt.safetensors"
    deadline = time.time() + 120
    while time.time() < deadline and not ckpt.exists():  # wait for the first epoch's checkpoint
        time.sleep(0.05)
    time.sleep(0.2)  # now somewhere in epoch 2
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    assert ckpt.exists() and not (run / "final.npy").exists()
    assert _run(run, True, False).wait(120) == 0
    np.testing.assert_array_equal(np.load(run / "final.npy"), np.load(ref / "final.npy"))


def test_momentum_flag_reaches_the_momentum_methods_only():
    def opt(name, momentum):
        cfg = TrainConfig(optimizer=name, momentum=momentum, lr=0.1)
        return Trainer(nn.mlp([2, 3]), nn.SoftmaxCrossEntropy(), cfg, progress=False).optimizer

    assert opt("momentum", 0.5).momentum == 0.5
    assert opt("nesterov", 0.7).momentum == 0.7 and opt("nesterov", 0.7).nesterov
    assert opt("sgd", 0.9).momentum == 0.0  # plain gradient descent


# -- the divergence guard watches every update (issue 11) -------------------------------------
def _plain(lr, batch_size=32, epochs=4, optimizer="sgd", **kw):
    model = nn.mlp([2, 16, 3], activation="relu", init="he", rng=0)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, **kw)
    return Trainer(model, nn.SoftmaxCrossEntropy(), cfg, progress=False)


def _loss_of(t, x, y):
    return nn.SoftmaxCrossEntropy().forward(t.network.forward(x), y)


def test_full_batch_loss_grown_by_orders_of_magnitude_is_divergence():
    # full batch, lr 1e3: every loss stays finite (2e32 after 10 epochs), weights reach 8e18
    x, y, _, _ = _problem()
    t = _plain(1e3, batch_size=0, epochs=10)
    first = _loss_of(t, x, y)
    with pytest.raises(Diverged, match=r"the training loss grew from .* to") as e:
        t.fit(x, y)  # (with validation data, the validation loss gives it away first)
    assert e.value.user_lr == 1e3 and "learning rate 1000 " in str(e.value)
    # the weights kept passed the rule: finite, bounded, loss within 10^4 of the first one
    assert not weights_diverged(p.data for p in t.network.parameters())
    assert _loss_of(t, x, y) <= GROWTH * first
    assert all(r["train_loss"] <= GROWTH * first for r in e.value.history.rows)


def test_weights_beyond_1e8_are_divergence():
    # lr 1e30 on a linear softmax model: the loss saturates (finite), the weights reach 1e29
    x, y, xv, yv = _problem()
    net = nn.Sequential(nn.Linear(2, 3, init="zeros"))
    t = Trainer(net, nn.SoftmaxCrossEntropy(), TrainConfig(epochs=3, lr=1e30, optimizer="sgd"),
                progress=False)  # fmt: skip
    with pytest.raises(Diverged) as e:
        t.fit(x, y, xv, yv)
    assert e.value.epoch == 1 and "1e+30" in str(e.value)
    assert all(np.abs(p.data).max() <= MAX_WEIGHT for p in net.parameters())


def test_non_finite_validation_loss_is_divergence():
    x, y, xv, yv = _problem()
    xv = xv * np.float32(1e37)  # finite validation points whose logits overflow float32
    t = _plain(0.05, epochs=3)
    with pytest.raises(Diverged, match=r"at the end of epoch 1.*validation loss became") as e:
        t.fit(x, y, xv, yv)
    assert len(e.value.history) == 0


def test_noisy_single_sample_losses_are_not_divergence():
    # the perceptron criterion of one sample swings between 0 and large values: blocks of
    # updates, not single ones, are compared with the best loss
    x, y = toy.blobs(400, noise=1.5, centers=2, seed=3)
    t = Trainer(nn.Sequential(nn.Linear(2, 1, init="zeros")), nn.PerceptronCriterion(),
                TrainConfig(epochs=5, batch_size=1, lr=1.0, optimizer="sgd"), progress=False,
                target=lambda yb: yb.astype(np.float32)[:, None])  # fmt: skip
    h = t.fit(x, y)
    assert h.stopped == "epochs" and len(h) == 5


# -- Ctrl-C ----------------------------------------------------------------------------------
def test_second_ctrl_c_in_the_middle_of_an_update_writes_no_checkpoint(tmp_path):
    import os

    x, y, xv, yv = _problem()
    ref = _trainer(tmp_path / "ref")
    ref.fit(x, y, xv, yv)
    a = _trainer(tmp_path / "a")
    update, calls = a.optimizer._update, []

    def half_way(p, state, *rest):  # Ctrl-C twice after the first parameter of an update
        update(p, state, *rest)
        calls.append(1)
        if len(calls) == 4 * 10 + 1:  # epoch 2 (10 steps of 32 an epoch), 4 parameters each
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    a.optimizer._update = half_way
    with pytest.raises(KeyboardInterrupt) as e:
        a.fit(x, y, xv, yv)
    b = _trainer(tmp_path / "a")  # resumes from the end of epoch 1: a consistent state
    b.fit(x, y, xv, yv, resume=True)
    for n, w in _final_weights(ref).items():
        np.testing.assert_array_equal(_final_weights(b)[n], w)
    assert not e.value.checkpoint_saved and "not updated" in str(e.value)


# -- tampered checkpoints (issue 12) ---------------------------------------------------------
@pytest.fixture(scope="module")
def mid_epoch_checkpoint(tmp_path_factory):
    """A checkpoint written by Ctrl-C in epoch 2 at step 3 (momentum, dropout, early stopping
    bookkeeping all present)."""
    d = tmp_path_factory.mktemp("ckpt")
    x, y, xv, yv = _problem()

    def stop_at(epoch, step):
        if (epoch, step) == (1, 3):
            raise KeyboardInterrupt

    t = _trainer(d, early_stopping=3)
    t.callback = stop_at
    with pytest.raises(KeyboardInterrupt):
        t.fit(x, y, xv, yv)
    return (d / "ckpt.safetensors").read_bytes()


def _swap_first(perm):
    perm = perm.copy()
    perm[0] = -1
    return perm


def _dup_first(perm):
    perm = perm.copy()
    perm[1] = perm[0]
    return perm


TAMPER = {
    "permutation with a negative entry": lambda t, f: t.update(perm=_swap_first(t["perm"])),
    "permutation with a repeated entry": lambda t, f: t.update(perm=_dup_first(t["perm"])),
    "permutation of floats": lambda t, f: t.update(perm=t["perm"].astype(np.float32)),
    "permutation removed": lambda t, f: t.pop("perm"),
    "step 10^9": lambda t, f: f["state"].update(step=10**9),
    "step negative": lambda t, f: f["state"].update(step=-3),
    "step a string": lambda t, f: f["state"].update(step="3"),
    "epoch past the history": lambda t, f: f["state"].update(epoch=5),
    "count inconsistent": lambda t, f: f["state"].update(count=10**6),
    "rng state removed": lambda t, f: f["state"].pop("rng"),
    "rng state of another generator": lambda t, f: f["state"].update(rng={"bit_generator": 5}),
    "dropout rngs not a list": lambda t, f: f["state"].update(dropout_rngs=7),
    "optimiser arrays removed": lambda t, f: [t.pop(k) for k in list(t) if k.startswith("opt.")],
    "optimiser array of the wrong shape": lambda t, f: t.update(
        {"opt.0.velocity": np.zeros((2, 2), np.float32)}
    ),
    "optimiser array with NaN": lambda t, f: t.update(
        {"opt.1.velocity": np.full_like(t["opt.1.velocity"], np.nan)}
    ),
    "optimiser step count huge": lambda t, f: f["state"].update(opt_t=10**30),
    "model weight with inf": lambda t, f: t.update(
        {"model.0.weight": np.full_like(t["model.0.weight"], np.inf)}
    ),
    "model weight in float64": lambda t, f: t.update(
        {"model.0.weight": t["model.0.weight"].astype(np.float64)}
    ),
    "good weights missing one tensor": lambda t, f: t.pop("good.0.bias"),
    "guard position after the state's": lambda t, f: f["state"].update(good_at=[1, 9]),
    "history rows not objects": lambda t, f: f["history"].update(epochs=[1]),
    "history not an object": lambda t, f: f.update(history=[]),
    "config not an object": lambda t, f: f.update(config=[1, 2]),
}


@pytest.mark.parametrize("variant", list(TAMPER))
def test_tampered_checkpoint_is_refused_naming_the_file(variant, mid_epoch_checkpoint, tmp_path):
    from vedere.classify.trainer import CHECKPOINT_FORMAT
    from vedere.nn.tensor_file import ModelFileError, pack, unpack

    path = tmp_path / "ckpt.safetensors"
    path.write_bytes(mid_epoch_checkpoint)
    tensors, fields = unpack(path, CHECKPOINT_FORMAT)
    TAMPER[variant](tensors, fields)
    path.write_bytes(pack(tensors, fields, CHECKPOINT_FORMAT))  # a valid digest: a forgery
    x, y, xv, yv = _problem()
    t = _trainer(tmp_path, early_stopping=3)
    with pytest.raises(ModelFileError) as e:
        t.fit(x, y, xv, yv, resume=True)
    assert str(path) in str(e.value)


def test_untampered_mid_epoch_checkpoint_resumes(mid_epoch_checkpoint, tmp_path):
    (tmp_path / "ckpt.safetensors").write_bytes(mid_epoch_checkpoint)
    x, y, xv, yv = _problem()
    h = _trainer(tmp_path, early_stopping=3).fit(x, y, xv, yv, resume=True)
    assert len(h) >= 2


# -- progress on stderr ----------------------------------------------------------------------
def test_no_progress_bars_when_stderr_is_not_a_terminal(capsys):
    x, y, xv, yv = _problem()
    t = _trainer(epochs=3)
    t.progress = True
    t.fit(x, y, xv, yv)
    err = capsys.readouterr().err
    assert "\r" not in err and "step/s" not in err and "it/s" not in err
    lines = err.splitlines()
    assert len(lines) == 3 and all(ln.startswith("epoch") for ln in lines)


def test_stop_reason_in_words():
    x, y, xv, yv = _problem()
    assert _trainer(epochs=3).fit(x, y, xv, yv).stop_reason() == "ran all 3 epochs"
    h = _trainer(epochs=200, tol=1e-3, batch_size=0, lr=0.1).fit(x, y, xv, yv)
    assert h.stop_reason().startswith(f"converged after {len(h)} epochs: |Δ loss| = ")
    with pytest.raises(Diverged) as e:
        _plain(1e3, batch_size=0, epochs=10).fit(x, y, xv, yv)
    assert e.value.history.stop_reason().startswith("diverged after ")


def _bn_trainer(tmp_path, **cfg):
    model = nn.Sequential(
        nn.Linear(2, 16, rng=0), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3, rng=1)
    )
    config = TrainConfig(**{"epochs": 3, "batch_size": 32, "lr": 0.05, **cfg})
    return Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        config,
        checkpoint=tmp_path / "ckpt.safetensors",
        progress=False,
        history_dir=tmp_path,
    )


def test_checkpoints_and_restores_carry_batch_norms_running_statistics(tmp_path):
    x, y, xv, yv = _problem()
    t = _bn_trainer(tmp_path)
    t.fit(x, y, xv, yv)
    bn = t.network.layers[1]
    saved = {n: b.data.copy() for n, b in t.network.named_buffers()}
    assert saved and not np.allclose(bn.running_mean.data, 0)
    fresh = _bn_trainer(tmp_path / "other")
    fresh.load_checkpoint(tmp_path / "ckpt.safetensors", n_train=len(y))
    for n, b in fresh.network.named_buffers():
        np.testing.assert_array_equal(b.data, saved[n])
    # a snapshot/restore (early stopping, the divergence guard) brings them back too
    snap = t.snapshot()
    bn.running_mean.data[:] = 123.0
    t.restore(snap)
    np.testing.assert_array_equal(bn.running_mean.data, saved["1.running_mean"])


def _residual_dropout_trainer(tmp_path):
    """Dropout inside a Residual and inside a nested Sequential: not in ``network.layers``."""
    body = nn.Sequential(nn.Linear(16, 16, rng=1), nn.Tanh(), nn.Dropout(0.3, rng=2))
    model = nn.Sequential(
        nn.Linear(2, 16, rng=0),
        nn.Tanh(),
        nn.Residual(body),
        nn.Sequential(nn.Dropout(0.2, rng=3), nn.Linear(16, 3, rng=4)),
    )
    return Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        TrainConfig(epochs=3, batch_size=32, lr=0.05),
        checkpoint=tmp_path / "ckpt.safetensors",
        progress=False,
        history_dir=tmp_path,
    )


def test_nested_dropouts_are_checkpointed_so_resume_is_bit_identical(tmp_path):
    """Issue 26: the checkpoint held only the generators of top-level Dropout layers; one
    inside a Residual or a nested Sequential resumed with a fresh generator (other masks)."""
    x, y, xv, yv = _problem()
    ref = _residual_dropout_trainer(tmp_path / "ref")
    ref.fit(x, y, xv, yv)

    def stop_at(epoch, step):
        if (epoch, step) == (1, 3):
            raise KeyboardInterrupt

    a = _residual_dropout_trainer(tmp_path / "a")
    a.callback = stop_at
    with pytest.raises(KeyboardInterrupt):
        a.fit(x, y, xv, yv)
    b = _residual_dropout_trainer(tmp_path / "a")  # a fresh process builds the same objects
    b.fit(x, y, xv, yv, resume=True)
    for n, w in _final_weights(ref).items():
        np.testing.assert_array_equal(_final_weights(b)[n], w)


def test_checkpoint_round_trips_every_train_state_field(tmp_path):
    """The checkpoint is written from TrainState's own field list and read back field by
    field: a state taken mid-epoch (early stopping and guard bookkeeping set) comes back equal,
    field for field, whatever fields the dataclass has."""
    from dataclasses import fields

    from vedere.classify.train_state import TrainState

    x, y, xv, yv = _problem()

    def stop_at(epoch, step):
        if (epoch, step) == (2, 5):
            raise KeyboardInterrupt

    a = _trainer(tmp_path, early_stopping=3)
    a.callback = stop_at
    with pytest.raises(KeyboardInterrupt):
        a.fit(x, y, xv, yv)
    b = _trainer(tmp_path, early_stopping=3)
    b.load_checkpoint(tmp_path / "ckpt.safetensors", n_train=len(y))
    for f in fields(TrainState):
        mine, theirs = getattr(a.state, f.name), getattr(b.state, f.name)
        if isinstance(mine, dict):
            assert mine.keys() == theirs.keys(), f.name
            for k in mine:
                np.testing.assert_array_equal(theirs[k], mine[k], err_msg=f.name)
        elif isinstance(mine, np.ndarray):
            np.testing.assert_array_equal(theirs, mine, err_msg=f.name)
        else:
            assert theirs == mine, f.name
    assert a.state.best is not None and a.state.reference is not None and a.state.step == 5


def test_hooks_are_called_at_their_places_in_order():
    """The loop's extension points (vedere.classify.hooks): epoch start, around every update
    (after_step sees the optimiser's step already taken), epoch end with the history row;
    a hook that only looks changes nothing."""
    from vedere.classify.hooks import TrainHook

    calls = []

    class Recorder(TrainHook):
        def on_epoch_start(self, trainer):
            calls.append(("start", trainer.state.epoch, trainer.state.step))

        def before_step(self, trainer):
            calls.append(("before", trainer.state.epoch, trainer.state.step))

        def after_step(self, trainer, step):
            assert step.updated and trainer.optimizer.t == len(
                [c for c in calls if c[0] == "before"]
            )
            calls.append(("after", trainer.state.epoch, trainer.state.step))

        def on_epoch_end(self, trainer, row):
            calls.append(("end", row["epoch"], len(trainer.history)))

    x, y, xv, yv = _problem()
    plain = _trainer(epochs=2)
    plain.fit(x, y, xv, yv)
    hooked = _trainer(epochs=2)
    hooked.hooks = [Recorder()]
    hooked.fit(x, y, xv, yv)
    steps = -(-len(y) // 32)
    expected = []
    for e in range(2):
        expected.append(("start", e, 0))
        for k in range(steps):
            expected += [("before", e, k), ("after", e, k + 1)]
        expected.append(("end", e + 1, e + 1))
    assert calls == expected
    for n, w in _final_weights(plain).items():
        np.testing.assert_array_equal(_final_weights(hooked)[n], w)
