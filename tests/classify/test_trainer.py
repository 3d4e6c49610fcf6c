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
