"""Model files: round trip, and refusal of truncated, tampered or mismatched files."""

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save_file

import vedere.nn as nn
from tests.helpers import safetensors_header, write_model_file
from vedere.nn import ModelFileError


@pytest.fixture
def model():
    return nn.mlp([6, 5, 4, 3], activation="tanh", dropout=0.1, rng=2)


def test_round_trip(tmp_path, model, rng):
    path = nn.save(model, tmp_path / "m.safetensors", extra={"classes": ["a", "b", "c"]})
    loaded, extra = nn.load_with_extra(path)
    assert extra == {"classes": ["a", "b", "c"]}
    assert repr(loaded) == repr(model)
    assert not loaded.training  # loaded for inference
    x = rng.standard_normal((4, 6)).astype(np.float32)
    model.eval()
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left


def test_file_is_plain_safetensors_with_json_metadata(tmp_path, model):
    path = nn.save(model, tmp_path / "m.safetensors")
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    arch = json.loads(header["__metadata__"]["vedere.architecture"])
    assert arch["type"] == "Sequential" and arch["config"]["layers"][0]["type"] == "Linear"
    assert header["0.weight"]["shape"] == [5, 6] and header["0.weight"]["dtype"] == "F32"


def test_truncated_file_is_refused(tmp_path, model):
    path = nn.save(model, tmp_path / "m.safetensors")
    data = path.read_bytes()
    for cut in (0, 5, 40, len(data) - 7):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=rf"cut{cut}\.safetensors: .*(truncated|corrupt)"):
            nn.load(bad)


def test_tampered_weights_are_refused(tmp_path, model):
    path = nn.save(model, tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # flip one bit of the last weight
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        nn.load(path)


def test_tampered_architecture_is_refused(tmp_path, model):
    path = nn.save(model, tmp_path / "m.safetensors")
    raw = path.read_bytes()
    patched = raw.replace(b'\\"out_features\\": 5', b'\\"out_features\\": 9')
    assert patched != raw
    path.write_bytes(patched)
    with pytest.raises(ModelFileError, match=r"0.weight has shape"):
        nn.load(path)


def test_foreign_safetensors_and_garbage_are_refused(tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3, dtype=np.float32)}, str(other))
    with pytest.raises(ModelFileError, match="not a vedere model file"):
        nn.load(other)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ModelFileError, match=r"junk\.safetensors: corrupt header"):
        nn.load(junk)
    with pytest.raises(ModelFileError, match="no such file"):
        nn.load(tmp_path / "missing.safetensors")


def test_pickle_is_never_loaded(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ModelFileError):
        nn.load(evil)


def test_load_weights_into_mismatched_architecture(tmp_path, model):
    path = nn.save(model, tmp_path / "m.safetensors")
    other = nn.mlp([6, 7, 3], rng=0)
    with pytest.raises(ModelFileError, match="architecture mismatch"):
        nn.load_weights(other, path)
    same = nn.mlp([6, 5, 4, 3], activation="tanh", dropout=0.1, rng=99)
    nn.load_weights(same, path)
    for (_, p), (_, q) in zip(same.named_parameters(), model.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_failed_save_leaves_previous_file_intact(tmp_path, model):
    path = nn.save(model, tmp_path / "m.safetensors")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="JSON-serialisable"):
        nn.save(model, path, extra={"bad": object()})

    class Exploding(nn.Sequential):
        def get_config(self):
            raise RuntimeError("disk full, say")

    with pytest.raises(RuntimeError):
        nn.save(Exploding(nn.Linear(6, 3)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_float64_round_trip(tmp_path):
    m = nn.mlp([3, 2], dtype="float64")
    loaded = nn.load(nn.save(m, tmp_path / "m64.safetensors"))
    assert loaded.dtype == np.float64


# -- half precision storage --------------------------------------------------------------------
def test_half_storage_halves_the_file_and_rounds_each_weight_as_ieee_float16(tmp_path, rng):
    torch = pytest.importorskip("torch")
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, rng=0), nn.BatchNorm2d(8), nn.ReLU())
    m.layers[1].running_mean.data[:] = rng.standard_normal(8)  # buffers keep their dtype
    full = nn.save(m, tmp_path / "full.safetensors")
    half = nn.save(m, tmp_path / "half.safetensors", precision="float16")
    header = safetensors_header(half)
    assert header["0.weight"]["dtype"] == "F16" and header["1.running_mean"]["dtype"] == "F32"
    n = sum(p.data.size for _, p in m.named_parameters())
    assert 0 <= full.stat().st_size - half.stat().st_size - 2 * n < 16  # 2 bytes less a weight
    loaded = nn.load(half)
    for (name, p), (_, q) in zip(m.named_parameters(), loaded.named_parameters(), strict=True):
        assert q.data.dtype == np.float32, name
        oracle = torch.from_numpy(p.data).half().float().numpy()  # PyTorch's rounding
        np.testing.assert_array_equal(q.data, oracle)
    np.testing.assert_array_equal(loaded.layers[1].running_mean.data, m.layers[1].running_mean.data)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    m.eval()
    np.testing.assert_allclose(loaded.forward(x), m.forward(x), rtol=2e-3, atol=2e-3)


def test_a_weight_beyond_float16_range_is_not_saved_half(tmp_path):
    m = nn.mlp([3, 2], rng=0)
    m.layers[0].weight.data[0, 1] = 7e4
    with pytest.raises(ValueError, match=r"weight 0\.weight has values beyond ±65504"):
        nn.save(m, tmp_path / "m.safetensors", precision="float16")
    assert list(tmp_path.iterdir()) == []


def test_float16_is_admitted_only_for_float32_parameters(tmp_path):
    bn = nn.Sequential(nn.BatchNorm1d(2))
    tensors = {n: a.data for n, a in [*bn.named_parameters(), *bn.named_buffers()]}
    arch = {"type": "Sequential", "config": bn.get_config()}
    tensors["0.running_var"] = tensors["0.running_var"].astype(np.float16)
    with pytest.raises(ModelFileError, match=r"bn16\.safetensors: weight 0\.running_var .*float16"):
        nn.load(write_model_file(tmp_path / "bn16.safetensors", tensors, arch))
    m64 = nn.mlp([3, 2], dtype="float64")
    tensors = {n: p.data.astype(np.float16) for n, p in m64.named_parameters()}
    with pytest.raises(ModelFileError, match=r"m16\.safetensors: weight 0\.weight .*float64"):
        nn.load(
            write_model_file(
                tmp_path / "m16.safetensors",
                tensors,
                {"type": "Sequential", "config": m64.get_config()},
            )
        )
