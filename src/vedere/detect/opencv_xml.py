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

Supported: every cascade OpenCV ships — HAAR features, upright or tilted (``<tilted>1``),
and LBP features (``<rect>x y w h</rect>``, each node's split 8 int32 words of a 256-code
set: ``<internalNodes>left right feature w0 … w7``), stump or tree weak classifiers (left and
right > 0: a later node of the tree; ≤ 0: leaf −value), and the pre-2.0
``opencv-haar-classifier`` layout (``<size>``, ``<trees>`` of nodes carrying their own
features, ``left_val``/``left_node``), read as the same document. Refused as *unsupported*
(:class:`UnsupportedCascadeError`): other feature types (HOG), other stage types, trees of
stages; anything inconsistent is a ValueError (*malformed*). Parsed with
:mod:`defusedxml`, which refuses any DTD, entity declaration or external reference whatever
the document's encoding (UTF-8, UTF-16 with or without a byte-order mark, …); numbers are
plain decimal literals only.
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
#: 32-bit words of an LBP node's set of 256 codes
SUBSET_WORDS = 8
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


class UnsupportedCascadeError(ValueError):
    """A well-formed cascade using a construct vedere does not implement (HOG features, a
    tree of stages, …): reported as "unsupported", not as "malformed"."""


def require_stages(stages: list[Any]) -> None:
    """Refuse a cascade with no stages: it would accept every window. Every reader (both
    XML formats, the JSON document) calls this, so all say the same thing."""
    if not stages:
        raise ValueError("the cascade has no stages")


def _parse(root: ET.Element) -> dict[str, Any]:
    node = _cascade_element(root)
    if node.get("type_id") == "opencv-haar-classifier" or node.find("size") is not None:
        return _parse_old(node)
    stage_type = (node.findtext("stageType") or "").strip()
    feature_type = (node.findtext("featureType") or "").strip()
    if stage_type != "BOOST":
        raise UnsupportedCascadeError(f"stageType {stage_type[:40]!r} (only BOOST is)")
    if feature_type not in ("HAAR", "LBP"):
        raise UnsupportedCascadeError(
            f"featureType {feature_type[:40]!r} (HAAR and LBP are supported)"
        )
    lbp = feature_type == "LBP"
    cats = node.find("featureParams/maxCatCount")
    if cats is not None and (cats.text or "").strip():
        n_cat = _one(cats, "maxCatCount")
        if n_cat != (256 if lbp else 0):
            raise UnsupportedCascadeError(
                f"maxCatCount {n_cat} for {feature_type} (256 for LBP, 0 for HAAR)"
            )
    height, width = _one(node.find("height"), "height"), _one(node.find("width"), "width")

    feats_el = node.find("features")
    if feats_el is None:
        raise ValueError("missing <features>")
    features: list[Any] = []
    for f, fel in enumerate(feats_el.findall("_")):
        if lbp:
            v = _numbers(fel.find("rect"), "rect")
            if len(v) != 4:
                raise ValueError(f"LBP feature {f} must be 'x y w h'")
            features.append(v)
        else:
            features.append(_haar_feature(fel, f))

    stages_el = node.find("stages")
    assert stages_el is not None
    stages = _stages(stages_el, lbp)
    require_stages(stages)
    declared = node.find("stageNum")
    if declared is not None and (declared.text or "").strip():
        n = _one(declared, "stageNum")
        if n != len(stages):  # compares ints and floats (even inf) without converting
            raise ValueError(
                f"<stageNum> says {declared.text.strip()[:40]} but {len(stages)} stages follow"
            )
    d: dict[str, Any] = {
        "format": "vedere-cascade",
        "version": 1,
        "window": [height, width],
    }
    if lbp:
        d["feature_type"] = "lbp"
    d.update({"features": features, "stages": stages, "meta": {"source": "opencv-xml"}})
    return d


def _cascade_element(root: ET.Element) -> ET.Element:
    """The element holding the cascade's ``<stages>``: the root or one of its children."""
    if root.find("stages") is not None:
        return root
    for child in root:
        if child.find("stages") is not None:
            return child
    raise ValueError("no cascade with <stages> in this XML file")


def _stages(stages_el: ET.Element, lbp: bool) -> list[dict[str, Any]]:
    """The stages of a new-style cascade as the document's ``{"threshold", "stumps"}``: per
    weak classifier ``<internalNodes>`` (per node: left, right, feature, then a threshold or
    for LBP 8 subset words) and ``<leafValues>``; a one-node tree is a stump."""
    per_node = 3 + SUBSET_WORDS if lbp else 4
    stages = []
    for s, sel in enumerate(stages_el.findall("_")):
        threshold = _one(sel.find("stageThreshold"), "stageThreshold")
        weak = sel.find("weakClassifiers")
        items = [] if weak is None else weak.findall("_")
        if not items:
            raise ValueError(f"stage {s} has no weak classifiers")
        trees = []
        for k, it in enumerate(items):
            nodes = _numbers(it.find("internalNodes"), "internalNodes")
            leaves = _numbers(it.find("leafValues"), "leafValues")
            n = len(nodes) // per_node
            if n < 1 or len(nodes) != n * per_node or len(leaves) != n + 1:
                raise ValueError(
                    f"stage {s} weak classifier {k}: {len(nodes)} numbers in <internalNodes> "
                    f"and {len(leaves)} leaves do not make a tree "
                    f"({per_node} numbers a node, one leaf more than nodes)"
                )
            rows = [nodes[i * per_node : (i + 1) * per_node] for i in range(n)]
            # OpenCV: left right feature split...; vedere: feature split left right
            tree = [[r[2], list(r[3:]) if lbp else r[3], r[0], r[1]] for r in rows]
            if n == 1 and rows[0][0] == 0 and rows[0][1] == -1:
                trees.append([tree[0][0], tree[0][1], leaves[0], leaves[1]])
            else:
                trees.append({"nodes": tree, "leaves": leaves})
        stages.append({"threshold": threshold, "stumps": trees})
    return stages


def _haar_feature(fel: ET.Element, f: int) -> list[Any] | dict[str, Any]:
    """A Haar feature element (``<rects>`` of 'x y w h weight' and ``<tilted>``)."""
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
    tilted = (fel.findtext("tilted") or "0").strip()
    if tilted not in ("0", "1", ""):
        raise ValueError(f"feature {f}: <tilted> must be 0 or 1, got {tilted[:40]!r}")
    return {"rects": rects, "tilted": True} if tilted == "1" else rects


def _parse_old(node: ET.Element) -> dict[str, Any]:
    """The pre-2.0 ``opencv-haar-classifier`` layout (``<size>W H</size>``, per stage
    ``<trees>`` of nodes that carry their own feature, ``<threshold>``, ``<left_val>`` or
    ``<left_node>`` and the same on the right, ``<stage_threshold>``, ``<parent>`` and
    ``<next>``), as the same document OpenCV 4 turns it into when it loads it: one feature
    per node, the leaves numbered in the order the nodes name them."""
    size = _numbers(node.find("size"), "size")
    if len(size) != 2:
        raise ValueError("<size> must be 'width height'")
    width, height = size
    stages_el = node.find("stages")
    assert stages_el is not None
    features: list[Any] = []
    stages = []
    for s, sel in enumerate(stages_el.findall("_")):
        parent = sel.find("parent")
        if parent is not None and (parent.text or "").strip() and _one(parent, "parent") != s - 1:
            raise UnsupportedCascadeError(
                f"stage {s}'s parent is not stage {s - 1} (a tree of stages)"
            )
        threshold = _one(sel.find("stage_threshold"), "stage_threshold")
        trees_el = sel.find("trees")
        items = [] if trees_el is None else trees_el.findall("_")
        if not items:
            raise ValueError(f"stage {s} has no trees")
        trees: list[Any] = []
        for k, tel in enumerate(items):
            nels = tel.findall("_")
            if not nels:
                raise ValueError(f"stage {s} tree {k} has no nodes")
            nodes: list[list[Any]] = []
            leaves: list[int | float] = []
            for j, nel in enumerate(nels):
                fel = nel.find("feature")
                if fel is None:
                    raise ValueError(f"stage {s} tree {k} node {j} has no <feature>")
                features.append(_haar_feature(fel, len(features)))
                thr = _one(nel.find("threshold"), "threshold")
                sides: list[int | float] = []
                for side in ("left", "right"):
                    if nel.find(f"{side}_node") is not None:
                        sides.append(_one(nel.find(f"{side}_node"), f"{side}_node"))
                    else:
                        sides.append(-len(leaves))
                        leaves.append(_one(nel.find(f"{side}_val"), f"{side}_val"))
                nodes.append([len(features) - 1, thr, sides[0], sides[1]])
            if len(nodes) == 1 and nodes[0][2:] == [0, -1]:
                trees.append([nodes[0][0], nodes[0][1], leaves[0], leaves[1]])
            else:
                trees.append({"nodes": nodes, "leaves": leaves})
        stages.append({"threshold": threshold, "stumps": trees})
    require_stages(stages)
    return {
        "format": "vedere-cascade",
        "version": 1,
        "window": [height, width],
        "features": features,
        "stages": stages,
        "meta": {"source": "opencv-xml", "layout": "opencv-haar-classifier"},
    }


class _HasDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def _f(v: float) -> str:
    return repr(float(v))


def to_xml(cascade: _HasDict) -> bytes:
    """A cascade (anything with vedere's ``to_dict``) in opencv_traincascade's XML format."""
    return dict_to_xml(cascade.to_dict())


def _split(v: Any) -> str:
    return " ".join(str(int(x)) for x in v) if isinstance(v, list) else _f(v)


def dict_to_xml(d: dict[str, Any]) -> bytes:
    """A vedere cascade document (``Cascade.to_dict()``, already validated) in
    opencv_traincascade's XML format, loadable by ``cv2.CascadeClassifier``: HAAR (with
    ``<tilted>``) or LBP features, stumps and trees."""
    height, width = (int(v) for v in d["window"])
    stages = d["stages"]
    lbp = d.get("feature_type") == "lbp"
    tilted = any(isinstance(f, dict) and f.get("tilted") for f in d["features"])
    out = ['<?xml version="1.0"?>', "<opencv_storage>"]
    out.append('<cascade type_id="opencv-cascade-classifier">')
    out.append("  <stageType>BOOST</stageType>")
    out.append(f"  <featureType>{'LBP' if lbp else 'HAAR'}</featureType>")
    out.append(f"  <height>{height}</height>")
    out.append(f"  <width>{width}</width>")
    most = max((len(st["stumps"]) for st in stages), default=0)
    depth = max(
        (len(w["nodes"]) if isinstance(w, dict) else 1 for st in stages for w in st["stumps"]),
        default=1,
    )
    out.append("  <stageParams>")
    out.append(f"    <boostType>{'GAB' if lbp else 'DAB'}</boostType>")
    out.append(f"    <maxDepth>{depth}</maxDepth>")
    out.append(f"    <maxWeakCount>{most}</maxWeakCount></stageParams>")
    out.append("  <featureParams>")
    out.append(f"    <maxCatCount>{256 if lbp else 0}</maxCatCount>")
    if not lbp:
        out.append("    <featSize>1</featSize>")
        out.append(f"    <mode>{'ALL' if tilted else 'BASIC'}</mode>")
    out[-1] += "</featureParams>"
    out.append(f"  <stageNum>{len(stages)}</stageNum>")
    out.append("  <stages>")
    for stage in stages:
        out.append("    <_>")
        out.append(f"      <maxWeakCount>{len(stage['stumps'])}</maxWeakCount>")
        out.append(f"      <stageThreshold>{_f(stage['threshold'])}</stageThreshold>")
        out.append("      <weakClassifiers>")
        for weak in stage["stumps"]:
            if isinstance(weak, dict):
                nodes, leaves = weak["nodes"], weak["leaves"]
            else:
                nodes, leaves = [[weak[0], weak[1], 0, -1]], [weak[2], weak[3]]
            text = " ".join(
                f"{int(left)} {int(right)} {int(feature)} {_split(split)}"
                for feature, split, left, right in nodes
            )
            out.append("        <_>")
            out.append(f"          <internalNodes>{text}</internalNodes>")
            out.append(f"          <leafValues>{' '.join(_f(v) for v in leaves)}</leafValues></_>")
        out.append("      </weakClassifiers></_>")
    out.append("  </stages>")
    out.append("  <features>")
    for feat in d["features"]:
        out.append("    <_>")
        if lbp:
            out.append(f"      <rect>{' '.join(str(int(v)) for v in feat)}</rect></_>")
            continue
        rects = feat["rects"] if isinstance(feat, dict) else feat
        out.append("      <rects>")
        for x, y, w, h, wt in rects:
            if wt == 0:
                continue
            out.append(f"        <_>{int(x)} {int(y)} {int(w)} {int(h)} {_f(wt)}</_>")
        out.append("      </rects>")
        is_tilted = isinstance(feat, dict) and feat.get("tilted")
        out.append(f"      <tilted>{1 if is_tilted else 0}</tilted></_>")
    out.append("  </features></cascade>")
    out.append("</opencv_storage>")
    return ("\n".join(out) + "\n").encode()


#: where Debian's ``opencv-data`` (and builds from source) install OpenCV's cascades
SYSTEM_DIRS = (
    Path("/usr/share/opencv4/haarcascades"),
    Path("/usr/share/opencv4/lbpcascades"),
    Path("/usr/local/share/opencv4/haarcascades"),
    Path("/usr/local/share/opencv4/lbpcascades"),
)
PREFIXES = ("haarcascade_", "lbpcascade_")


def opencv_dirs() -> list[Path]:
    """The folders holding OpenCV's stock cascades that exist here: an installed
    opencv-python's data folder (Haar only), then Debian's /usr/share/opencv4/."""
    dirs = []
    try:
        import cv2  # type: ignore[import-not-found]

        base = getattr(getattr(cv2, "data", None), "haarcascades", "") or ""
        if base:
            dirs.append(Path(base))
    except ImportError:
        pass
    dirs.extend(SYSTEM_DIRS)
    return [d for d in dirs if d.is_dir()]


def opencv_cascades() -> dict[str, Path]:
    """Every stock cascade found (:func:`opencv_dirs`), by file stem
    (``haarcascade_eye``, ``lbpcascade_frontalface``, …); the first folder wins."""
    found: dict[str, Path] = {}
    for d in opencv_dirs():
        for p in sorted(d.glob("*cascade_*.xml")):
            if p.stem.startswith(PREFIXES) and p.is_file():
                found.setdefault(p.stem, p)
    return found


def _stems(name: str) -> list[str]:
    stem = name[:-4] if name.endswith(".xml") else name
    stems = [stem] if stem.startswith(PREFIXES) else [p + stem for p in PREFIXES]
    # pip's opencv spells the plate cascade "license", Debian "licence"
    for s in list(stems):
        for a, b in (("license", "licence"), ("licence", "license")):
            if a in s:
                stems.append(s.replace(a, b))
    return stems


def opencv_cascade_path(name: str) -> Path:
    """Where OpenCV's stock cascade ``name`` is: ``haarcascade_NAME`` or ``lbpcascade_NAME``
    (a bare name is Haar first: ``profileface`` is the Haar one, ``lbpcascade_profileface``
    the LBP one; ``.xml`` optional) in an installed opencv-python's data folder or in
    /usr/share/opencv4/ (Debian's opencv-data). Raises FileNotFoundError naming where it
    looked. OpenCV's files are read in place, never copied into vedere."""
    dirs = opencv_dirs()
    found = opencv_cascades()
    for stem in _stems(name):
        if stem in found:
            return found[stem]
    where = ", ".join(str(d) for d in dirs) or "no OpenCV cascade folder exists"
    hint = (
        "; install opencv-python ('opencv-python-headless<5') or Debian's opencv-data"
        if not found
        else ""
    )
    raise FileNotFoundError(f"OpenCV has no cascade {name!r} (looked in {where}){hint}")
