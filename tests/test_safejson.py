import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vedere import safejson

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trips_what_json_dumps_writes(value):
    assert safejson.loads(json.dumps(value)) == json.loads(json.dumps(value))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_value_or_a_jsonerror(data):
    try:
        safejson.loads(data)
    except safejson.JSONError:
        pass


@pytest.mark.parametrize(
    "doc, words",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("[" * 70 + "]" * 70, "nested too deeply"),
        ("1" * 5000, "digits"),
        ("1e400", "out of range"),
        ("NaN", "not allowed"),
        ("[Infinity]", "not allowed"),
        ('{"a": ', "malformed"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_hostile_documents_are_refused_with_a_reason(doc, words):
    with pytest.raises(safejson.JSONError, match=words):
        safejson.loads(doc)


def test_size_is_checked_before_parsing():
    with pytest.raises(safejson.JSONError, match="at most 10"):
        safejson.loads("[" + "1," * 20 + "1]", max_bytes=10)


def test_read_refuses_non_regular_files(tmp_path):
    fifo = tmp_path / "f.json"
    os.mkfifo(fifo)
    with pytest.raises(safejson.JSONError, match="regular file"):
        safejson.read(fifo)  # would block forever if it were opened
    with pytest.raises(safejson.JSONError, match="regular file"):
        safejson.read("/dev/zero")
    big = tmp_path / "big.json"
    big.write_text("[" + "0," * 100 + "0]")
    with pytest.raises(safejson.JSONError, match="at most 50"):
        safejson.read(big, max_bytes=50)
    ok = tmp_path / "ok.json"
    ok.write_text('{"a": [1, 2.5, "x"]}')
    assert safejson.read(ok) == {"a": [1, 2.5, "x"]}
