"""Fuzzing the model-file parser: a real small classifier file, its bytes or its JSON mutated,
only ever loads correctly or raises ModelFileError (issue 12)."""

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vedere.nn as nn
from vedere.classify import load_classifier
from vedere.nn import ModelFileError, tensor_file


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    net = nn.mlp([4, 3, 3], dropout=0.2, rng=0)
    extra = {
        "estimator": "MLPClassifier",
        "params": {"hidden_sizes": [3], "epochs": 2},
        "classes": ["ant", "bee", "cat"],
        "classes_dtype": "<U3",
        "preprocess": {"kind": "vector", "shape": [4], "mean": [0.0] * 4, "std": [1.0] * 4},
    }
    path = nn.save(net, tmp_path_factory.mktemp("fuzz") / "m.safetensors", extra=extra)
    return path.read_bytes()


def load_or_refuse(tmp_path, data: bytes) -> None:
    path = tmp_path / "fuzzed.safetensors"
    path.write_bytes(data)
    try:
        est = load_classifier(path)
    except ModelFileError as e:
        assert str(e).startswith(str(path) + ": ")
        return
    # a file that loads is a working classifier
    proba = est.predict_proba(np.zeros((2, est.n_features_in_)))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(data=st.data())
def test_mutated_bytes(tmp_path, model_bytes, data):
    raw = bytearray(model_bytes)
    edits = data.draw(
        st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), max_size=6)
    )
    for i, v in edits:
        raw[i] = v
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
    if cut is not None:
        raw = raw[:cut]
    load_or_refuse(tmp_path, bytes(raw))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["Linear", "ReLU", "Sequential", "image", "vector", "<U3", "<i8", "F32"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _replace(doc, path, value):
    """``doc`` with the node reached by the indices ``path`` replaced by ``value``."""
    if not path or not isinstance(doc, (dict, list)) or not doc:
        return value
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    k = keys[path[0] % len(keys)]
    out = dict(doc) if isinstance(doc, dict) else list(doc)
    out[k] = _replace(doc[k], path[1:], value)
    return out


@FUZZ
@given(
    field=st.sampled_from(["architecture", "extra"]),
    path=st.lists(st.integers(0, 50), max_size=6),
    value=JSON,
    recompute_digest=st.booleans(),
)
def test_mutated_json_fields(tmp_path, model_bytes, field, path, value, recompute_digest):
    # the mutated field is written back with a correct checksum, so the parser gets past it
    (n,) = struct.unpack("<Q", model_bytes[:8])
    header = json.loads(model_bytes[8 : 8 + n])
    meta = header["__metadata__"]
    doc = json.loads(meta[f"vedere.{field}"])
    meta[f"vedere.{field}"] = json.dumps(_replace(doc, path, value))
    raw = json.dumps(header).encode()
    load_or_refuse(tmp_path, struct.pack("<Q", len(raw)) + raw + model_bytes[8 + n :])


@FUZZ
@given(path=st.lists(st.integers(0, 50), max_size=4), value=JSON)
def test_mutated_tensor_table(tmp_path, model_bytes, path, value):
    (n,) = struct.unpack("<Q", model_bytes[:8])
    header = json.loads(model_bytes[8 : 8 + n])
    meta = header.pop("__metadata__")
    header = _replace(header, path, value)
    if isinstance(header, dict):
        header["__metadata__"] = meta
    raw = json.dumps(header).encode()
    load_or_refuse(tmp_path, struct.pack("<Q", len(raw)) + raw + model_bytes[8 + n :])


def test_the_fuzzed_file_loads_unmutated(tmp_path, model_bytes):
    path = tmp_path / "m.safetensors"
    path.write_bytes(model_bytes)
    assert load_classifier(path).classes_.tolist() == ["ant", "bee", "cat"]
    assert tensor_file.MAX_FILE_BYTES > len(model_bytes)
