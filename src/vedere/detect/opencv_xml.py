"""OpenCV's Haar cascade XML files, translated to and from vedere's cascade document (the
dict :meth:`vedere.detect.cascade.Cascade.from_dict` reads and ``to_dict`` writes); this module
knows nothing of :class:`~vedere.detect.cascade.Cascade` itself, which validates every number.

The format is the one ``opencv_traincascade`` writes and OpenCV 3/4 ship
(``haarcascade_frontalface_default.xml``)::

    <opencv_storage><cascade>
      <stageType>BOOST</stageType> <featureType>HAAR</featureType>
      <height>24</height> <width>24</width> … <stageNum>S</stageNum>
      <stages><_>
        <maxWeakCount>k</maxWeakCount> <stageThreshold>t</stageThreshold>
        <weakClassifiers><_>
          <internalNodes>0 -1 FEATURE THRESHOLD</internalNodes>
          <leafValues>LEFT RIGHT</leafValues></_> …</weakClassifiers></_> …</stages>
      <features><_><rects><_>x y w h weight</_> …</rects></_> …</features>
    </cascade></opencv_storage>

Supported: stump weak classifiers (one internal node) over upright Haar features — every
stump cascade OpenCV ships for faces (``frontalface_default``, ``frontalface_alt``,
``profileface``, …). Refused with a clear message: tree weak classifiers
(``frontalface_alt2``), Lienhart's tilted features, LBP/HOG cascades and the pre-2.0
``opencv-haar-classifier`` layout. Parsed with :mod:`defusedxml`, which refuses any DTD,
entity declaration or external reference whatever the document's encoding (UTF-8, UTF-16
with or without a byte-order mark, …); numbers are plain decimal literals only.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Protocol

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_MAX_TOKEN = 64
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff")


def looks_like_xml(data: bytes) -> bool:
    """Whether ``data`` starts (after a byte-order mark, blanks and the NUL bytes of UTF-16 or
    UTF-32) with ``<``."""
    head = data[:256]
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    return head.replace(b"\x00", b"").lstrip()[:1] == b"<"


def _token(t: str, what: str) -> int | float:
    if len(t) > _MAX_TOKEN or not _NUMBER.fullmatch(t):
        shown = t if len(t) <= 40 else t[:37] + "..."
        raise ValueError(f"<{what}> must hold numbers, got {shown!r}")
    return int(t) if _INTEGER.fullmatch(t) else float(t)  # float("1e400") is inf: checked later


def _numbers(el: ET.Element | None, what: str) -> list[int | float]:
    if el is None or el.text is None:
        raise ValueError(f"missing <{what}>")
    return [_token(t, what) for t in el.text.split()]


def _one(el: ET.Element | None, what: str) -> int | float:
    vals = _numbers(el, what)
    if len(vals) != 1:
        raise ValueError(f"<{what}> must hold one number")
    return vals[0]


def xml_to_dict(data: bytes) -> dict[str, Any]:
    """An OpenCV Haar cascade (the bytes of the file) as a vedere cascade document, its numbers
    as parsed (unchecked: ``Cascade.from_dict`` checks them). Raises ValueError."""
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise ValueError("refused: XML with a DTD or entity declarations") from None
    except ET.ParseError as e:
        raise ValueError(f"not well-formed XML ({e})") from None
    except (LookupError, UnicodeError) as e:  # an encoding Python or expat cannot decode
        raise ValueError(f"not well-formed XML ({e})") from None
    return _parse(root)


def _parse(root: ET.Element) -> dict[str, Any]:
    node = root if root.find("stages") is not None else None
    if node is None:
        for child in root:
            if child.find("stages") is not None:
                node = child
                break
    if node is None:
        raise ValueError("no cascade with <stages> in this XML file")
    if node.get("type_id") == "opencv-haar-classifier" or node.find("size") is not None:
        raise ValueError(
            "old-style (opencv-haar-classifier) cascades are not supported; "
            "use a cascade in the opencv_traincascade format"
        )
    stage_type = (node.findtext("stageType") or "").strip()
    feature_type = (node.findtext("featureType") or "").strip()
    if stage_type != "BOOST":
        raise ValueError(f"stageType must be BOOST, got {stage_type[:40]!r}")
    if feature_type != "HAAR":
        raise ValueError(f"only HAAR cascades are supported, got featureType {feature_type[:40]!r}")
    height, width = _one(node.find("height"), "height"), _one(node.find("width"), "width")

    feats_el = node.find("features")
    if feats_el is None:
        raise ValueError("missing <features>")
    features = []
    for f, fel in enumerate(feats_el.findall("_")):
        tilted = fel.findtext("tilted")
        if tilted is not None and tilted.strip() not in ("0", ""):
            raise ValueError(f"feature {f} is tilted (45°); tilted features are not supported")
        rs = fel.find("rects")
        items = [] if rs is None else rs.findall("_")
        if not 1 <= len(items) <= 3:
            raise ValueError(f"feature {f} must have 1 to 3 rectangles, has {len(items)}")
        rects = []
        for r, it in enumerate(items):
            v = _numbers(it, "rects/_")
            if len(v) != 5:
                raise ValueError(f"feature {f} rectangle {r} must be 'x y w h weight'")
            rects.append(v)
        features.append(rects)

    stages_el = node.find("stages")
    assert stages_el is not None
    stages = []
    for s, sel in enumerate(stages_el.findall("_")):
        threshold = _one(sel.find("stageThreshold"), "stageThreshold")
        weak = sel.find("weakClassifiers")
        items = [] if weak is None else weak.findall("_")
        if not items:
            raise ValueError(f"stage {s} has no weak classifiers")
        stumps = []
        for k, it in enumerate(items):
            nodes = _numbers(it.find("internalNodes"), "internalNodes")
            leaves = _numbers(it.find("leafValues"), "leafValues")
            if len(nodes) != 4 or len(leaves) != 2:
                raise ValueError(
                    f"stage {s} weak classifier {k} is a tree ({len(nodes) // 4} nodes); "
                    "only stump cascades are supported"
                )
            stumps.append([nodes[2], nodes[3], leaves[0], leaves[1]])
        stages.append({"threshold": threshold, "stumps": stumps})
    if not stages:
        raise ValueError("the cascade has no stages")
    declared = node.find("stageNum")
    if declared is not None and (declared.text or "").strip():
        n = _one(declared, "stageNum")
        if n != len(stages):  # compares ints and floats (even inf) without converting
            raise ValueError(
                f"<stageNum> says {declared.text.strip()[:40]} but {len(stages)} stages follow"
            )
    return {
        "format": "vedere-cascade",
        "version": 1,
        "window": [height, width],
        "features": features,
        "stages": stages,
        "meta": {"source": "opencv-xml"},
    }


class _HasDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def _f(v: float) -> str:
    return repr(float(v))


def to_xml(cascade: _HasDict) -> bytes:
    """A cascade (anything with vedere's ``to_dict``) in opencv_traincascade's XML format."""
    return dict_to_xml(cascade.to_dict())


def dict_to_xml(d: dict[str, Any]) -> bytes:
    """A vedere cascade document (``Cascade.to_dict()``, already validated) in
    opencv_traincascade's XML format, loadable by ``cv2.CascadeClassifier``."""
    height, width = (int(v) for v in d["window"])
    stages = d["stages"]
    out = ['<?xml version="1.0"?>', "<opencv_storage>"]
    out.append('<cascade type_id="opencv-cascade-classifier">')
    out.append("  <stageType>BOOST</stageType>")
    out.append("  <featureType>HAAR</featureType>")
    out.append(f"  <height>{height}</height>")
    out.append(f"  <width>{width}</width>")
    most = max((len(st["stumps"]) for st in stages), default=0)
    out.append("  <stageParams>")
    out.append("    <boostType>DAB</boostType>")
    out.append(f"    <maxWeakCount>{most}</maxWeakCount></stageParams>")
    out.append("  <featureParams>")
    out.append("    <maxCatCount>0</maxCatCount>")
    out.append("    <featSize>1</featSize>")
    out.append("    <mode>ALL</mode></featureParams>")
    out.append(f"  <stageNum>{len(stages)}</stageNum>")
    out.append("  <stages>")
    for stage in stages:
        out.append("    <_>")
        out.append(f"      <maxWeakCount>{len(stage['stumps'])}</maxWeakCount>")
        out.append(f"      <stageThreshold>{_f(stage['threshold'])}</stageThreshold>")
        out.append("      <weakClassifiers>")
        for feature, thr, left, right in stage["stumps"]:
            out.append("        <_>")
            out.append(f"          <internalNodes>0 -1 {int(feature)} {_f(thr)}</internalNodes>")
            out.append(f"          <leafValues>{_f(left)} {_f(right)}</leafValues></_>")
        out.append("      </weakClassifiers></_>")
    out.append("  </stages>")
    out.append("  <features>")
    for rects in d["features"]:
        out.append("    <_>")
        out.append("      <rects>")
        for x, y, w, h, wt in rects:
            if wt == 0:
                continue
            out.append(f"        <_>{int(x)} {int(y)} {int(w)} {int(h)} {_f(wt)}</_>")
        out.append("      </rects>")
        out.append("      <tilted>0</tilted></_>")
    out.append("  </features></cascade>")
    out.append("</opencv_storage>")
    return ("\n".join(out) + "\n").encode()


def opencv_cascade_path(name: str) -> Path:
    """Where an installed opencv-python keeps its stock cascade ``name`` (with or without
    the ``haarcascade_`` prefix and ``.xml``); raises FileNotFoundError naming what is
    missing. OpenCV's files are read in place, never copied into vedere."""
    try:
        import cv2  # type: ignore[import-not-found]
    except ImportError:
        raise FileNotFoundError(
            f"opencv:{name} needs opencv-python (pip install 'opencv-python-headless<5')"
        ) from None
    base = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or "")
    stem = name if name.startswith("haarcascade_") else f"haarcascade_{name}"
    path = base / (stem if stem.endswith(".xml") else f"{stem}.xml")
    if not path.is_file():
        raise FileNotFoundError(f"OpenCV has no cascade {name!r} (looked for {path})")
    return path
