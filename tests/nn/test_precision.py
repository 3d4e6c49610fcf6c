"""int8 model files (vedere.nn.precision): PyTorch's per-channel quantisation as the oracle,
and refusal of every forged combination of codes and scales."""

from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra.numpy import arrays

import vedere.nn as nn
from tests.helpers import safetensors_header, write_model_file
from vedere.nn import ModelFileError, tensor_file
from vedere.nn.precision import SCALE_SUFFIX


def _cnn(rng):
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, rng=0),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 5, rng=1),
    )
    m.layers[1].running_mean.data[:] = rng.standard_normal(8)
    m.layers[0].weight.data[2] = 0  # an all-zero output channel: scale 0, codes 0
    return m


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")  # deprecated, pinned
def test_int8_storage_equals_pytorch_per_channel_quantisation(tmp_path, rng):
    torch = pytest.importorskip("torch")
    m = _cnn(rng)
    full = nn.save(m, tmp_path / "full.safetensors")
    q8 = nn.save(m, tmp_path / "q8.safetensors", precision="int8")
    header = safetensors_header(q8)
    assert header["0.weight"]["dtype"] == "I8" and header["4.weight"]["dtype"] == "I8"
    scales = header["0.weight" + SCALE_SUFFIX]
    assert scales["dtype"] == "F32" and scales["shape"] == [8]
    assert header["1.weight"]["dtype"] == "F16"  # BatchNorm's γ: rank 1, float16
    assert header["1.running_mean"]["dtype"] == "F32"  # buffers keep their dtype
    big = m.layers[0].weight.data.size + m.layers[4].weight.data.size
    assert full.stat().st_size - q8.stat().st_size > 2.9 * big  # 3 bytes less a weight
    loaded = nn.load(q8)
    for name, layer in (("conv", 0), ("linear", 4)):
        w = m.layers[layer].weight.data
        rows = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127
        scales = torch.from_numpy(np.where(rows > 0, rows, 1.0).astype(np.float64))
        oracle = torch.quantize_per_channel(
            torch.from_numpy(w), scales, torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8
        )
        got = loaded.layers[layer].weight.data
        assert got.dtype == np.float32, name
        np.testing.assert_array_equal(
            np.round(got.reshape(w.shape[0], -1) / np.where(rows > 0, rows, 1)[:, None]),
            oracle.int_repr().numpy().reshape(w.shape[0], -1),
            err_msg=name,
        )
        np.testing.assert_allclose(got, oracle.dequantize().numpy(), rtol=1e-6, atol=1e-7)
        assert np.abs(got - w).max() <= rows.max() / 2 * (1 + 1e-5)  # ≤ s/2 per weight
    assert (loaded.layers[0].weight.data[2] == 0).all()
    np.testing.assert_array_equal(loaded.layers[1].running_mean.data, m.layers[1].running_mean.data)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    m.eval()
    np.testing.assert_allclose(loaded.forward(x), m.forward(x), atol=0.05)


def test_int8_needs_finite_weights_and_a_known_precision(tmp_path):
    m = nn.mlp([3, 2], rng=0)
    m.layers[0].weight.data[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"weight 0\.weight contains NaN or inf"):
        nn.save(m, tmp_path / "m.safetensors", precision="int8")
    with pytest.raises(ValueError, match=r"precision must be one of float32, float16, int8"):
        nn.save(nn.mlp([3, 2], rng=0), tmp_path / "m.safetensors", precision="int4")
    assert list(tmp_path.iterdir()) == []


def test_a_float64_model_keeps_its_precision(tmp_path):
    m = nn.mlp([3, 2], dtype="float64", rng=0)
    path = nn.save(m, tmp_path / "m.safetensors", precision="int8")
    assert safetensors_header(path)["0.weight"]["dtype"] == "F64"
    np.testing.assert_array_equal(nn.load(path).layers[0].weight.data, m.layers[0].weight.data)


@pytest.fixture
def forged(tmp_path):
    """A valid int8 MLP 4-3-2 as tensors, and a function writing a tampered copy."""
    m = nn.Sequential(nn.Linear(4, 3, rng=0), nn.BatchNorm1d(3), nn.Linear(3, 2, rng=1))
    tensors = tensor_file.unpack(
        nn.save(m, tmp_path / "ok.safetensors", precision="int8"), "vedere.model"
    )[0]
    arch = {"type": "Sequential", "config": m.get_config()}

    def write(name, **changes):
        t = {k: v for k, v in {**tensors, **changes}.items() if v is not None}
        return write_model_file(tmp_path / name, t, arch)

    return tensors, write


S = SCALE_SUFFIX


@pytest.mark.parametrize(
    "change, message",
    [
        ({"0.weight" + S: None}, r"int8 weight 0\.weight has no \.int8_scale tensor"),
        ({"0.weight" + S: np.ones(4, np.float32)}, r"scales of int8 weight 0\.weight are \(4,\)"),
        ({"0.weight" + S: np.ones(3, np.float16)}, r"scales of int8 weight 0\.weight .*float16"),
        ({"0.bias" + S: np.ones(3, np.float32)}, r"0\.bias\.int8_scale scales no int8 weight"),
        ({"9.weight" + S: np.ones(3, np.float32)}, r"9\.weight\.int8_scale scales no int8 weight"),
        ({"0.weight" + S: np.array([1, -1, 1], np.float32)}, r"scales of weight 0\.weight must"),
        ({"0.weight" + S: np.array([1, np.inf, 1], np.float32)}, r"scales of weight 0\.weight"),
        ({"0.bias": np.ones(3, np.int8)}, r"int8 tensor 0\.bias has rank 1"),
        ({"1.running_var": np.ones((3, 1), np.int8), "1.running_var" + S: np.ones(3, np.float32)},
         r"weight 1\.running_var has shape \(3, 1\) int8"),
    ],
)  # fmt: skip
def test_forged_int8_files_are_refused_naming_the_file(forged, change, message):
    _, write = forged
    with pytest.raises(ModelFileError, match=r"bad\.safetensors: (the )?" + message):
        nn.load(write("bad.safetensors", **change))


def test_int8_weights_are_refused_for_a_float64_model(tmp_path):
    m = nn.mlp([3, 2], dtype="float64", rng=0)
    w = m.layers[0].weight.data
    tensors = {"0.weight": np.ones(w.shape, np.int8), "0.weight" + S: np.ones(2, np.float32)}
    tensors["0.bias"] = m.layers[0].bias.data
    arch = {"type": "Sequential", "config": m.get_config()}
    path = write_model_file(tmp_path / "m64.safetensors", tensors, arch)
    with pytest.raises(
        ModelFileError, match=r"m64\.safetensors: weight 0\.weight .* int8, .*float64"
    ):
        nn.load(path)


@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.integers(1, 9)),
        elements=st.floats(-1e4, 1e4, width=32),
    )
)
def test_int8_round_trip_is_within_half_a_step_of_each_channel(w):
    from vedere.nn.precision import decoded, encoded

    t = encoded("w", w, "int8")
    q, s = t["w"], t["w" + SCALE_SUFFIX]
    assert q.dtype == np.int8 and np.abs(q.astype(int)).max() <= 127
    np.testing.assert_allclose(s, np.abs(w).max(axis=1) / 127, rtol=1e-6)
    back = decoded(Path("w"), "w", q, s)
    assert (np.abs(back - w) <= s[:, None] / 2 * (1 + 1e-5) + 1e-30).all()
