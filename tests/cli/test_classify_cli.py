"""CI smoke of the classification commands, and their one-line errors."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import (
    CIFAR_TRAIN,
    cifar_batches,
    png_bytes,
    shared_file,
    tar_dir,
    write_cifar_python,
    write_folder,
)

VEDERE = [sys.executable, "-m", "vedere.cli"]


def vedere(*args, env=None):
    return subprocess.run([*VEDERE, *map(str, args)], capture_output=True, text=True, timeout=600)


def one_line_error(r):
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory):
    shared_file(CIFAR_TRAIN)
    out = tmp_path_factory.mktemp("runs") / "softmax"
    r = vedere(
        "train",
        "--model",
        "softmax",
        "--data-dir",
        CIFAR_TRAIN,
        "--limit",
        2000,
        "--epochs",
        8,
        "--quiet",
        "--out",
        out,
    )
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def test_train_on_2000_cifar_images(cifar_run):
    out, stdout = cifar_run
    acc = float(re.search(r"val accuracy\s+([\d.]+)%", stdout).group(1))
    assert acc >= 25.0  # chance is 10%
    assert "1800 training, 200 validation" in stdout
    for name in (
        "model.safetensors",
        "config.json",
        "history.json",
        "history.csv",
        "metrics.json",
        "curves.png",
        "confusion.png",
        "templates.png",
    ):
        assert (out / name).is_file(), name
    assert not (out / "checkpoint.safetensors").exists()  # removed when the run finished
    assert len(json.loads((out / "history.json").read_text())["epochs"]) == 8


def test_evaluate_and_predict(cifar_run, tmp_path):
    out, _ = cifar_run
    r = vedere("evaluate", out, "--json", "--quiet")  # the embedded sample's test split
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["n"] == 300 and len(rep["confusion_matrix"]) == 10 and rep["accuracy"] > 0.15
    img = tmp_path / "photo.png"
    img.write_bytes(
        png_bytes(np.random.default_rng(0).integers(0, 256, (50, 70, 4), dtype=np.uint8))
    )
    r = vedere("predict", out, img, "--top-k", 3)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    probs = [float(ln.split()[-1]) for ln in lines]
    assert probs == sorted(probs, reverse=True)
    assert all(re.fullmatch(r"[a-z]+\s+\d\.\d\d", ln) for ln in lines)


def test_train_on_embedded_sample_says_so(tmp_path):
    r = vedere("train", "--model", "softmax", "--epochs", 2, "--quiet", "--out", tmp_path / "s")
    assert r.returncode == 0, r.stderr
    assert "embedded CIFAR-10 sample" in r.stderr and "embedded CIFAR-10 sample" in r.stdout


def test_tampered_archive(tmp_path):
    root = tmp_path / "tree"
    write_folder(root, {"train": {"a": 20, "b": 20}})
    arc = tar_dir(root, tmp_path / "tree.tar.gz")
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) * 2 // 3])
    line = one_line_error(
        vedere("train", "--model", "softmax", "--data-dir", arc, "--quiet", "--out", tmp_path / "r")
    )
    assert "tree.tar.gz" in line and "truncated or corrupt archive" in line
    official = write_cifar_python(tmp_path / "cifar", cifar_batches())
    line = one_line_error(
        vedere("train", "--data-dir", official, "--quiet", "--out", tmp_path / "r2")
    )
    assert "MD5 mismatch" in line


def test_corrupt_jpeg_in_class_folder(tmp_path):
    root = tmp_path / "tree"
    write_folder(root, {"train": {"a": 5, "b": 5}}, fmt="JPEG")
    bad = root / "train" / "b" / "002.jpeg"
    bad.write_bytes(bad.read_bytes()[:60])
    line = one_line_error(
        vedere(
            "train", "--model", "softmax", "--data-dir", root, "--quiet", "--out", tmp_path / "r"
        )
    )
    assert "002.jpeg" in line


def test_empty_class_folder(tmp_path):
    root = tmp_path / "tree"
    write_folder(root, {"train": {"a": 5, "b": 5}})
    (root / "train" / "c").mkdir()
    line = one_line_error(vedere("train", "--data-dir", root, "--quiet", "--out", tmp_path / "r"))
    assert "class folder train/c holds no images" in line


def test_model_from_another_architecture(tmp_path):
    import vedere.nn as nn

    net = nn.save(nn.mlp([3072, 10]), tmp_path / "net.safetensors")
    line = one_line_error(vedere("evaluate", net, "--quiet"))
    assert "not a vedere classifier" in line
    # a classifier trained on 16x16 images cannot read CIFAR-10's 32x32 archive
    root = tmp_path / "tree"
    write_folder(root, {"train": {"a": 10, "b": 10}}, size=16)
    r = vedere(
        "train",
        "--model",
        "softmax",
        "--data-dir",
        root,
        "--epochs",
        1,
        "--quiet",
        "--out",
        tmp_path / "m16",
    )
    assert r.returncode == 0, r.stderr
    official = write_cifar_python(tmp_path / "cifar", cifar_batches(), packed=False)
    line = one_line_error(
        vedere("evaluate", tmp_path / "m16", "--data-dir", official, "--no-checksum", "--quiet")
    )
    assert "model expects 16x16x3 images" in line
    # a tampered model file
    model = tmp_path / "m16" / "model.safetensors"
    raw = bytearray(model.read_bytes())
    raw[-1] ^= 1
    model.write_bytes(bytes(raw))
    line = one_line_error(vedere("predict", model, tmp_path / "tree" / "train" / "a" / "000.png"))
    assert "checksum mismatch" in line


def test_resume_continues_a_run(tmp_path):
    out = tmp_path / "r"
    r = vedere(
        "train", "--model", "softmax", "--epochs", 2, "--quiet", "--keep-checkpoint", "--out", out
    )
    assert r.returncode == 0, r.stderr
    r = vedere("train", "--out", out, "--resume", "--epochs", 3, "--quiet")
    assert r.returncode == 0, r.stderr
    assert len(json.loads((out / "history.json").read_text())["epochs"]) == 3
    line = one_line_error(vedere("train", "--out", tmp_path / "nothing", "--resume", "--quiet"))
    assert "not a run directory" in line


def test_flags_that_do_not_apply():
    r = vedere("train", "--model", "softmax", "--hidden", "10,10", "--quiet")
    assert r.returncode != 0 and "--hidden do not apply to --model softmax" in r.stderr


def test_ctrl_c_saves_a_checkpoint_and_resume_is_bit_identical(tmp_path):
    import signal
    import time

    from safetensors.numpy import load_file

    # small batches make each of the 6 epochs take a while, so the interrupt lands mid-run
    args = [
        "train",
        "--model",
        "mlp",
        "--hidden",
        "64",
        "--batch-size",
        "8",
        "--lr",
        "0.002",  # the default 0.02 diverges at batch size 8 (the loss grows ~10^5-fold)
        "--epochs",
        "20",
        "--quiet",
    ]
    ref, run = tmp_path / "ref", tmp_path / "run"
    r = vedere(*args, "--out", ref)
    assert r.returncode == 0, r.stderr
    p = subprocess.Popen(
        [*VEDERE, *args, "--out", str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ckpt = run / "checkpoint.safetensors"
    deadline = time.time() + 120
    while time.time() < deadline and not ckpt.exists():
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, "training should have been interrupted mid-run"
    assert "checkpoint saved" in err and "--resume" in err
    r = vedere("train", "--out", run, "--resume", "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = load_file(str(ref / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
