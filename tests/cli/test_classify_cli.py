"""CI smoke of the classification commands, and their one-line errors."""

import inspect
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


@pytest.mark.slow  # trains on real CIFAR-10
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


@pytest.mark.slow  # trains on real CIFAR-10
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


@pytest.mark.slow  # trains end to end
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


@pytest.mark.slow  # trains end to end
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


@pytest.mark.slow  # interrupts a training process (2 min on 2 cores)
def test_ctrl_c_saves_a_checkpoint_and_resume_is_bit_identical(tmp_path):
    import signal
    import time

    from safetensors.numpy import load_file

    # small batches make each epoch take about a second: the interrupt, sent as soon as the
    # first epoch's checkpoint exists, lands in the second of five
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
        "5",
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


# -- issues 11 and 12: what a newcomer meets on the command line ------------------------------


def small_tree(tmp_path, spec=None, size=8):
    root = tmp_path / "tree"
    write_folder(root, {"train": spec or {"a": 10, "b": 10, "c": 10}}, size=size)
    return root


def train_small(root, out, *args):
    return vedere(
        "train", "--model", "softmax", "--data-dir", root, "--epochs", 2, "--quiet", "--out", out,
        *args,
    )  # fmt: skip


@pytest.mark.parametrize("spec", ["2.0", "1.0", "-1", "0.0", "1.5", "nan", "ten"])
def test_val_split_float_counts_and_nonsense_are_refused(tmp_path, spec):
    out = tmp_path / "r"
    line = one_line_error(train_small(small_tree(tmp_path), out, "--val-split", spec))
    assert line.startswith(f"error: --val-split {spec}") or f"'{spec}'" in line
    assert "a count of images (a whole number; 0 = no validation) or a fraction in (0, 1)" in line
    if spec in ("2.0", "1.0"):
        assert f"write {spec[0]} for {spec[0]} images" in line
    assert not out.exists()  # refused before anything was trained or written


@pytest.mark.slow  # trains end to end
def test_val_split_count_fraction_and_zero(tmp_path):
    root = small_tree(tmp_path)
    # an int is a count (stratified: 2 of each class), a float in (0, 1) a fraction of the 30
    for spec, n_val in (("6", 6), ("0.2", 6), ("1", 1)):
        r = train_small(root, tmp_path / spec, "--val-split", spec)
        assert r.returncode == 0, r.stderr
        assert f"{30 - n_val} training, {n_val} validation" in r.stdout
        assert json.loads((tmp_path / spec / "metrics.json").read_text())["n"] == n_val
    # one validation image for three classes is allowed, but not silently
    assert "note: 1 validation image(s) for 3 classes" in r.stderr
    r = train_small(root, tmp_path / "none", "--val-split", "0")
    assert r.returncode == 0, r.stderr
    assert "30 training, 0 validation" in r.stdout and "val accuracy" not in r.stdout
    assert not (tmp_path / "none" / "metrics.json").exists()


def test_val_split_range_errors_agree(tmp_path):
    root = small_tree(tmp_path)
    rule = "expected a count of images (a whole number; 0 = no validation) or a fraction in (0, 1)"
    too_many = one_line_error(train_small(root, tmp_path / "r", "--val-split", "30"))
    assert too_many.startswith("error: --val-split 30: 30 validation images leave none of the 30")
    assert too_many.endswith(rule)
    ambiguous = one_line_error(train_small(root, tmp_path / "r2", "--val-split", "30.0"))
    assert ambiguous.startswith("error: --val-split 30.0: " + rule)


@pytest.mark.slow  # trains end to end
def test_evaluate_val_split_is_the_runs_held_out_images(tmp_path):
    root = small_tree(tmp_path, {"a": 12, "b": 9, "c": 9})
    out = tmp_path / "run"
    r = train_small(root, out, "--val-split", "0.3", "--seed", "7")
    assert r.returncode == 0, r.stderr
    r = vedere("evaluate", out, "--split", "val", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    # the oracle: what the run measured on its held-out images while training
    at_train = json.loads((out / "metrics.json").read_text())
    assert rep["n"] == at_train["n"] == 9
    assert rep["confusion_matrix"] == at_train["confusion_matrix"]
    assert rep["accuracy"] == at_train["accuracy"] and rep["source"] == str(root)
    # with no held-out images there is nothing to evaluate, and it says so
    r = train_small(root, tmp_path / "none", "--val-split", "0")
    assert r.returncode == 0, r.stderr
    line = one_line_error(vedere("evaluate", tmp_path / "none", "--split", "val", "--quiet"))
    assert "config.json: the run held out no validation images" in line


@pytest.mark.slow  # trains end to end
def test_train_refuses_an_existing_run_unless_overwrite(tmp_path):
    root = small_tree(tmp_path)
    out = tmp_path / "run"
    assert train_small(root, out).returncode == 0
    assert not (out / "checkpoint.safetensors").exists()  # removed at the end by default
    first = (out / "model.safetensors").read_bytes()
    line = one_line_error(train_small(root, out, "--seed", "1"))
    assert line.startswith(f"error: {out}: already holds a training run; use --overwrite ")
    assert (out / "model.safetensors").read_bytes() == first  # untouched
    r = train_small(root, out, "--seed", "1", "--overwrite", "--keep-checkpoint")
    assert r.returncode == 0, r.stderr
    assert (out / "model.safetensors").read_bytes() != first
    assert (out / "checkpoint.safetensors").is_file()
    r = vedere("train", "--out", out, "--resume", "--epochs", 3, "--quiet")
    assert r.returncode == 0, r.stderr
    assert len(json.loads((out / "history.json").read_text())["epochs"]) == 3


def test_predict_a_folder_image_by_image(tmp_path):
    root = small_tree(tmp_path)
    out = tmp_path / "run"
    assert train_small(root, out).returncode == 0
    folder = root / "train" / "b"
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    r = vedere("predict", out, folder, "--top-k", 2)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    names = sorted(p.name for p in folder.glob("*.png"))
    assert len(lines) == len(names) == 10
    for line, name in zip(lines, names, strict=True):
        m = re.fullmatch(
            rf"{re.escape(str(folder / name))}  ([abc]) (\d\.\d\d)  ([abc]) (\d\.\d\d)", line
        )
        assert m, line
        assert float(m.group(2)) >= float(m.group(4))
    r = vedere("predict", out, folder, "--json")
    assert [x["image"] for x in json.loads(r.stdout)] == [str(folder / n) for n in names]
    line = one_line_error(vedere("predict", out, folder / "sub"))
    assert line == f"error: {folder / 'sub'}: a directory without image files"


def test_class_names_cannot_fake_output_lines(tmp_path):
    # image folders with such names are refused by the data layer, but a model file can
    # carry any class names (trained from Python, or written by someone else)
    from vedere.classify import SoftmaxClassifier

    evil = "cat\ndog  0.99\x1b[2J"
    root = small_tree(tmp_path, {"a": 6, "b": 6})
    x = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    model = tmp_path / "evil.safetensors"
    SoftmaxClassifier(epochs=1).fit(x, ["a", evil] * 6).save(model)
    img = root / "train" / "a" / "000.png"
    r = vedere("predict", model, img)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and "\x1b" not in r.stdout
    assert any(ln.startswith("cat\\ndog  0.99\\x1b[2J  ") for ln in lines)
    r = vedere("predict", model, img, img)  # one line per image
    assert len(r.stdout.splitlines()) == 2 and "\x1b" not in r.stdout
    assert r.stdout.count("cat\\ndog") == 2


def test_printable_escapes_like_repr():
    from vedere.cli.escape import printable

    for s in ["plain", "día", "a\nb", "tab\there", "\x1b[31m", "zero\u200bwidth", "\udcff", "\\n"]:
        assert printable(s) == repr(s)[1:-1].replace("\\'", "'")
        assert "\n" not in printable(s) and printable(s).isprintable()


def _help_defaults(text: str, flag: str) -> dict[str, str]:
    """{model: default} from the ``[default: …]`` of ``flag`` in ``vedere train --help``."""
    flat = " ".join(text.split())
    m = re.search(rf"{flag} (?:\[[a-z_|]+\] )?[^\[]*\[default: ([^\]]*)\]", flat)
    assert m, flag
    found = {}
    for part in m.group(1).split("; "):
        if part.startswith("--model "):  # "[default: relu; --model mlp only]"
            continue
        if " for " in part:
            value, models = part.split(" for ")
            found.update({model: value for model in models.split(", ")})
        else:
            found["*"] = part
    return found


def test_train_help_shows_every_models_defaults():
    from click.testing import CliRunner

    from vedere.classify.estimators import ESTIMATORS
    from vedere.cli.main import cli

    r = CliRunner().invoke(cli, ["train", "--help"])
    assert r.exit_code == 0, r.output
    for flag, param, show in [
        ("--lr", "lr", lambda v: f"{v:g}"),
        ("--epochs", "epochs", str),
        ("--optimizer", "optimizer", str),
        ("--batch-size", "batch_size", str),
        ("--momentum", "momentum", lambda v: f"{v:g}"),
    ]:
        found = _help_defaults(r.output, flag)
        for name, cls in ESTIMATORS.items():
            default = inspect.signature(cls).parameters[param].default
            assert found.get(name, found.get("*")) == show(default), (flag, name)
    mlp = inspect.signature(ESTIMATORS["mlp"]).parameters
    hidden = _help_defaults(r.output, "--hidden")
    assert hidden.get("mlp", hidden.get("*")) == ",".join(map(str, mlp["hidden_sizes"].default))
    assert "perceptron" not in hidden and "softmax" not in hidden


@pytest.mark.slow  # trains end to end
def test_summary_names_the_data_and_why_training_stopped(tmp_path):
    root = small_tree(tmp_path)
    r = train_small(root, tmp_path / "run")
    assert r.returncode == 0, r.stderr
    assert f"data            {root}\n" in r.stdout
    assert "training        ran all 2 epochs\n" in r.stdout
    r = train_small(root, tmp_path / "es", "--epochs", 40, "--early-stopping", 1, "--lr", 0.5)
    assert r.returncode == 0, r.stderr
    ran = len(json.loads((tmp_path / "es" / "history.json").read_text())["epochs"])
    assert ran < 40
    assert f"training        stopped early after {ran} epochs: validation loss did not " in r.stdout


def test_python_dash_m_vedere():
    from vedere import __version__

    r = subprocess.run(
        [sys.executable, "-m", "vedere", "--version"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and r.stdout.strip() == f"vedere, version {__version__}"
    r = subprocess.run(
        [sys.executable, "-m", "vedere", "predict", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout.startswith("Usage: vedere predict")


def test_too_high_learning_rate_is_one_error_line(tmp_path):
    out = tmp_path / "run"
    r = vedere("train", "--lr", 50, "--epochs", 2, "--quiet", "--out", out)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and r.stdout == ""
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {out}: training diverged ")
    assert "the learning rate --lr 50 is probably too high" in errors[0]
    # the only other line is the notice that the embedded sample was used
    others = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("error:")]
    assert len(others) == 1 and "embedded CIFAR-10 sample" in others[0]


@pytest.mark.parametrize(
    "doc, problem",
    [
        ('{"out": "r", "model": "softmax", "seed": "x"}', "seed: 'x': expected a whole number"),
        ('{"out": "r", "model": "softmax", "val_split": 2.0}', "--val-split 2.0"),
        ("[" * 100_000, "nested"),
        ("/dev/zero", "not a regular file"),
    ],
    ids=["seed-str", "val", "deep", "devzero"],
)
def test_hostile_config_json_is_one_error_line(tmp_path, doc, problem):
    out = tmp_path / "run"
    out.mkdir()
    cfg = out / "config.json"
    if doc == "/dev/zero":
        cfg.symlink_to("/dev/zero")
    else:
        cfg.write_text(doc)
    line = one_line_error(vedere("train", "--out", out, "--resume", "--quiet"))
    assert line.startswith(f"error: {cfg}: not a valid run configuration (")
    assert problem in line, line
    # evaluate --split val reads the same file once it has a model to evaluate
    from vedere.classify import SoftmaxClassifier

    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    SoftmaxClassifier(epochs=1).fit(x, ["a", "b"] * 3).save(out / "model.safetensors")
    assert one_line_error(vedere("evaluate", out, "--split", "val", "--quiet")) == line


def test_config_val_split_old_and_new_meanings(tmp_path):
    from vedere.classify import run

    def load(vs):
        return run.config_from_dict({"out": "r", "val_split": vs}, tmp_path / "c", out="r")

    assert load(0.0).val_split is None  # written before 0 meant "none": the default then
    assert load(0).val_split == 0 and load(5000).val_split == 5000 and load(0.1).val_split == 0.1
    assert [run.val_count(s, 1200) for s in (None, 0, 100, 0.25)] == [120, 0, 100, 300]
    assert run.val_count(None, 50000) == 5000
    with pytest.raises(ValueError, match=r"--val-split 2\.0: expected a count of images"):
        load(2.0)
