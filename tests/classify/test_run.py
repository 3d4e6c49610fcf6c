"""Training runs and their run directories: divergence, locking, overwrite, resume in place,
checkpoint clean-up, config.json validation."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import write_folder
from vedere.classify import run
from vedere.classify.rundir import RunDir, RunDirError
from vedere.classify.trainer import Diverged


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "tree"
    write_folder(root, {"train": {"a": 20, "b": 20, "c": 20}})
    return root


def _cfg(out, tree, **params):
    params = {"hidden_sizes": [32], "epochs": 2, **params}
    return run.RunConfig(out=str(out), model="mlp", data_dir=str(tree), params=params)


# -- divergence (issue 11) --------------------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [{"lr": 50, "epochs": 4}, {"lr": 10000, "epochs": 4}, {"lr": 1e3, "batch_size": 0}],
    ids=["lr50", "lr1e4", "full-batch-lr1e3"],
)
def test_diverged_run_names_the_users_rate_and_saves_no_model(tmp_path, tree, params):
    out = tmp_path / "div"
    with pytest.raises(Diverged) as e:
        run.train(_cfg(out, tree, **params), progress=False)
    lr = params["lr"]
    msg = str(e.value)
    assert e.value.user_lr == lr and f"--lr {lr:g} " in msg and msg.startswith(str(out))
    assert "\n" not in msg
    assert not (out / "model.safetensors").exists() and not (out / "metrics.json").exists()
    assert not (out / "checkpoint.safetensors").exists()
    history = json.loads((out / "history.json").read_text())
    assert history["stopped"] == "diverged"
    finished = len(history["epochs"])
    assert finished == len(e.value.history) and finished < params.get("epochs", 2)
    assert (out / "curves.png").exists() == (finished > 0)
    # nothing for evaluate / predict to pick up
    with pytest.raises(ValueError, match=r"model\.safetensors"):
        run.load_image_classifier(out)


def test_diverged_resume_removes_the_earlier_model(tmp_path, tree):
    out = tmp_path / "r"
    run.train(_cfg(out, tree, lr=0.01, epochs=1), progress=False, keep_checkpoint=True)
    assert (out / "model.safetensors").exists()
    cfg = run.load_config(out)
    cfg.params["epochs"] = 3
    # the same settings cannot diverge on resume; force it through the weights instead
    from vedere.classify.trainer import CHECKPOINT_FORMAT
    from vedere.nn.tensor_file import pack, unpack

    ck = out / "checkpoint.safetensors"
    tensors, fields = unpack(ck, CHECKPOINT_FORMAT)
    for k in tensors:
        if k.startswith("model.") and k.endswith("weight"):
            tensors[k] = tensors[k] * np.float32(1e7)  # finite, the loss explodes
    ck.write_bytes(pack(tensors, fields, CHECKPOINT_FORMAT))
    with pytest.raises(Diverged):
        run.train(cfg, resume=True, progress=False)
    assert not (out / "model.safetensors").exists()


# -- run directories (issue 12) ---------------------------------------------------------------
def test_a_run_directory_in_use_is_refused(tmp_path, tree):
    out = tmp_path / "busy"
    with RunDir(out).create():  # another training holds it
        with pytest.raises(RunDirError, match="another training is using this run directory"):
            run.train(_cfg(out, tree), progress=False)
    run.train(_cfg(out, tree), progress=False)  # free again


LOCKER = """
import sys, time
from vedere.classify.rundir import RunDir
ctx = RunDir(sys.argv[1]).create()
ctx.__enter__()
print("locked", flush=True)
time.sleep(120)
"""


def test_the_lock_goes_with_a_killed_process(tmp_path, tree):
    out = tmp_path / "killed"
    p = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirError, match="locked"):
            run.train(_cfg(out, tree), progress=False)
    finally:
        p.kill()
        p.wait(30)
    run.train(_cfg(out, tree), progress=False)
    assert (out / "model.safetensors").exists()


def test_a_second_training_into_a_run_needs_overwrite(tmp_path, tree):
    out = tmp_path / "twice"
    run.train(_cfg(out, tree), progress=False)
    (out / "notes.txt").write_text("mine")
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(RunDirError, match=r"already holds a training run.*--overwrite"):
        run.train(_cfg(out, tree, lr=0.05), progress=False)
    assert (out / "model.safetensors").read_bytes() == before
    run.train(_cfg(out, tree, lr=0.05), progress=False, overwrite=True)
    assert (out / "model.safetensors").read_bytes() != before
    assert json.loads((out / "config.json").read_text())["params"]["lr"] == 0.05
    assert (out / "notes.txt").read_text() == "mine"  # overwrite removes only a run's files


def test_checkpoint_removed_at_the_end_unless_kept(tmp_path, tree):
    run.train(_cfg(tmp_path / "a", tree), progress=False)
    assert not (tmp_path / "a" / "checkpoint.safetensors").exists()
    with pytest.raises(RunDirError, match="no checkpoint to resume from"):
        run.train(run.load_config(tmp_path / "a"), resume=True, progress=False)
    run.train(_cfg(tmp_path / "b", tree), progress=False, keep_checkpoint=True)
    cfg = run.load_config(tmp_path / "b")
    cfg.params["epochs"] = 3
    res = run.train(cfg, resume=True, progress=False, keep_checkpoint=True)
    assert len(res.estimator.history_) == 3 and res.reason == "ran all 3 epochs"


def test_resume_trains_in_the_directory_given(tmp_path, tree):
    original = tmp_path / "original"
    run.train(_cfg(original, tree, epochs=1), progress=False, keep_checkpoint=True)
    before = (original / "model.safetensors").read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    (copy / ".lock").unlink()
    elsewhere = tmp_path / "elsewhere" / "deep"
    config = json.loads((copy / "config.json").read_text())
    config["out"] = str(elsewhere)  # a crafted (or just stale) "out"
    (copy / "config.json").write_text(json.dumps(config))
    cfg = run.load_config(copy)
    cfg.params["epochs"] = 2
    run.train(cfg, resume=True, progress=False)
    assert (original / "model.safetensors").read_bytes() == before
    assert len(json.loads((copy / "history.json").read_text())["epochs"]) == 2
    assert not (tmp_path / "elsewhere").exists()


def _deep(n):
    v = 0
    for _ in range(n):
        v = [v]
    return v


BAD_CONFIGS = {
    "deep nesting": lambda c: c["params"].update(lr=_deep(100)),
    "seed a string": lambda c: c.update(seed="0"),
    "epochs a bool": lambda c: c["params"].update(epochs=True),
    "lr a string": lambda c: c["params"].update(lr="fast"),
    "a hidden layer of 10^12 units": lambda c: c["params"].update(hidden_sizes=[10**12]),
    "unknown estimator parameter": lambda c: c["params"].update(kernel="rbf"),
    "model unknown": lambda c: c.update(model="rbf"),
    "negative epochs": lambda c: c["params"].update(epochs=-3),
    "params not an object": lambda c: c.update(params=[1]),
}


@pytest.mark.parametrize("variant", list(BAD_CONFIGS))
def test_malformed_config_json_is_refused_naming_it(tmp_path, variant):
    d = tmp_path / "r"
    d.mkdir()
    c = {"out": str(d), "model": "mlp", "seed": 0, "params": {"epochs": 2, "lr": 0.1}}
    BAD_CONFIGS[variant](c)
    (d / "config.json").write_text(json.dumps(c))
    with pytest.raises(ValueError, match=r"config\.json: not a valid run configuration"):
        run.load_config(d)


def test_config_json_with_nan_or_a_fifo_is_refused(tmp_path):
    import os

    d = tmp_path / "r"
    d.mkdir()
    (d / "config.json").write_text('{"out": "x", "model": "mlp", "val_split": NaN}')
    with pytest.raises(ValueError, match=r"config\.json: not a valid run configuration.*NaN"):
        run.load_config(d)
    (d / "config.json").unlink()
    os.mkfifo(d / "config.json")  # would block a plain read forever
    with pytest.raises(ValueError, match=r"config\.json: not a valid run configuration"):
        run.load_config(d)


# -- the command line -------------------------------------------------------------------------
def _vedere(*args):
    return subprocess.run(
        [sys.executable, "-m", "vedere.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_divergence_is_one_error_line_and_predict_refuses(tmp_path, tree):
    out = tmp_path / "div"
    r = _vedere("train", "--data-dir", tree, "--hidden", "32", "--lr", "50", "--epochs", "4",
                "--out", out)  # fmt: skip
    assert r.returncode == 1, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in r.stderr
    assert errors[0].startswith(f"error: {out}: training diverged") and "--lr 50 " in errors[0]
    assert not (out / "model.safetensors").exists()
    img = next(tree.glob("train/a/*.png"))
    r = _vedere("predict", out, img)
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_a_folder_named_sample_is_that_folder(tmp_path, tree, monkeypatch):
    """Issue 26: ``--data-dir sample`` trained on the embedded CIFAR-10 sample, because
    "sample" was both a sentinel and a valid path."""
    import shutil

    shutil.copytree(tree, tmp_path / "sample")
    monkeypatch.chdir(tmp_path)
    res = run.train(_cfg(tmp_path / "out", "sample", epochs=1), progress=False)
    assert not res.used_sample and res.source == "sample"
    assert res.n_train + res.n_val == 60  # the tree's 3 × 20 images, not the sample's 1,200
    assert sorted(res.report["classes"]) == ["a", "b", "c"]
