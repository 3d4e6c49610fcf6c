"""Greyscale 28×28 (MNIST's IDX files, generated here) through the command line: train every
classifier, predict, evaluate, and the CNN exported to ONNX agreeing with ``vedere predict``
in onnxruntime; ``--dataset NAME --download`` from local files; CIFAR-100's ``--labels``."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from tests.data.test_standard_datasets import (
    cifar100_arrays,
    mnist_arrays,
    write_cifar100,
    write_mnist,
)
from vedere.classify import run
from vedere.classify.estimators import ESTIMATORS, load_classifier
from vedere.data import mnist

VEDERE = [sys.executable, "-m", "vedere.cli"]


def vedere(*args):
    return subprocess.run([*VEDERE, *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    arrays = mnist_arrays(n_train=200, n_test=40)
    return write_mnist(root / "mnist", arrays), arrays


@pytest.mark.slow  # trains end to end
def test_train_cnn_on_mnist_then_export_agrees_with_predict(digits, tmp_path):
    folder, arrays = digits
    r = vedere(
        "train", "--data-dir", folder, "--model", "cnn", "--arch", "tiny", "--epochs", "2",
        "--out", tmp_path / "run", "--quiet",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "180 training, 20 validation" in r.stdout
    r = vedere("evaluate", tmp_path / "run", "--data-dir", folder, "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n"] == 40
    r = vedere("export", tmp_path / "run", tmp_path / "cnn.onnx")
    assert r.returncode == 0, r.stderr
    assert "(N, 28, 28, 1) uint8" in r.stdout
    images = arrays["t10k"][0][:5]
    files = []
    for i, img in enumerate(images):
        files.append(tmp_path / f"digit{i}.png")
        Image.fromarray(img, mode="L").save(files[-1])
    r = vedere("predict", tmp_path / "run", *files, "--json")
    assert r.returncode == 0, r.stderr
    order = [str(c) for c in load_classifier(tmp_path / "run" / "model.safetensors").classes_]
    want = np.array(
        [[{t["class"]: t["probability"] for t in row["top"]}[c] for c in order]
         for row in json.loads(r.stdout)]
    )  # fmt: skip
    s = ort.InferenceSession(str(tmp_path / "cnn.onnx"), providers=["CPUExecutionProvider"])
    (probs,) = s.run(["probabilities"], {"images": images[..., None]})
    np.testing.assert_allclose(probs, want, atol=1e-5, rtol=0)


@pytest.mark.slow  # trains end to end
@pytest.mark.parametrize("model", [m for m in ESTIMATORS if m != "cnn"])
def test_every_classifier_trains_predicts_and_evaluates_on_greyscale(digits, tmp_path, model):
    folder, arrays = digits
    cfg = run.RunConfig(
        out=str(tmp_path / model),
        model=model,
        data_dir=str(folder),
        positive_class="3",
        params={"epochs": 3} if model != "mlp" else {"epochs": 3, "hidden_sizes": (32,)},
    )
    result = run.train(cfg, progress=False)
    assert result.estimator.preprocess_.shape == (28, 28, 1)
    # the bars that encode the digits are easy: anything that learned must beat chance
    assert result.report["accuracy"] > 0.5
    rep = run.evaluate(tmp_path / model, str(folder), "test", progress=False)
    assert rep["n"] == 40 and rep["accuracy"] > 0.5
    f = tmp_path / "one.png"
    Image.fromarray(arrays["t10k"][0][0], mode="L").convert("RGB").save(f)  # an RGB file
    (top,) = run.predict(tmp_path / model, [str(f)], top_k=1)
    est = load_classifier(tmp_path / model / "model.safetensors")
    p = est.predict_proba(arrays["t10k"][0][:1, :, :, None])
    assert top["top"][0][1] == pytest.approx(p.max(), abs=1e-6)


def test_an_arch_too_deep_for_28_pixels_is_refused_in_one_line(digits, tmp_path):
    folder, _ = digits
    r = vedere("train", "--data-dir", folder, "--model", "cnn", "--arch", "c8-p-p-p-p-p",
               "--out", tmp_path / "x")  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("error: --arch")
    assert "shrinks below 1×1" in r.stderr and "28x28" in r.stderr


def test_dataset_download_from_a_local_url(tmp_path, monkeypatch):
    src = write_mnist(tmp_path / "published", mnist_arrays(n_train=60, n_test=20))
    table = {
        n: ((src / n).stat().st_size, hashlib.md5((src / n).read_bytes()).hexdigest())
        for n in mnist.PUBLISHED["mnist"]
    }
    monkeypatch.setattr(mnist, "PUBLISHED", {**mnist.PUBLISHED, "mnist": table})
    monkeypatch.setattr(mnist, "URLS", {"mnist": src.as_uri() + "/"})
    monkeypatch.setenv("VEDERE_CACHE", str(tmp_path / "cache"))
    cfg = run.RunConfig(out=str(tmp_path / "r"), model="softmax", dataset="mnist",
                        params={"epochs": 1})  # fmt: skip
    with pytest.raises(ValueError, match="not downloaded; add --download"):
        run.train(cfg, progress=False)
    cfg.download = True
    result = run.train(cfg, progress=False)
    assert result.n_train + result.n_val == 60
    assert (tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


@pytest.mark.slow  # trains end to end
def test_cifar100_coarse_labels_from_the_command_line(tmp_path):
    src = write_cifar100(tmp_path, cifar100_arrays(n=60), "binary", packed=False)
    r = vedere("train", "--data-dir", src, "--model", "softmax", "--labels", "coarse",
               "--epochs", "1", "--no-checksum", "--out", tmp_path / "r", "--quiet")  # fmt: skip
    assert r.returncode == 0, r.stderr
    est = load_classifier(tmp_path / "r" / "model.safetensors")
    assert len(est.classes_) <= 20 and all(c.startswith("coarse") for c in est.classes_)
    r = vedere("evaluate", tmp_path / "r", "--data-dir", src, "--no-checksum", "--json",
               "--quiet")  # fmt: skip
    assert r.returncode == 0, r.stderr  # the model's coarse labels are used by default
    assert json.loads(r.stdout)["n"] == 60


def test_a_truncated_idx_file_is_one_error_line_from_vedere_train(tmp_path):
    folder = write_mnist(tmp_path / "m", mnist_arrays(n_train=20, n_test=10), gz=False)
    f = folder / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    r = vedere("train", "--data-dir", folder, "--model", "softmax", "--out", tmp_path / "r")
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(f) in lines[0]
    assert "truncated" in lines[0]


def test_the_difficulties_experiments_occlusion_covers_a_28_pixel_image_at_32():
    from vedere.experiments.difficulties import occlude

    out = occlude(np.zeros((2, 28, 28, 1), np.uint8), 32, np.random.default_rng(0))
    assert out.shape == (2, 28, 28, 1) and (out == 127).all()
    part = occlude(np.zeros((1, 28, 28, 1), np.uint8), 8, np.random.default_rng(0))
    assert (part == 127).sum() == 64


def test_the_playgrounds_classify_tab_takes_a_greyscale_model(digits):
    from vedere.classify import SoftmaxClassifier
    from vedere.web import uploads

    _, arrays = digits
    x = arrays["train"][0][..., None]
    est = SoftmaxClassifier(epochs=2).fit(x, arrays["train"][1])
    photo = np.stack([arrays["t10k"][0][0]] * 3, axis=-1)  # an RGB upload of a digit
    photo = np.asarray(Image.fromarray(photo).resize((56, 56)))  # at another size
    top = uploads.classify(est, photo, top_k=3)
    grey = np.asarray(Image.fromarray(photo).convert("L").resize((28, 28), Image.BILINEAR))
    p = est.predict_proba(grey[None, :, :, None])[0]
    assert [t["class"] for t in top] == [str(c) for c in est.classes_[np.argsort(-p)[:3]]]
    assert top[0]["probability"] == pytest.approx(p.max(), abs=1e-6)
