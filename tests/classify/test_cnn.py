"""CNNClassifier: architecture specs, the NCHW pipeline against PyTorch, test-time flips and
shifts, model files (tampered ones refused), and the command line end to end on the sample."""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vedere.classify import cnn_arch
from vedere.classify.cnn import CNNClassifier, translate
from vedere.classify.estimators import load_classifier
from vedere.data.dataset import load_split
from vedere.data.transforms import random_cutout
from vedere.nn.io import ModelFileError

VEDERE = [sys.executable, "-m", "vedere.cli"]


def vedere(*args):
    return subprocess.run([*VEDERE, *map(str, args)], capture_output=True, text=True, timeout=600)


def one_line_error(r):
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# -- the spec grammar ------------------------------------------------------------------------
def test_plan_counts_parameters_and_flops_of_a_small_spec_by_hand():
    p = cnn_arch.plan("c8-p-c16-p-g", (32, 32, 3), 10)
    # conv 3→8 (3·8·9 weights, BN γ β 2·8), conv 8→16 (8·16·9 + 2·16), linear 16→10 (+10)
    assert p.n_params == (3 * 8 * 9 + 16) + (8 * 16 * 9 + 32) + (16 * 10 + 10)
    # 2·C_in·K²·C_out·H·W per conv (32×32, then 16×16 after the pool), 2·16·10 for the linear
    assert p.flops == 2 * 3 * 9 * 8 * 32 * 32 + 2 * 8 * 9 * 16 * 16 * 16 + 2 * 16 * 10
    assert p.shapes == [(3, 32, 32), (8, 32, 32), (8, 16, 16), (16, 16, 16), (16, 8, 8), (16, 1, 1)]
    assert cnn_arch.plan("tiny", (32, 32, 3), 10).n_params == p.n_params  # the preset


def test_plan_of_strided_blocks_and_flatten_head():
    p = cnn_arch.plan("C4k5s2-b6-a", (15, 17, 1), 3)  # case-insensitive
    # 5×5 stride 2, padding 2: ⌊(15+4-5)/2⌋+1 = 8, ⌊(17+4-5)/2⌋+1 = 9; block: pool → 4×4;
    # avg-pool → 2×2; no global pool: Flatten → 6·2·2 = 24 features
    assert p.shapes[1:] == [(4, 8, 9), (6, 4, 4), (6, 2, 2)]
    conv = 1 * 4 * 25 + 8 + (4 * 6 * 9 + 12) + (6 * 6 * 9 + 12)
    assert p.n_params == conv + 24 * 3 + 3


@pytest.mark.parametrize("name", list(cnn_arch.PRESETS))
def test_every_preset_plans_on_cifar(name):
    assert cnn_arch.plan(name, (32, 32, 3), 10).n_params < cnn_arch.MAX_PARAMS


@pytest.mark.parametrize(
    "spec, words",
    [
        ("", "empty"),
        ("c32-x5", "token 2 'x5'"),
        ("c0", "width"),
        ("c2000", "width"),
        ("c32k4", "odd"),
        ("c32k9", "kernel size"),
        ("c32s9", "stride"),
        ("c8-g-c8", "must be last"),
        ("c8-p-p-p-p-p-p", "shrinks below 1×1"),
        ("c1024-c1024-c1024-p-c1024-c1024-c1024", "parameters"),
        ("-".join(["c8"] * 40), "more than 32 tokens"),
        ("c99999999999999999999", "width"),
    ],
)
def test_bad_specs_name_the_argument_and_the_problem(spec, words):
    with pytest.raises(ValueError) as e:
        cnn_arch.plan(spec, (32, 32, 3), 10)
    assert str(e.value).startswith("--arch ") and words in str(e.value)


def test_cutout_zeroes_one_clipped_square_per_image():
    rng = np.random.default_rng(3)
    batch = np.full((50, 9, 11, 3), 200, np.uint8)
    out = random_cutout(batch, np.random.default_rng(3), size=4)
    cy, cx = rng.integers(0, 9, 50), rng.integers(0, 11, 50)  # the same draws, replayed
    for i in range(50):
        expect = np.full((9, 11, 3), 200, np.uint8)
        for y in range(cy[i] - 2, cy[i] + 2):
            for x in range(cx[i] - 2, cx[i] + 2):
                if 0 <= y < 9 and 0 <= x < 11:
                    expect[y, x] = 0
        np.testing.assert_array_equal(out[i], expect)
    assert (batch == 200).all()  # a new array
    assert random_cutout(batch, rng, 0) is batch


def test_cli_bad_arch_is_one_line_naming_the_argument(tmp_path):
    line = one_line_error(
        vedere("train", "--model", "cnn", "--arch", "c32-q7-g", "--quiet", "--out", tmp_path / "r")
    )
    assert "--arch 'c32-q7-g'" in line and "'q7'" in line
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_cnn_refuses_feature_vectors():
    x = np.random.default_rng(0).normal(size=(20, 5))
    with pytest.raises(ValueError, match=r"needs images \(N, H, W, C\)"):
        CNNClassifier(arch="tiny").fit(x, np.arange(20) % 2)


def test_get_params_and_sklearn_clone():
    from sklearn.base import clone

    est = CNNClassifier(arch="c4-g", cutout=3, tta=False)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    assert twin.set_params(arch="tiny").arch == "tiny"


# -- a tiny CNN trained on the embedded sample ------------------------------------------------
@pytest.fixture(scope="module")
def sample():
    train = load_split(None, "train", progress=False)
    test = load_split(None, "test", progress=False)
    names = np.asarray(train.classes)
    return train.images, names[train.labels], test.images, names[test.labels]


@pytest.fixture(scope="module")
def fitted(sample):
    x, y, _, _ = sample
    est = CNNClassifier(arch="c8-p-c16-p-g", epochs=3, batch_size=64, lr=0.05, cutout=4)
    return est.fit(x, y)


def _torch_twin(est):
    """The same network in PyTorch, with vedere's weights and running statistics."""
    import torch

    mods = []
    for layer in est.network_.layers:
        kind = type(layer).__name__
        if kind == "Conv2d":
            m = torch.nn.Conv2d(layer.in_channels, layer.out_channels, 3, padding=1, bias=False)
            m.weight.data = torch.from_numpy(layer.weight.data.astype(np.float64))
        elif kind == "BatchNorm2d":
            m = torch.nn.BatchNorm2d(layer.num_features)
            for name in ("weight", "bias", "running_mean", "running_var"):
                src = getattr(layer, name).data.astype(np.float64)
                getattr(m, name).data = torch.from_numpy(src)
        elif kind == "ReLU":
            m = torch.nn.ReLU()
        elif kind == "MaxPool2d":
            m = torch.nn.MaxPool2d(2)
        elif kind == "GlobalAvgPool2d":
            m = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        else:
            assert kind == "Linear", kind
            m = torch.nn.Linear(layer.in_features, layer.out_features)
            m.weight.data = torch.from_numpy(layer.weight.data.astype(np.float64))
            m.bias.data = torch.from_numpy(layer.bias.data.astype(np.float64))
        mods.append(m)
    return torch.nn.Sequential(*mods).double().eval()


def _normalised_nchw(sample, n):
    """The first n test images as the network sees them, computed independently: per-channel
    mean and std of the training pixels / 255, NCHW float64 (a torch tensor)."""
    import torch

    x_train, _, x_test, _ = sample
    px = x_train.reshape(-1, 3).astype(np.float64) / 255
    mean, std = px.mean(axis=0), px.std(axis=0)
    return torch.from_numpy(((x_test[:n] / 255 - mean) / std).transpose(0, 3, 1, 2).copy())


def test_scores_match_pytorch_on_nchw_input_with_and_without_flip_averaging(sample, fitted):
    import torch

    x_test = sample[2]
    x = _normalised_nchw(sample, 50)
    twin = _torch_twin(fitted)
    with torch.no_grad():
        plain, mirrored = twin(x).numpy(), twin(torch.flip(x, dims=[3])).numpy()
    fitted.set_params(tta=False)
    try:
        np.testing.assert_allclose(fitted.decision_function(x_test[:50]), plain, atol=2e-4)
    finally:
        fitted.set_params(tta=True)
    both = (plain + mirrored) / 2
    np.testing.assert_allclose(fitted.decision_function(x_test[:50]), both, atol=2e-4)
    p = np.exp(both - both.max(axis=1, keepdims=True))
    np.testing.assert_allclose(fitted.predict_proba(x_test[:50]), p / p.sum(1, keepdims=True),
                               atol=1e-5)  # fmt: skip


def _torch_translate(x, dy, dx):
    """NCHW ``x`` moved dy down, dx right: PyTorch's reflection padding, then a crop."""
    import torch.nn.functional as F

    py, px = abs(dy), abs(dx)
    h, w = x.shape[2:]
    padded = F.pad(x, (px, px, py, py), mode="reflect")
    return padded[:, :, py - dy : py - dy + h, px - dx : px - dx + w]


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(2, 9),
    w=st.integers(2, 9),
    dy=st.integers(-8, 8),
    dx=st.integers(-8, 8),
    seed=st.integers(0, 2**16),
)
def test_translate_is_pytorch_reflect_padding_and_crop(h, w, dy, dx, seed):
    import torch

    dy, dx = max(-(h - 1), min(dy, h - 1)), max(-(w - 1), min(dx, w - 1))
    x = np.random.default_rng(seed).integers(0, 256, size=(2, h, w, 3), dtype=np.uint8)
    want = _torch_translate(torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float64)), dy, dx)
    got = translate(x, dy, dx)
    assert got.shape == x.shape and got.dtype == np.uint8
    np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), want.numpy())
    if dy >= 0 and dx >= 0:  # the image itself, moved: out[i, j] = x[i - dy, j - dx]
        np.testing.assert_array_equal(got[:, dy:, dx:], x[:, : h - dy, : w - dx])


def test_scores_with_test_time_shifts_match_pytorch(sample, fitted):
    import torch

    x_test = sample[2]
    x = _normalised_nchw(sample, 40)
    twin = _torch_twin(fitted)

    def flip_avg(v):
        with torch.no_grad():
            return (twin(v).numpy() + twin(torch.flip(v, dims=[3])).numpy()) / 2

    # ½ f̄(x) + ¼ f̄(T₊₂x) + ¼ f̄(T₋₂x) (normalising commutes with the per-pixel translation)
    want = (
        flip_avg(x) / 2
        + (flip_avg(_torch_translate(x, 2, 2)) + flip_avg(_torch_translate(x, -2, -2))) / 4
    )
    fitted.set_params(tta_shift=2)
    try:
        np.testing.assert_allclose(fitted.decision_function(x_test[:40]), want, atol=2e-4)
        fitted.set_params(tta=False)  # tta_shift only counts with tta
        np.testing.assert_allclose(fitted.decision_function(x_test[:40]), twin(x).detach().numpy(),
                                   atol=2e-4)  # fmt: skip
    finally:
        fitted.set_params(tta=True, tta_shift=0)


@pytest.mark.parametrize("bad", [9, -1, "1", 1.5, True, None])
def test_bad_tta_shift_is_refused_naming_it_before_training(sample, bad):
    x, y, _, _ = sample
    with pytest.raises(ValueError, match=r"tta_shift must be an integer in \[0, 8\]"):
        CNNClassifier(arch="c4-g", epochs=1, tta_shift=bad).fit(x[:20], y[:20])


def test_tta_shift_as_large_as_the_image_is_refused():
    x = np.zeros((10, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=r"tta_shift=4 is not smaller than the images' sides"):
        CNNClassifier(arch="c4-g", epochs=1, tta_shift=4).fit(x, np.arange(10) % 2)


def test_tiny_cnn_learns_the_sample(sample, fitted):
    _, _, x_test, y_test = sample
    assert len(fitted.history_) == 3
    assert fitted.history_.rows[-1]["train_loss"] < fitted.history_.rows[0]["train_loss"]
    assert fitted.score(x_test, y_test) > 0.2  # chance: 0.1


def test_save_load_gives_the_same_probabilities(tmp_path, sample, fitted):
    _, _, x_test, _ = sample
    path = fitted.save(tmp_path / "cnn.safetensors")
    again = load_classifier(path)
    assert isinstance(again, CNNClassifier) and again.get_params() == fitted.get_params()
    np.testing.assert_array_equal(again.predict_proba(x_test), fitted.predict_proba(x_test))


def _rewrite(src, dst, field, change):
    """Copy a model file with its JSON metadata ``field`` edited by ``change`` (the weights
    and their checksum untouched: only what the checksum does not cover)."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(src), "np") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    value = json.loads(meta[field])
    change(value)
    meta[field] = json.dumps(value)
    save_file(tensors, str(dst), metadata=meta)
    return dst


def _rewrite_architecture(src, dst, change):
    return _rewrite(src, dst, "vedere.architecture", lambda a: change(a["config"]["layers"]))


def _stride_2(layers):
    layers[4]["config"]["stride"] = [2, 2]


def _pool_4(layers):
    layers[3]["config"].update(kernel_size=[4, 4], stride=[4, 4])


def _tanh(layers):
    layers[2]["type"] = "Tanh"


@pytest.mark.parametrize("change", [_stride_2, _pool_4, _tanh])
def test_tampered_architecture_is_a_model_file_error(tmp_path, sample, fitted, change):
    _, _, x_test, _ = sample
    good = fitted.save(tmp_path / "good.safetensors")
    bad = _rewrite_architecture(good, tmp_path / "bad.safetensors", change)
    with pytest.raises(ModelFileError, match=r"bad\.safetensors: the network is not the arch"):
        load_classifier(bad)
    png = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(x_test[0]).save(png)
    line = one_line_error(vedere("predict", bad, png))
    assert "bad.safetensors" in line and "not the architecture" in line


@pytest.mark.slow  # trains end to end
def test_cli_train_evaluate_predict_a_tiny_cnn(tmp_path, sample):
    out = tmp_path / "run"
    r = vedere("train", "--model", "cnn", "--arch", "tiny", "--epochs", 1, "--batch-size", 64,
               "--cutout", 4, "--no-tta", "--quiet", "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "CNNClassifier" in r.stdout
    est = load_classifier(out / "model.safetensors")
    assert est.arch == "tiny" and est.cutout == 4 and est.tta is False
    r = vedere("evaluate", out, "--json")
    assert r.returncode == 0, r.stderr
    acc = json.loads(r.stdout)["accuracy"]
    _, _, x_test, y_test = sample
    assert acc == pytest.approx(est.score(x_test, y_test))
    r = vedere("evaluate", out, "--json", "--tta-shift", 2)  # test-time views chosen here
    assert r.returncode == 0, r.stderr
    shifted = est.set_params(tta=True, tta_shift=2).score(x_test, y_test)
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(shifted)
    png = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(x_test[0]).save(png)
    r = vedere("predict", out, png, "--json", "--top-k", 1)
    assert r.returncode == 0, r.stderr
    assert str(est.predict(x_test[:1])[0]) in r.stdout


def test_playground_classifies_with_a_cnn_run(tmp_path, sample, fitted):
    from starlette.testclient import TestClient

    from vedere.classify import run
    from vedere.web.server import Playground, create_app

    fitted.save(tmp_path / "run" / "model.safetensors")
    png = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(sample[2][7]).save(png)
    with TestClient(create_app(Playground(tmp_path / "run"))) as c:
        r = c.post("/api/classify", content=png.read_bytes())
    assert r.status_code == 200
    expect = run.predict(tmp_path / "run", [str(png)])[0]["top"]  # `vedere predict`'s path
    top = r.json()["top"]
    assert [t["class"] for t in top] == [c for c, _ in expect][: len(top)]
    np.testing.assert_allclose([t["probability"] for t in top],
                               [p for _, p in expect][: len(top)], atol=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda e: e["params"].update(arch="c8-p-c16-p-c16-g"), "not the architecture"),
        (lambda e: e["params"].update(arch="c8-zz"), "invalid CNN architecture"),
        (lambda e: e["params"].update(arch=["c8"]), "invalid CNN architecture"),
        (lambda e: e["params"].update(arch="c" + "9" * 100_000), "invalid CNN architecture"),
        (lambda e: e["params"].update(activation="swish"), "invalid CNN architecture"),
        (lambda e: e["params"].update(dropout="lots"), "invalid CNN architecture"),
        (lambda e: e["params"].update(tta_shift=10**12), "tta_shift must be an integer"),
        (lambda e: e["params"].update(tta_shift="1"), "tta_shift must be an integer"),
        (lambda e: e["params"].update(tta_shift=True), "tta_shift must be an integer"),
        (lambda e: e["preprocess"].update(shape=[600, 600, 3]), "at most 512"),
        (
            lambda e: e["preprocess"].update(shape=[32, 32, 100], mean=[0] * 100, std=[1] * 100),
            "64 channels",
        ),
        (
            lambda e: e["preprocess"].update(shape=[32, 32, 1], mean=[0], std=[1]),
            "not the architecture",
        ),
    ],
)
def test_tampered_cnn_metadata_is_a_short_model_file_error(tmp_path, fitted, change, words):
    good = fitted.save(tmp_path / "good.safetensors")
    bad = _rewrite(good, tmp_path / "bad.safetensors", "vedere.extra", change)
    with pytest.raises(ModelFileError) as e:
        load_classifier(bad)
    assert str(e.value).startswith(str(bad)) and words in str(e.value)
    assert len(str(e.value)) < 600


def test_cli_tta_shift_on_a_model_that_is_not_a_cnn_is_one_line(mlp_model):
    line = one_line_error(vedere("evaluate", mlp_model, "--tta-shift", 1))
    assert "--tta-shift applies to CNN models only" in line and "MLPClassifier" in line


@pytest.mark.slow  # trains end to end
def test_cli_train_with_test_time_shifts_saves_and_uses_them(tmp_path):
    out = tmp_path / "run"
    r = vedere("train", "--model", "cnn", "--arch", "c4-g", "--epochs", 1, "--limit", 300,
               "--tta-shift", 1, "--quiet", "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    est = load_classifier(out / "model.safetensors")
    assert est.tta is True and est.tta_shift == 1
    printed = float(r.stdout.split("val accuracy")[1].split("%")[0])
    r = vedere("evaluate", out, "--split", "val", "--json")  # the run's own held-out images
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accuracy"] * 100 == pytest.approx(printed, abs=0.051)
