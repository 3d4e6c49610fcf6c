"""vedere's cascade document (``format: vedere-cascade``, the JSON file of
:mod:`vedere.detect.cascade`) to and from a cascade's arrays.

A document holds ``window`` [height, width]; ``features``: Haar rectangles ``[[x, y, w, h,
weight], …]`` (``{"rects": …, "tilted": true}`` for a tilted one: top corner (x, y), w down
the right diagonal, h down the left) or, with ``"feature_type": "lbp"``, LBP grids ``[x, y,
w, h]``; ``stages``: ``{"threshold": t, "stumps": [weak, …]}`` where a weak classifier is a
stump ``[feature, split, left leaf, right leaf]`` or a tree ``{"nodes": [[feature, split,
left, right], …], "leaves": […]}`` (a link > 0 is a later node, ≤ 0 is leaf −link: OpenCV's
convention); a split is a threshold (Haar) or 8 int32 words (LBP); then ``meta`` and the
optional ``face_box``.

Read as untrusted: every number is checked as a Python number (:func:`check_int`,
:func:`check_float`) against the window and the caps below before NumPy sees it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from vedere.detect.facebox import FaceBox
from vedere.detect.lbp import SUBSET_WORDS, LBPFeatures
from vedere.detect.opencv_xml import UnsupportedCascadeError, require_stages
from vedere.detect.rect_features import MAX_RECTS, RectFeatures

from ..text import short_repr as _show

if TYPE_CHECKING:
    from vedere.detect.cascade import Cascade

FORMAT = "vedere-cascade"
#: the largest window side (OpenCV's stock cascades use 20 to 24 pixels)
MAX_WINDOW = 1024
MAX_FEATURES = 1_000_000
MAX_STUMPS = 1_000_000
MAX_STAGES = 10_000
#: the most internal nodes one weak classifier (tree) may have (OpenCV's stock trees: 1 to 3)
MAX_TREE_NODES = 64
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)
FEATURE_TYPES = ("haar", "lbp")


def cascade_document(c: Cascade) -> dict[str, Any]:
    """``c`` as vedere's JSON document (window, features, stages, meta, face box)."""
    stages = []
    for s, sl in enumerate(c.stage_slices()):
        stages.append(
            {
                "threshold": float(c.stage_threshold[s]),
                "stumps": [_weak_to_dict(c, t) for t in range(sl.start, sl.stop)],
            }
        )
    feats: list[Any] = []
    if isinstance(c.features, LBPFeatures):
        feats = [[int(v) for v in r] for r in c.features.rects]
    else:
        fs = c.features
        for f in range(len(fs)):
            rects = [
                [*map(int, fs.rects[f, r]), float(fs.weights[f, r])]
                for r in range(3)
                if fs.weights[f, r] != 0
            ]
            feats.append({"rects": rects, "tilted": True} if fs.tilted[f] else rects)
    d: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "window": list(c.window),
    }
    if c.is_lbp:
        d["feature_type"] = "lbp"
    d.update({"features": feats, "stages": stages, "meta": c.meta})
    if not c.face_box.is_identity:
        d["face_box"] = c.face_box.to_dict()
    return d


def _split(c: Cascade, n: int) -> float | list[int]:
    if c.subsets is not None:
        return [int(v) for v in c.subsets[n]]
    return float(c.threshold[n])


def _weak_to_dict(c: Cascade, t: int) -> list[Any] | dict[str, Any]:
    a, b = int(np.r_[0, c.weak_ends][t]), int(c.weak_ends[t])
    if b - a == 1 and (c.children[a] == -1).all():
        return [int(c.feature[a]), _split(c, a), float(c.left[a]), float(c.right[a])]
    leaves: list[float] = []
    nodes = []
    for n in range(a, b):
        sides = []
        for side, value in ((0, c.left[n]), (1, c.right[n])):
            child = int(c.children[n, side])
            if child >= 0:
                sides.append(child - a)
            else:
                sides.append(-len(leaves))
                leaves.append(float(value))
        nodes.append([int(c.feature[n]), _split(c, n), sides[0], sides[1]])
    return {"nodes": nodes, "leaves": leaves}


def cascade_fields(d: Any) -> dict[str, Any]:
    """The arguments of :class:`~vedere.detect.cascade.Cascade` (by name) for a parsed
    vedere JSON document (or an OpenCV XML file turned into one by
    :func:`vedere.detect.opencv_xml.xml_to_dict`).

    Every number is checked as a Python number before NumPy sees it: integers (or floats
    with an integral value) within their ranges — window sides in [3, MAX_WINDOW],
    rectangles inside the window, feature indices in [0, F), tree links to later nodes
    of the same tree or to its leaves — and reals finite within float32's range; counts
    are capped (MAX_FEATURES, MAX_STUMPS nodes, MAX_TREE_NODES a tree, MAX_STAGES).
    Anything else raises ValueError saying what and where."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        got = d.get("format") if isinstance(d, dict) else None
        raise ValueError(f"not a {FORMAT} file (format field is {got!r})")
    if d.get("version") != 1:
        raise ValueError(f"unsupported version {d.get('version')!r}")
    kind = d.get("feature_type", "haar")
    if kind not in FEATURE_TYPES:
        raise UnsupportedCascadeError(
            f"feature_type {str(kind)[:40]!r} is not supported (haar or lbp)"
        )
    lbp = kind == "lbp"
    window = _list(d, "window", "window")
    if len(window) != 2:
        raise ValueError("window must be [height, width]")
    height = check_int(window[0], "window height", 3, MAX_WINDOW)
    width = check_int(window[1], "window width", 3, MAX_WINDOW)
    feats = _list(d, "features", "features")
    if len(feats) > MAX_FEATURES:
        raise ValueError(f"{len(feats)} features (at most {MAX_FEATURES})")
    features: RectFeatures | LBPFeatures = (
        _lbp_features(feats, height, width) if lbp else _haar_features(feats, height, width)
    )
    stages = _list(d, "stages", "stages")
    require_stages(stages)
    if len(stages) > MAX_STAGES:
        raise ValueError(f"{len(stages)} stages (at most {MAX_STAGES})")
    b = _NodeBuilder(len(feats), lbp)
    ends: list[int] = []
    stage_thr: list[float] = []
    for s, stage in enumerate(stages):
        if not isinstance(stage, dict):
            raise ValueError(f"stage {s} must be an object with threshold and stumps")
        stage_thr.append(check_float(stage.get("threshold"), f"stage {s} threshold"))
        weak = _list(stage, "stumps", f"stage {s} stumps")
        if not weak:
            raise ValueError(f"stage {s} has no stumps")
        for k, st in enumerate(weak):
            b.add(st, f"stage {s} stump {k}")
        ends.append(len(b.weak_ends))
    meta = d.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError("meta must be an object")
    face_box = FaceBox.from_dict(d.get("face_box"))
    return {
        "window": (height, width),
        "features": features,
        "feature": np.array(b.feature, dtype=np.int64),
        "threshold": b.thr,
        "left": b.left,
        "right": b.right,
        "stage_ends": np.array(ends, dtype=np.int64),
        "stage_threshold": stage_thr,
        "meta": dict(meta or {}),
        "face_box": face_box,
        "children": np.array(b.children, dtype=np.int64).reshape(-1, 2),
        "weak_ends": np.array(b.weak_ends, dtype=np.int64),
        "subsets": np.array(b.subsets, dtype=np.int64).reshape(-1, SUBSET_WORDS) if lbp else None,
    }


def _list(d: dict[str, Any], key: str, what: str) -> list[Any]:
    v = d.get(key)
    if not isinstance(v, list):
        raise ValueError(f"{what} must be a list" if key in d else f"missing field {key!r}")
    return v


def check_int(v: Any, what: str, lo: int, hi: int) -> int:
    """``v`` as a Python int in [lo, hi] (an integral float is accepted); ValueError naming
    ``what`` otherwise. Nothing outside the range ever reaches NumPy."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{what} must be an integer, got {_show(v)}")
    if isinstance(v, float):
        if not math.isfinite(v) or v != math.floor(v):
            raise ValueError(f"{what} must be an integer, got {_show(v)}")
        if not lo <= v <= hi:  # compare as a float: int(1e300) would be a 300-digit int
            raise ValueError(f"{what} must be in [{lo}, {hi}], got {_show(v)}")
        v = int(v)
    if not lo <= v <= hi:
        raise ValueError(f"{what} must be in [{lo}, {hi}], got {_show(v)}")
    return int(v)


def check_float(v: Any, what: str) -> float:
    """``v`` as a finite Python float within float32's range; ValueError naming ``what``."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{what} must be a number, got {_show(v)}")
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f) or abs(f) > FLOAT32_MAX:
        raise ValueError(f"{what} must be a finite float32 number, got {_show(v)}")
    return f


def _haar_features(feats: list[Any], height: int, width: int) -> RectFeatures:
    rects = np.zeros((len(feats), MAX_RECTS, 4), dtype=np.int32)
    weights = np.zeros((len(feats), MAX_RECTS), dtype=np.float32)
    tilted = np.zeros(len(feats), dtype=bool)
    for f, rs in enumerate(feats):
        if isinstance(rs, dict):
            t = rs.get("tilted", False)
            if not isinstance(t, bool):
                raise ValueError(f"feature {f} tilted must be true or false")
            tilted[f] = t
            rs = rs.get("rects")
        if not isinstance(rs, list) or not 1 <= len(rs) <= MAX_RECTS:
            raise ValueError(f"feature {f} must have 1 to {MAX_RECTS} rectangles")
        for r, rect in enumerate(rs):
            what = f"feature {f} rectangle {r}"
            if not isinstance(rect, list) or len(rect) != 5:
                raise ValueError(f"{what} must be [x, y, w, h, weight]")
            if tilted[f]:  # top corner (x, y), w down-right, h down-left
                x = check_int(rect[0], f"{what} x", 0, width)
                y = check_int(rect[1], f"{what} y", 0, height - 1)
                w = check_int(rect[2], f"{what} w", 1, width - x)
                h = check_int(rect[3], f"{what} h", 1, min(x, height - y - w))
            else:
                x = check_int(rect[0], f"{what} x", 0, width - 1)
                y = check_int(rect[1], f"{what} y", 0, height - 1)
                w = check_int(rect[2], f"{what} w", 1, width - x)
                h = check_int(rect[3], f"{what} h", 1, height - y)
            rects[f, r] = (x, y, w, h)
            weights[f, r] = check_float(rect[4], f"{what} weight")
    return RectFeatures(rects, weights, tilted)


def _lbp_features(feats: list[Any], height: int, width: int) -> LBPFeatures:
    rects = np.zeros((len(feats), 4), dtype=np.int32)
    for f, r in enumerate(feats):
        what = f"LBP feature {f}"
        if not isinstance(r, list) or len(r) != 4:
            raise ValueError(f"{what} must be [x, y, w, h]")
        x = check_int(r[0], f"{what} x", 0, width - 3)
        y = check_int(r[1], f"{what} y", 0, height - 3)
        w = check_int(r[2], f"{what} w", 1, (width - x) // 3)
        h = check_int(r[3], f"{what} h", 1, (height - y) // 3)
        rects[f] = (x, y, w, h)
    return LBPFeatures(rects)


class _NodeBuilder:
    """The node arrays of :class:`Cascade`, from the document's weak classifiers: a stump
    ``[feature, split, left leaf, right leaf]`` or a tree ``{"nodes": [[feature, split,
    left, right], …], "leaves": […]}`` where left/right > 0 is a later node of the tree and
    ≤ 0 is leaf −left (OpenCV's convention); split: a threshold (Haar) or 8 int32 words
    (LBP)."""

    def __init__(self, n_features: int, lbp: bool) -> None:
        self.n_features = n_features
        self.lbp = lbp
        self.feature: list[int] = []
        self.thr: list[float] = []
        self.subsets: list[list[int]] = []
        self.left: list[float] = []
        self.right: list[float] = []
        self.children: list[tuple[int, int]] = []
        self.weak_ends: list[int] = []

    def _split(self, v: Any, what: str) -> None:
        if self.lbp:
            if not isinstance(v, list) or len(v) != SUBSET_WORDS:
                raise ValueError(f"{what} must be {SUBSET_WORDS} 32-bit words")
            self.subsets.append([check_int(x, f"{what} word", INT32_MIN, INT32_MAX) for x in v])
            self.thr.append(0.0)
        else:
            self.thr.append(check_float(v, f"{what} threshold"))

    def _node(self, feature: Any, split: Any, what: str) -> None:
        if len(self.feature) >= MAX_STUMPS:
            raise ValueError(f"more than {MAX_STUMPS} stumps")
        self.feature.append(check_int(feature, f"{what} feature index", 0, self.n_features - 1))
        self._split(split, what)

    def add(self, st: Any, what: str) -> None:
        if isinstance(st, list):
            if len(st) != 4:
                raise ValueError(f"{what} must be [feature, threshold, left, right]")
            self._node(st[0], st[1], what)
            self.left.append(check_float(st[2], f"{what} left leaf"))
            self.right.append(check_float(st[3], f"{what} right leaf"))
            self.children.append((-1, -1))
            self.weak_ends.append(len(self.feature))
            return
        if not isinstance(st, dict):
            raise ValueError(f"{what} must be a stump list or a tree object")
        nodes = _list(st, "nodes", f"{what} nodes")
        leaves = _list(st, "leaves", f"{what} leaves")
        if not 1 <= len(nodes) <= MAX_TREE_NODES:
            raise ValueError(f"{what} must have 1 to {MAX_TREE_NODES} nodes")
        if len(leaves) != len(nodes) + 1:
            raise ValueError(f"{what} has {len(nodes)} nodes and must have {len(nodes) + 1} leaves")
        vals = [check_float(v, f"{what} leaf") for v in leaves]
        base = len(self.feature)
        for j, nd in enumerate(nodes):
            w = f"{what} node {j}"
            if not isinstance(nd, list) or len(nd) != 4:
                raise ValueError(f"{w} must be [feature, split, left, right]")
            self._node(nd[0], nd[1], w)
            kids = []
            vals_here = []
            for side, v in (("left", nd[2]), ("right", nd[3])):
                link = check_int(v, f"{w} {side}", -len(nodes), len(nodes) - 1)
                if link > 0:
                    if link <= j:
                        raise ValueError(f"{w} {side} must lead to a later node, got {link}")
                    kids.append(base + link)
                    vals_here.append(0.0)
                else:
                    kids.append(-1)
                    vals_here.append(vals[-link])
            self.children.append((kids[0], kids[1]))
            self.left.append(vals_here[0])
            self.right.append(vals_here[1])
        self.weak_ends.append(len(self.feature))
