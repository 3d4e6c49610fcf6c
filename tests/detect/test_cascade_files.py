"""Cascade files as hostile input: every number checked before the compiled scan sees it,
size caps, XML without DTDs or entities in any encoding, and a fuzz test of both parsers."""

import json
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vedere.detect.cascade import MAX_BYTES, Cascade, CascadeFileError, load_cascade, parse_cascade
from vedere.detect.opencv_xml import opencv_cascade_path
from vedere.detect.rect_features import RectFeatures


def tiny() -> dict:
    """A valid two-stage cascade over a 24x24 window (as a vedere JSON document)."""
    return {
        "format": "vedere-cascade",
        "version": 1,
        "window": [24, 24],
        "features": [
            [[0, 0, 12, 24, -1.0], [12, 0, 12, 24, 1.0]],
            [[2, 4, 20, 6, -1.0], [2, 10, 20, 6, 2.0]],
        ],
        "stages": [
            {"threshold": -0.5, "stumps": [[0, 0.01, -1.0, 1.0], [1, -0.02, 0.5, -0.5]]},
            {"threshold": 0.1, "stumps": [[1, 0.03, -0.25, 0.75]]},
        ],
        "meta": {},
    }


def with_rect(rect: list, window=(24, 24)) -> dict:
    d = tiny()
    d["window"] = list(window)
    d["features"][0][0] = rect
    return d


def xml_of(d: dict) -> bytes:
    return Cascade.from_dict(d).to_xml()


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rect", "problem"),
    [
        ([2147483647, 0, 1, 24, -1.0], "x must be in [0, 23]"),  # x + w wraps in int32
        ([0, 2147483647, 12, 1, -1.0], "y must be in [0, 23]"),
        ([0, 0, 2**40, 24, -1.0], "w must be in [1, 24]"),
        ([0, 0, 12, -(2**40), -1.0], "h must be in [1, 24]"),
        ([0, 0, 12.5, 24, -1.0], "w must be an integer"),
        ([0, 0, 12, 24, 1e300], "weight must be a finite float32"),
        ([0, 0, True, 24, 1.0], "w must be an integer"),
        (["0", 0, 12, 24, 1.0], "x must be an integer"),
    ],
)
def test_rectangles_are_checked_as_python_numbers(rect, problem):
    with pytest.raises(CascadeFileError, match=re.escape(problem)):
        parse_cascade(json.dumps(with_rect(rect)).encode(), "c.json")
    if isinstance(rect[0], int) and not isinstance(rect[2], bool):  # the same in XML
        text = (
            xml_of(tiny()).decode().replace("<_>0 0 12 24 ", "<_>{} {} {} {} ".format(*rect[:4]), 1)
        )
        text = text.replace("-1.0</_>", f"{rect[4]!r}</_>", 1)
        with pytest.raises(CascadeFileError, match=re.escape(problem)):
            parse_cascade(text.encode(), "c.xml")


def test_xml_numbers_out_of_range_are_clear_errors():
    good = xml_of(tiny()).decode()
    cases = {
        "stageNum": (
            good.replace("<stageNum>2</stageNum>", "<stageNum>1e400</stageNum>"),
            "2 stages",
        ),
        "feature": (good.replace("0 -1 1 ", "0 -1 1e300 ", 1), "feature index must be in"),
        "rect": (good.replace("<_>0 0 12 24 ", "<_>0 0 1099511627776 24 ", 1), "w must be in"),
        "x": (good.replace("<_>0 0 12 24 ", "<_>2147483647 0 1 24 ", 1), "x must be in"),
        "height": (good.replace("<height>24</height>", "<height>1e400</height>"), "height must be"),
        "nan": (good.replace("<stageThreshold>-0.5", "<stageThreshold>nan"), "must hold numbers"),
        "digits": (good.replace("0 -1 1 ", "0 -1 " + "9" * 5000 + " ", 1), "must hold numbers"),
    }
    for name, (text, problem) in cases.items():
        assert text != good, name
        with pytest.raises(CascadeFileError, match=problem) as err:
            parse_cascade(text.encode(), f"{name}.xml")
        assert f"{name}.xml" in str(err.value)


def test_json_feature_index_and_window_out_of_range():
    d = tiny()
    d["stages"][0]["stumps"][0][0] = 1e300
    with pytest.raises(CascadeFileError, match="feature index must be in"):
        parse_cascade(json.dumps(d).encode(), "f.json")
    d = tiny()
    d["window"] = [24, 2**40]
    with pytest.raises(CascadeFileError, match="window width must be in"):
        parse_cascade(json.dumps(d).encode(), "w.json")


def test_a_json_cascade_without_stages_is_refused_as_the_xml_reader_does():
    # found by the fuzz test: an empty cascade would accept every window
    d = tiny()
    d["stages"] = []
    with pytest.raises(CascadeFileError, match=r"e\.json.*no stages"):
        parse_cascade(json.dumps(d).encode(), "e.json")


def test_the_api_refuses_rectangles_that_wrap_in_int32():
    rects = np.array([[[2147483647, 0, 1, 24], [0, 0, 0, 0], [0, 0, 0, 0]]], dtype=np.int64)
    weights = np.array([[1.0, 0, 0]], dtype=np.float32)
    with pytest.raises(ValueError, match="outside the 24x24 window"):
        Cascade((24, 24), RectFeatures(rects, weights), [0], [0.0], [1.0], [0.0], [1], [0.0])
    with pytest.raises(ValueError, match="int32"):
        RectFeatures(rects + 2**32, weights)


# --- sizes -----------------------------------------------------------------------------------


def test_json_cascades_have_the_size_cap_of_xml(tmp_path):
    d = tiny()
    d["meta"] = {"pad": "x" * MAX_BYTES}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(d))
    with pytest.raises(CascadeFileError, match=re.escape("big.json: refused: file of")) as err:
        load_cascade(path)
    assert f"{MAX_BYTES:,}" in str(err.value)
    (tmp_path / "big.xml").write_bytes(b"<opencv_storage>" + b" " * MAX_BYTES)
    with pytest.raises(CascadeFileError, match=re.escape("big.xml: refused")):
        load_cascade(tmp_path / "big.xml")


def test_json_nesting_and_non_finite_numbers_are_refused(tmp_path):
    deep = b'{"format": "vedere-cascade", "meta": ' + b"[" * 10000 + b"]" * 10000 + b"}"
    with pytest.raises(CascadeFileError, match="deep"):
        parse_cascade(deep, "deep.json")
    text = json.dumps(tiny()).replace("-0.5", "1e400", 1)
    with pytest.raises(CascadeFileError, match="out of range"):
        parse_cascade(text.encode(), "inf.json")


# --- XML: no DTD, no entities, whatever the encoding ----------------------------------------


def with_entity(d: dict) -> str:
    """The cascade's XML with an internal entity used for its window height."""
    text = xml_of(d).decode()
    text = text.replace('<?xml version="1.0"?>\n', "")
    text = text.replace("<height>24</height>", "<height>&h;</height>")
    return '<!DOCTYPE opencv_storage [<!ENTITY h "24">]>\n' + text


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("utf-16-le", b""),
        ("utf-16-be", b""),
        ("utf-32-le", b"\xff\xfe\x00\x00"),
        ("utf-32-be", b"\x00\x00\xfe\xff"),
    ],
)
def test_dtds_and_entities_are_refused_in_every_encoding(tmp_path, codec, bom):
    name = codec.split("-le")[0].split("-be")[0].upper()
    decl = f'<?xml version="1.0" encoding="{name}"?>\n'
    data = bom + (decl + with_entity(tiny())).encode(codec)
    path = tmp_path / f"dtd-{codec}.xml"
    path.write_bytes(data)
    with pytest.raises(CascadeFileError) as err:
        load_cascade(path)
    msg = str(err.value)
    assert path.name in msg
    if not codec.startswith("utf-32"):  # expat cannot read UTF-32 at all: refused unparsed
        assert "DTD" in msg, msg


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le"])
def test_cascades_without_dtd_load_in_any_encoding_expat_reads(codec):
    d = tiny()
    name = "UTF-16" if codec.startswith("utf-16") else "UTF-8"
    text = (
        xml_of(d)
        .decode()
        .replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{name}"?>')
    )
    c = parse_cascade(text.encode(codec), "ok.xml")
    assert c.to_dict()["stages"] == Cascade.from_dict(d).to_dict()["stages"]


# --- fuzz ------------------------------------------------------------------------------------

LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.integers(-3, 30), max_size=6),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _set(node, path, value):
    if not path:
        return value
    node[path[0]] = _set(node[path[0]], path[1:], value)
    return node


PATHS = list(_paths(tiny()))


def _parse_or_refuse(data: bytes, name: str) -> None:
    try:
        c = parse_cascade(data, name)
    except CascadeFileError as e:
        assert name in str(e)
        return
    # what is accepted is a valid cascade the scan can run: everything inside the window
    h, w = c.window
    used = c.features.weights != 0
    r = c.features.rects.astype(np.int64)
    assert (r[..., 0][used] + r[..., 2][used] <= w).all()
    assert (r[..., 1][used] + r[..., 3][used] <= h).all()
    assert 0 <= c.feature.min() and c.feature.max() < len(c.features)
    assert all(math.isfinite(v) for v in c.threshold.tolist() + c.stage_threshold.tolist())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), LEAF), min_size=1, max_size=4))
def test_fuzz_json_cascades_only_ever_raise_cascade_file_error(edits):
    d = tiny()
    for path, value in edits:
        try:
            d = _set(d, path, value)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier edit replaced the path's parent
    _parse_or_refuse(json.dumps(d).encode(), "fuzz.json")


TOKEN = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(repr),
    st.sampled_from(["", "1e400", "-1e400", "nan", "inf", "0x10", "1_0", "&x;", "<", "]]>"]),
    st.text(max_size=4),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_xml_cascades_only_ever_raise_cascade_file_error(data):
    tokens = xml_of(tiny()).decode().split(" ")
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(tokens) - 1))
        tokens[i] = data.draw(TOKEN)
    text = " ".join(tokens)
    cut = data.draw(st.integers(0, len(text)))
    if data.draw(st.booleans()):
        text = text[:cut]
    _parse_or_refuse(text.encode("utf-8", "surrogatepass"), "fuzz.xml")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data):
    _parse_or_refuse(data, "bytes.bin")
    _parse_or_refuse(b"<" + data, "bytes.xml")
    _parse_or_refuse(b"{" + data, "bytes.json")


def test_stock_cascade_still_loads():
    c = load_cascade(opencv_cascade_path("frontalface_default"))
    assert c.n_stages == 25 and len(c.feature) == 2913
