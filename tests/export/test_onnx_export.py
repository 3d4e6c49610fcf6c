"""ONNX export against an independent oracle: onnxruntime runs the exported graph and must
give ``predict_proba``'s probabilities (vedere predict's) to 1e-5, for every classifier on the
embedded sample, for each layer type, and for hypothesis-drawn CNN specs."""

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vedere import nn
from vedere.classify import cnn_arch
from vedere.classify.base import Preprocess
from vedere.classify.cnn import CNNClassifier, ImagePreprocess
from vedere.classify.estimators import (
    LinearSVM,
    LogisticRegression,
    MLPClassifier,
    Perceptron,
    SoftmaxClassifier,
    load_classifier,
)
from vedere.data.dataset import load_split
from vedere.data.transforms import Normalizer
from vedere.export.onnx_model import OPSET, export_classifier, to_onnx

VEDERE = [sys.executable, "-m", "vedere.cli"]
TOL = 1e-5


def vedere(*args, cwd=None):
    return subprocess.run(
        [*VEDERE, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd
    )


def session(model):
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def run_onnx(model, x):
    s = session(model)
    (inp,) = s.get_inputs()
    probs, logits = s.run(["probabilities", "logits"], {inp.name: x})
    return probs, logits


def assert_agrees(est, x, **kw):
    model = to_onnx(est, **kw)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    feed = x.astype(np.float32) if kw.get("input_type") == "float32" else x
    probs, logits = run_onnx(model, feed)
    want = est.predict_proba(x)
    assert probs.shape == want.shape
    np.testing.assert_allclose(probs, want, atol=TOL, rtol=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    scores = est._scores(x)
    np.testing.assert_allclose(logits, scores, atol=1e-4, rtol=1e-4)
    return model


# -- every classifier, trained briefly on the embedded sample ----------------------------------
@pytest.fixture(scope="module")
def sample():
    train = load_split(None, "train", progress=False)
    test = load_split(None, "test", progress=False)
    rng = np.random.default_rng(0)
    idx = rng.choice(len(train), 400, replace=False)
    return (
        np.asarray(train.images[idx]),
        np.asarray(train.classes)[train.labels[idx]],
        np.asarray(test.images),
        test,
    )


KINDS = {
    # lr 1 (the default) gives scores in the thousands, whose float32 rounding alone (in
    # vedere as in onnxruntime) moves a softmax by more than 1e-5: see the test below
    "perceptron": lambda: Perceptron(epochs=1, lr=1e-3),
    "logistic": lambda: LogisticRegression(epochs=2),
    "softmax": lambda: SoftmaxClassifier(epochs=2),
    "svm": lambda: LinearSVM(epochs=2),
    "mlp": lambda: MLPClassifier(hidden_sizes=(64, 32), epochs=2, dropout=0.2),
    "cnn": lambda: CNNClassifier(arch="tiny", epochs=1, batch_size=64),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_onnxruntime_gives_the_probabilities_of_every_classifier_on_the_sample(kind, sample):
    x, y, x_test, _ = sample
    est = KINDS[kind]().fit(x, y)
    assert_agrees(est, x_test)


def test_perceptron_with_large_scores_agrees_to_float32_precision(sample):
    x, y, x_test, _ = sample
    est = Perceptron(epochs=1).fit(x, y)
    _, logits = run_onnx(to_onnx(est), x_test)
    scores = est._scores(x_test)
    assert np.abs(scores).max() > 100  # the regime where probabilities are ill-conditioned
    # both sums of 3,072 float32 products: within a few float32 ulps of the largest score
    assert np.abs(logits - scores).max() <= 1e-6 * np.abs(scores).max()
    assert (logits.argmax(axis=1) == scores.argmax(axis=1)).mean() >= 0.99


@pytest.mark.parametrize("kind", ["perceptron", "logistic"])
def test_two_class_models_with_one_score_export_both_probabilities(kind, sample):
    x, y, x_test, _ = sample
    binary = np.where(y == "cat", "cat", "not-cat")
    est = KINDS[kind]().fit(x, binary)
    model = assert_agrees(est, x_test)
    _, logits = run_onnx(model, x_test[:5])
    assert logits.shape == (5, 1)  # the one score of classes_[1]


def test_feature_vector_models_take_unscaled_float_features(rng):
    x = (rng.standard_normal((120, 7)) * [1, 5, 10, 0.1, 2, 3, 50] + 4).astype(np.float32)
    y = (x[:, 0] + x[:, 1] / 5 > 4).astype(int) + (x[:, 2] > 44)
    est = MLPClassifier(hidden_sizes=(16,), epochs=3, augment=False).fit(x, y)
    model = assert_agrees(est, x)
    assert model.graph.input[0].name == "features"


def test_the_graph_accepts_float_pixels_too(sample):
    x, y, x_test, _ = sample
    est = SoftmaxClassifier(epochs=1).fit(x, y)
    model = assert_agrees(est, x_test[:20], input_type="float32")
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


# -- vedere predict and vedere export, end to end ----------------------------------------------
@pytest.mark.slow  # trains end to end
def test_vedere_export_then_onnxruntime_agrees_with_vedere_predict(tmp_path, sample):
    _, _, _, test = sample
    r = vedere(
        "train", "--model", "cnn", "--arch", "tiny", "--epochs", "1", "--limit", "300",
        "--out", tmp_path / "run", "--quiet",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = vedere("export", tmp_path / "run", tmp_path / "cnn.onnx")
    assert r.returncode == 0, r.stderr
    assert "opset 17" in r.stdout and "probabilities (N, 10)" in r.stdout
    from PIL import Image

    files = []
    for i in range(4):
        f = tmp_path / f"img{i}.png"
        Image.fromarray(np.asarray(test.images[i])).save(f)
        files.append(f)
    r = vedere("predict", tmp_path / "run", *files, "--json")
    assert r.returncode == 0, r.stderr
    est = load_classifier(tmp_path / "run" / "model.safetensors")
    order = [str(c) for c in est.classes_]
    want = np.array(
        [[dict((t["class"], t["probability"]) for t in row["top"])[c] for c in order]
         for row in json.loads(r.stdout)]
    )  # fmt: skip
    x = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    probs, _ = run_onnx(onnx.load(str(tmp_path / "cnn.onnx")), x)
    np.testing.assert_allclose(probs, want, atol=TOL, rtol=0)
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "cnn.onnx")).metadata_props}
    assert json.loads(meta["vedere.classes"]) == order


def test_export_is_atomic_and_a_bad_model_is_one_error_line(tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"old")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    r = vedere("export", bad, out)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.safetensors" in lines[0]
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["bad.safetensors", "m.onnx"]  # no temporary left


def test_vedere_export_writes_a_cascade_opencv_reads(tmp_path):
    cv2 = pytest.importorskip("cv2")
    r = vedere("export", "frontalface", tmp_path / "face.xml")
    assert r.returncode == 0, r.stderr
    assert not cv2.CascadeClassifier(str(tmp_path / "face.xml")).empty()


# -- one test per layer type: a CNN whose weights are drawn, not trained ------------------------
def fitted_cnn(arch, shape, n_classes, rng, *, activation="relu", dropout=0.0, **params):
    """A CNNClassifier as ``fit`` would leave it, with random weights, BatchNorm statistics
    and normalisation (no training: fast, and nothing is near zero by accident)."""
    est = CNNClassifier(arch=arch, activation=activation, dropout=dropout, **params)
    c = shape[2]
    norm = Normalizer(rng.uniform(0.2, 0.7, c), rng.uniform(0.1, 0.4, c))
    est.preprocess_ = ImagePreprocess(Preprocess("image", shape, norm), False, 0)
    est.classes_ = np.arange(n_classes)
    est.n_features_in_ = int(np.prod(shape))
    net = cnn_arch.build(arch, shape, n_classes, activation=activation, dropout=dropout, rng=rng)
    for m in _modules(net):
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            k = m.num_features
            m.weight.data[:] = rng.uniform(0.5, 1.5, k)
            m.weight.data[::3] *= -1  # negative γ: folding through a max-pool would be wrong
            m.bias.data[:] = rng.normal(0, 0.3, k)
            m.running_mean.data[:] = rng.normal(0, 0.5, k)
            m.running_var.data[:] = rng.uniform(0.3, 3, k)
        if isinstance(m, nn.Linear):  # built at zero: give the head weights
            m.weight.data[:] = rng.normal(0, 0.5, m.weight.data.shape)
            if m.bias is not None:
                m.bias.data[:] = rng.normal(0, 0.1, m.bias.data.shape)
    net.eval()
    est.network_ = net
    return est


def _modules(m):
    yield m
    for child in getattr(m, "layers", []):
        yield from _modules(child)
    for name in ("body", "shortcut"):
        if getattr(m, name, None) is not None:
            yield from _modules(getattr(m, name))


LAYERS = {
    "conv": ("c6", {}),
    "conv_kernel5_stride2": ("c5k5s2-c4k1", {}),
    "maxpool": ("c4-p", {}),
    "maxpool_3": ("c4-p3", {}),
    "avgpool": ("c4-a", {}),
    "global_avg": ("c4-g", {}),
    "global_max": ("c4-m", {}),
    "residual": ("c4-r", {}),
    "block_conv_pool_bn": ("b6", {}),
    "gelu": ("c4-p", {"activation": "gelu"}),
    "tanh": ("c4-p", {"activation": "tanh"}),
    "sigmoid": ("c4-p", {"activation": "sigmoid"}),
    "leaky_relu": ("c4-p", {"activation": "leaky_relu"}),
    "dropout_is_identity": ("c4-g", {"dropout": 0.5}),
    "no_tta": ("c4-p", {"tta": False}),
    "tta_shift": ("c4-p", {"tta_shift": 2}),
    "whitening_stem_and_scaled_head": ("w-b6-h9", {}),
    # airbench94's shape at small widths on 32×32: stem, blocks, max-pool 3, head ÷ 9, the
    # multicrop test-time views (flips and 1-pixel shifts)
    "airbench94_shape": ("w2-b6-b8-b8-p3-h9", {"tta_shift": 1, "shape": (32, 32, 3)}),
}


@pytest.mark.parametrize("fold", [True, False], ids=["bn_folded", "bn_node"])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_each_layer_type_agrees_with_onnxruntime(layer, fold, rng):
    arch, params = LAYERS[layer]
    params = dict(params)
    shape = params.pop("shape", (12, 10, 3))
    est = fitted_cnn(arch, shape, 4, rng, **params)
    x = rng.integers(0, 256, (9, *shape), dtype=np.uint8)
    model = assert_agrees(est, x, fold_batchnorm=fold)
    ops = {n.op_type for n in model.graph.node}
    assert ("BatchNormalization" in ops) == (not fold)
    if layer == "dropout_is_identity":
        assert "Dropout" not in ops


def test_greyscale_cnn_exports(rng):
    est = fitted_cnn("c4-p-c6-p-g", (28, 28, 1), 10, rng)
    x = rng.integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    model = assert_agrees(est, x)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    assert dims == [28, 28, 1]


TOKENS = st.sampled_from(["c3", "c5", "c4k5", "c4s2", "c4k1", "p", "a", "r", "b4"])


@settings(max_examples=12, deadline=None)
@given(
    stem=st.sampled_from(["", "w-"]),
    body=st.lists(TOKENS, min_size=1, max_size=4),
    end=st.sampled_from(["", "-g", "-m", "-h3"]),
    side=st.integers(8, 16),
    channels=st.sampled_from([1, 3]),
    activation=st.sampled_from(["relu", "gelu", "leaky_relu", "tanh"]),
    tta_shift=st.integers(0, 2),
    fold=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_drawn_cnn_specs_agree_with_onnxruntime(
    stem, body, end, side, channels, activation, tta_shift, fold, seed
):
    arch = stem + "-".join(body) + end
    shape = (side, side + 1, channels)
    try:
        cnn_arch.plan(arch, shape, 3)
    except ValueError:
        return  # a spec that shrinks the map below 1×1 is refused at fit, not exported
    rng = np.random.default_rng(seed)
    est = fitted_cnn(arch, shape, 3, rng, activation=activation, tta_shift=tta_shift)
    x = rng.integers(0, 256, (4, *shape), dtype=np.uint8)
    assert_agrees(est, x, fold_batchnorm=fold)


def test_export_classifier_writes_a_loadable_file(tmp_path, rng):
    est = fitted_cnn("c4-p-g", (8, 8, 3), 3, rng)
    est.save(tmp_path / "m.safetensors")
    out = export_classifier(tmp_path / "m.safetensors", tmp_path / "m.onnx")
    x = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    probs, _ = run_onnx(out.read_bytes(), x)
    np.testing.assert_allclose(probs, est.predict_proba(x), atol=TOL, rtol=0)


def test_export_flags_keep_batchnorm_and_float_input(tmp_path, rng):
    est = fitted_cnn("c4-p-g", (8, 8, 3), 3, rng)
    est.save(tmp_path / "m.safetensors")
    out = tmp_path / "m.onnx"
    r = vedere(
        "export", tmp_path / "m.safetensors", out, "--keep-batchnorm", "--input-type", "float32"
    )
    assert r.returncode == 0, r.stderr
    model = onnx.load(str(out))
    assert "BatchNormalization" in {n.op_type for n in model.graph.node}
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    x = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    probs, _ = run_onnx(model, x.astype(np.float32))
    np.testing.assert_allclose(probs, est.predict_proba(x), atol=TOL, rtol=0)
    r = vedere("export", tmp_path / "m.safetensors", tmp_path / "m.bin")
    assert r.returncode != 0 and "name it .onnx" in r.stderr
