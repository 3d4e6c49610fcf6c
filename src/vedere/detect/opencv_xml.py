"""OpenCV's Haar cascade XML files: read them into a :class:`~vedere.detect.cascade.Cascade`
and write ours in the same format.

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
``opencv-haar-classifier`` layout. Documents with a DTD or entities are refused before
parsing (no entity expansion).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from vedere.detect.cascade import Cascade, CascadeFileError
from vedere.detect.rect_features import RectFeatures

MAX_BYTES = 64 * 2**20


def _numbers(el: ET.Element | None, what: str) -> list[float]:
    if el is None or el.text is None:
        raise ValueError(f"missing <{what}>")
    try:
        return [float(t) for t in el.text.split()]
    except ValueError:
        raise ValueError(f"<{what}> must hold numbers, got {el.text.strip()[:40]!r}") from None


def _int(el: ET.Element | None, what: str) -> int:
    vals = _numbers(el, what)
    if len(vals) != 1 or vals[0] != int(vals[0]):
        raise ValueError(f"<{what}> must be one integer")
    return int(vals[0])


def from_xml(data: bytes, path: str | os.PathLike[str] = "<xml>") -> Cascade:
    """Parse an OpenCV Haar cascade (bytes of the file); errors name ``path``."""
    if len(data) > MAX_BYTES:
        raise CascadeFileError(path, f"refused: larger than {MAX_BYTES // 2**20} MiB")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise CascadeFileError(path, "refused: XML with a DTD or entity declarations")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise CascadeFileError(path, f"not well-formed XML ({e})") from None
    try:
        return _parse(root)
    except ValueError as e:
        raise CascadeFileError(path, str(e)) from None


def _parse(root: ET.Element) -> Cascade:
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
        raise ValueError(f"stageType must be BOOST, got {stage_type!r}")
    if feature_type != "HAAR":
        raise ValueError(f"only HAAR cascades are supported, got featureType {feature_type!r}")
    height, width = _int(node.find("height"), "height"), _int(node.find("width"), "width")

    feats_el = node.find("features")
    if feats_el is None:
        raise ValueError("missing <features>")
    rects_l, weights_l = [], []
    for f, fel in enumerate(feats_el.findall("_")):
        tilted = fel.findtext("tilted")
        if tilted is not None and tilted.strip() not in ("0", ""):
            raise ValueError(f"feature {f} is tilted (45°); tilted features are not supported")
        rs = fel.find("rects")
        items = [] if rs is None else rs.findall("_")
        if not 1 <= len(items) <= 3:
            raise ValueError(f"feature {f} must have 1 to 3 rectangles, has {len(items)}")
        rr = np.zeros((3, 4), np.int32)
        ww = np.zeros(3, np.float32)
        for r, it in enumerate(items):
            v = _numbers(it, "rects/_")
            if len(v) != 5 or any(x != int(x) for x in v[:4]):
                raise ValueError(f"feature {f} rectangle {r} must be 'x y w h weight'")
            rr[r] = [int(x) for x in v[:4]]
            ww[r] = v[4]
        rects_l.append(rr)
        weights_l.append(ww)
    features = RectFeatures(np.array(rects_l).reshape(-1, 3, 4), np.array(weights_l).reshape(-1, 3))

    stages_el = node.find("stages")
    assert stages_el is not None
    feature, thr, left, right, ends, stage_thr = [], [], [], [], [], []
    for s, sel in enumerate(stages_el.findall("_")):
        stage_thr.append(_numbers(sel.find("stageThreshold"), "stageThreshold")[0])
        weak = sel.find("weakClassifiers")
        items = [] if weak is None else weak.findall("_")
        if not items:
            raise ValueError(f"stage {s} has no weak classifiers")
        for k, it in enumerate(items):
            nodes = _numbers(it.find("internalNodes"), "internalNodes")
            leaves = _numbers(it.find("leafValues"), "leafValues")
            if len(nodes) != 4 or len(leaves) != 2:
                raise ValueError(
                    f"stage {s} weak classifier {k} is a tree ({len(nodes) // 4} nodes); "
                    "only stump cascades are supported"
                )
            if nodes[2] != int(nodes[2]):
                raise ValueError(f"stage {s} weak classifier {k}: feature index must be an integer")
            feature.append(int(nodes[2]))
            thr.append(nodes[3])
            left.append(leaves[0])
            right.append(leaves[1])
        ends.append(len(feature))
    if not ends:
        raise ValueError("the cascade has no stages")
    declared = node.findtext("stageNum")
    if declared is not None and declared.strip() and int(float(declared)) != len(ends):
        raise ValueError(f"<stageNum> says {declared.strip()} but {len(ends)} stages follow")
    return Cascade(
        (height, width),
        features,
        feature,
        thr,
        left,
        right,
        ends,
        stage_thr,
        {"source": "opencv-xml"},
    )


def _f(v: float) -> str:
    return repr(float(v))


def to_xml(cascade: Cascade) -> bytes:
    """The cascade in opencv_traincascade's XML format, loadable by ``cv2.CascadeClassifier``."""
    c = cascade
    out = ['<?xml version="1.0"?>', "<opencv_storage>"]
    out.append('<cascade type_id="opencv-cascade-classifier">')
    out.append("  <stageType>BOOST</stageType>")
    out.append("  <featureType>HAAR</featureType>")
    out.append(f"  <height>{c.window[0]}</height>")
    out.append(f"  <width>{c.window[1]}</width>")
    sizes = np.diff(np.r_[0, c.stage_ends]) if c.n_stages else np.array([0])
    out.append("  <stageParams>")
    out.append("    <boostType>DAB</boostType>")
    out.append(f"    <maxWeakCount>{int(sizes.max())}</maxWeakCount></stageParams>")
    out.append("  <featureParams>")
    out.append("    <maxCatCount>0</maxCatCount>")
    out.append("    <featSize>1</featSize>")
    out.append("    <mode>ALL</mode></featureParams>")
    out.append(f"  <stageNum>{c.n_stages}</stageNum>")
    out.append("  <stages>")
    for s, sl in enumerate(c.stage_slices()):
        out.append("    <_>")
        out.append(f"      <maxWeakCount>{sl.stop - sl.start}</maxWeakCount>")
        out.append(f"      <stageThreshold>{_f(c.stage_threshold[s])}</stageThreshold>")
        out.append("      <weakClassifiers>")
        for k in range(sl.start, sl.stop):
            out.append("        <_>")
            node = f"0 -1 {int(c.feature[k])} {_f(c.threshold[k])}"
            out.append(f"          <internalNodes>{node}</internalNodes>")
            out.append(f"          <leafValues>{_f(c.left[k])} {_f(c.right[k])}</leafValues></_>")
        out.append("      </weakClassifiers></_>")
    out.append("  </stages>")
    out.append("  <features>")
    for f in range(len(c.features)):
        out.append("    <_>")
        out.append("      <rects>")
        for r in range(3):
            wt = c.features.weights[f, r]
            if wt == 0:
                continue
            x, y, w, h = (int(v) for v in c.features.rects[f, r])
            out.append(f"        <_>{x} {y} {w} {h} {_f(wt)}</_>")
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
