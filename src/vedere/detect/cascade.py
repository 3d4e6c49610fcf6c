"""The attentional cascade: a chain of boosted stages, each of which may reject a window.

A cascade holds K weak classifiers split into S stages. A weak classifier is a decision
tree (a stump: one node): at each node the window goes left when the feature's value is
below the node's threshold — for Haar features (upright or tilted 45°) the value divided by
the window's n_f (:mod:`vedere.detect.normalize`); for LBP features
(:mod:`vedere.detect.lbp`) when the 8-bit code is in the node's set of 256 codes, without
normalisation — until it reaches a leaf. Stage s sums its trees' leaves and the window
survives it when the sum reaches the stage threshold. A window is a face when it survives
every stage; most windows are rejected by the first few stages after a handful of features
(Viola–Jones §4).

Stage thresholds are compared as OpenCV does (the stored threshold minus 1e-5, in float32), so
a cascade behaves identically here, in its JSON file, in its OpenCV XML export and in
``cv2.CascadeClassifier``.

The JSON file (``format: vedere-cascade``; its fields: :mod:`vedere.detect.cascade_document`)
stores the window size, the features, the weak classifiers, the stages, how the cascade was
trained and the map from its window to the face box it reports (``face_box``:
:mod:`vedere.detect.facebox`; files without one get the identity). It is written atomically.
Files are read as untrusted: at most ``MAX_BYTES``, JSON through :mod:`vedere.safejson`,
OpenCV XML translated by :mod:`vedere.detect.opencv_xml` into the same document, and every
number of that document checked as a Python number (:meth:`Cascade.from_dict`) before the
compiled scan can see it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vedere import safejson
from vedere.detect.adaboost import stump_sums
from vedere.detect.cascade_document import MAX_TREE_NODES, cascade_document, cascade_fields
from vedere.detect.facebox import FaceBox
from vedere.detect.integral import tilted_integral_images
from vedere.detect.lbp import SUBSET_WORDS, LBPFeatures, in_subset
from vedere.detect.normalize import window_integrals
from vedere.detect.opencv_xml import (
    UnsupportedCascadeError,
    dict_to_xml,
    looks_like_xml,
    xml_to_dict,
)
from vedere.detect.rect_features import RectFeatures
from vedere.fileio import atomic_write_bytes
from vedere.safejson import JSONError, read_regular_bytes

from ..errors import VedereError

THRESHOLD_EPS = 1e-5
#: the largest cascade file read (JSON or XML); OpenCV's largest stock cascade is 2.7 MB
MAX_BYTES = 16 * 2**20


def effective_threshold(threshold: float | np.ndarray) -> np.ndarray:
    """A stage threshold as OpenCV compares a stage sum with it: float32(float32(t) − 1e-5)."""
    t = np.asarray(threshold, dtype=np.float32).astype(np.float64)
    return (t - THRESHOLD_EPS).astype(np.float32)


class CascadeFileError(VedereError):
    """A cascade file that cannot be read: ``CascadeFileError(path, problem)`` names the
    file and what is wrong."""


@dataclass
class Cascade:
    """A boosted cascade of weak classifiers, each a decision tree over features (a stump is
    a tree of one node).

    ``features``: :class:`~vedere.detect.rect_features.RectFeatures` (Haar, upright or
    tilted) or :class:`~vedere.detect.lbp.LBPFeatures`. Per node n of every tree (the trees'
    nodes one after the other, each tree's root first): ``feature[n]`` (index into
    ``features``), ``threshold[n]`` (Haar: go left when the normalised value is below it) or
    ``subsets[n]`` (LBP: (8,) int32 words, go left when the code's bit is set), ``left[n]`` /
    ``right[n]`` the leaf values taken on that side, and ``children[n]`` (2,) the node that
    side leads to instead (−1: the leaf; a child comes after its parent within its tree).
    ``weak_ends[k]``: one past tree k's last node (default: every node is a stump); per
    stage s: ``stage_ends[s]`` (one past its last tree) and ``stage_threshold[s]``.
    ``window`` = (height, width); ``face_box``: the map from an accepted window to the face
    box reported (identity: the window itself, as OpenCV reports it)."""

    window: tuple[int, int]
    features: RectFeatures | LBPFeatures
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    stage_ends: np.ndarray
    stage_threshold: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    face_box: FaceBox = field(default_factory=FaceBox)
    children: np.ndarray | None = None
    weak_ends: np.ndarray | None = None
    subsets: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.window = (int(self.window[0]), int(self.window[1]))
        self.feature = np.asarray(self.feature, dtype=np.int64).reshape(-1)
        n = len(self.feature)
        self.threshold = np.asarray(self.threshold, dtype=np.float32).reshape(-1)
        self.left = np.asarray(self.left, dtype=np.float32).reshape(-1)
        self.right = np.asarray(self.right, dtype=np.float32).reshape(-1)
        self.stage_ends = np.asarray(self.stage_ends, dtype=np.int64).reshape(-1)
        self.stage_threshold = np.asarray(self.stage_threshold, dtype=np.float32).reshape(-1)
        if not (len(self.threshold) == len(self.left) == len(self.right) == n):
            raise ValueError("feature, threshold, left and right must have one entry per node")
        if self.children is None:
            self.children = np.full((n, 2), -1, dtype=np.int64)
        self.children = np.asarray(self.children, dtype=np.int64).reshape(-1, 2)
        if self.weak_ends is None:
            self.weak_ends = np.arange(1, n + 1, dtype=np.int64)
        self.weak_ends = np.asarray(self.weak_ends, dtype=np.int64).reshape(-1)
        if len(self.children) != n:
            raise ValueError("children must have one row per node")
        k = len(self.weak_ends)
        if len(self.weak_ends) and (
            np.any(np.diff(np.r_[0, self.weak_ends]) < 1) or self.weak_ends[-1] != n
        ):
            raise ValueError("every tree needs at least one node and weak_ends must end at N")
        if k and np.diff(np.r_[0, self.weak_ends]).max() > MAX_TREE_NODES:
            raise ValueError(f"a tree has more than {MAX_TREE_NODES} nodes")
        if n and k == 0:
            raise ValueError("nodes without trees")
        # every child is a later node of the same tree (so every walk ends at a leaf)
        tree_end = np.repeat(self.weak_ends, np.diff(np.r_[0, self.weak_ends]))
        idx = np.arange(n)[:, None]
        bad = (self.children != -1) & (
            (self.children <= idx) | (self.children >= tree_end[:, None])
        )
        if bad.any():
            node = int(np.argwhere(bad)[0][0])
            raise ValueError(f"node {node}: a child must be a later node of the same tree")
        if len(self.stage_ends) != len(self.stage_threshold):
            raise ValueError("stage_ends and stage_threshold must have one entry per stage")
        if len(self.stage_ends) and (
            np.any(np.diff(np.r_[0, self.stage_ends]) < 1) or self.stage_ends[-1] != k
        ):
            raise ValueError("every stage needs at least one tree and stage_ends must end at K")
        if n and (self.feature.min() < 0 or self.feature.max() >= len(self.features)):
            raise ValueError("a node refers to a feature that does not exist")
        if min(self.window) < 3:
            raise ValueError(f"window must be at least 3x3, got {self.window}")
        self.features.check_window(*self.window)
        if isinstance(self.features, LBPFeatures):
            if self.subsets is None:
                raise ValueError("an LBP cascade needs a 256-code subset per node")
            self.subsets = np.asarray(self.subsets, dtype=np.int32).reshape(-1, SUBSET_WORDS)
            if len(self.subsets) != n:
                raise ValueError("subsets must have one row per node")
        elif self.subsets is not None:
            raise ValueError("subsets belong to LBP cascades only")
        for name in ("threshold", "left", "right", "stage_threshold"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} has NaN or infinite values")

    @property
    def feature_type(self) -> str:
        """The features: "lbp" or "haar"."""
        return "lbp" if isinstance(self.features, LBPFeatures) else "haar"

    @property
    def is_lbp(self) -> bool:
        """True when the cascade's features are LBP features (not Haar-like rectangles)."""
        return isinstance(self.features, LBPFeatures)

    @property
    def tilted(self) -> bool:
        """Whether any feature is a tilted (45°) Haar feature."""
        return not self.is_lbp and self.features.any_tilted  # type: ignore[union-attr]

    @property
    def is_stumps(self) -> bool:
        """Every weak classifier is a single node."""
        return bool((self.children == -1).all()) and len(self.weak_ends) == len(self.feature)

    @property
    def n_stages(self) -> int:
        """The number of stages."""
        return len(self.stage_ends)

    @property
    def n_weak(self) -> int:
        """The number of weak classifiers (stumps or trees) over all stages."""
        return len(self.weak_ends)

    def stage_slices(self) -> list[slice]:
        """Per stage, the slice of its trees (weak classifiers)."""
        starts = np.r_[0, self.stage_ends[:-1]]
        return [slice(int(a), int(b)) for a, b in zip(starts, self.stage_ends, strict=True)]

    def node_slice(self, trees: slice) -> slice:
        """The nodes of trees ``trees.start`` to ``trees.stop``."""
        starts = np.r_[0, self.weak_ends]
        return slice(int(starts[trees.start]), int(starts[trees.stop]))

    def effective_stage_thresholds(self) -> np.ndarray:
        """The thresholds as compared: float32(threshold − 1e-5), OpenCV's convention."""
        return effective_threshold(self.stage_threshold)

    def truncated(self, n_stages: int) -> Cascade:
        """The first ``n_stages`` stages (features pruned to those still used)."""
        k = int(self.stage_ends[n_stages - 1]) if n_stages else 0
        end = int(self.weak_ends[k - 1]) if k else 0
        used, remap = np.unique(self.feature[:end], return_inverse=True)
        return Cascade(
            self.window,
            self.features[used],
            remap,
            self.threshold[:end],
            self.left[:end],
            self.right[:end],
            self.stage_ends[:n_stages],
            self.stage_threshold[:n_stages],
            dict(self.meta),
            self.face_box,
            self.children[:end],
            self.weak_ends[:k],
            None if self.subsets is None else self.subsets[:end],
        )

    def window_data(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For (N, H, W) uint8 windows: what the cascade's features are read from — the
        padded integral images (N, H+1, W+1), with the rotated ones after them along the last
        axis when a feature is tilted — the factors 1/n_f (N,) (1 for LBP) and the mask of
        windows examined (N,) (Haar: those not too flat; LBP: all)."""
        ii, inv, ok = window_integrals(windows)
        if self.is_lbp:
            return ii, np.ones(len(windows), np.float32), np.ones(len(windows), bool)
        if self.tilted:
            ii = np.concatenate([ii, tilted_integral_images(windows)], axis=2)
        return ii, inv, ok

    def node_values(self, data: np.ndarray, inv: np.ndarray, nodes: slice) -> np.ndarray:
        """The features of nodes ``nodes`` on windows prepared by :meth:`window_data`:
        (n, N) — normalised float32 values (Haar) or int64 codes (LBP)."""
        feats = self.features[self.feature[nodes]]
        if self.is_lbp:
            return feats.values(data)
        w1 = data.shape[2] // 2 if self.tilted else data.shape[2]
        ii = data[:, :, :w1]
        tii = data[:, :, w1:] if self.tilted else None
        return feats.values(ii, tii) * inv  # type: ignore[call-arg]

    def weak_sums(self, values: np.ndarray, trees: slice) -> np.ndarray:
        """Σ over trees ``trees`` of each window's leaf, from its node values (n, N) (as
        :meth:`node_values` gives them for :meth:`node_slice` of ``trees``): (N,) float64,
        tree by tree (as OpenCV sums them)."""
        nodes = self.node_slice(trees)
        base = nodes.start
        n_win = values.shape[1]
        total = np.zeros(n_win, dtype=np.float64)
        cols = np.arange(n_win)
        starts = np.r_[0, self.weak_ends]
        for t in range(trees.start, trees.stop):
            cur = np.full(n_win, int(starts[t]), dtype=np.int64)
            todo = np.ones(n_win, dtype=bool)
            while todo.any():
                c = cur[todo]
                v = values[c - base, cols[todo]]
                if self.is_lbp:
                    go_left = in_subset(self.subsets[c], v)  # type: ignore[index]
                else:
                    go_left = v < self.threshold[c]
                nxt = np.where(go_left, self.children[c, 0], self.children[c, 1])
                leaf = np.where(go_left, self.left[c], self.right[c]).astype(np.float64)
                rows = np.flatnonzero(todo)
                done = nxt < 0
                total[rows[done]] += leaf[done]
                cur[rows[~done]] = nxt[~done]
                todo[rows[done]] = False
        return total

    def evaluate_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the cascade on (N, H, W) uint8 windows of exactly the window size.

        Returns (stages passed (N,) int — S means "face"; −1 for windows too flat to examine —
        and the last evaluated stage's sum (N,) float64)."""
        windows = np.asarray(windows)
        if windows.ndim != 3 or windows.shape[1:] != self.window:
            h, w = self.window
            raise ValueError(f"windows must be (N, {h}, {w}), got {windows.shape}")
        data, inv, ok = self.window_data(windows)
        passed = np.where(ok, 0, -1)
        sums = np.zeros(len(windows))
        alive = np.flatnonzero(ok)
        thr = self.effective_stage_thresholds()
        for s, sl in enumerate(self.stage_slices()):
            if not len(alive):
                break
            if self.is_stumps and not self.is_lbp:
                vals = self.node_values(data[alive], inv[alive], sl)
                total = stump_sums(vals, self.threshold[sl], self.left[sl], self.right[sl])
            else:
                vals = self.node_values(data[alive], inv[alive], self.node_slice(sl))
                total = self.weak_sums(vals, sl)
            sums[alive] = total
            keep = total >= thr[s]
            passed[alive[keep]] = s + 1
            alive = alive[keep]
        return passed, sums

    def accepts(self, windows: np.ndarray) -> np.ndarray:
        """(N,) bool: the windows the whole cascade calls faces."""
        return self.evaluate_windows(windows)[0] == self.n_stages

    # --- files (the document: vedere.detect.cascade_document) -----------------------------

    def to_dict(self) -> dict[str, Any]:
        """The cascade as vedere's JSON document (window, features, stages, meta, face box)."""
        return cascade_document(self)

    @classmethod
    def from_dict(cls, d: Any) -> Cascade:
        """The cascade a parsed vedere JSON document (or an OpenCV XML file turned into one by
        :func:`vedere.detect.opencv_xml.xml_to_dict`) describes, every number checked first
        (:func:`~vedere.detect.cascade_document.cascade_fields`); ValueError saying what and
        where."""
        return cls(**cascade_fields(d))

    def to_xml(self) -> bytes:
        """The cascade in opencv_traincascade's XML format (``cv2.CascadeClassifier`` reads
        it)."""
        return dict_to_xml(self.to_dict())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the cascade: OpenCV XML when the name ends in ``.xml``, else vedere JSON.

        OpenCV's format has no place for the face-box map: an XML export reports the raw
        windows (as ``cv2.CascadeClassifier`` does), the JSON file the calibrated boxes."""
        path = Path(path)
        if path.suffix.lower() == ".xml":
            atomic_write_bytes(path, self.to_xml())
        else:
            atomic_write_bytes(path, json.dumps(self.to_dict(), indent=1).encode())
        return path


def load_cascade(path: str | os.PathLike[str]) -> Cascade:
    """Read a vedere JSON cascade or an OpenCV Haar cascade XML file (told apart by content).

    Regular files of at most MAX_BYTES only; JSON is parsed with :mod:`vedere.safejson`, XML
    with a parser that refuses DTDs and entities in every encoding. Every problem raises
    :class:`CascadeFileError` naming the file."""
    path = Path(path)
    try:
        data = read_regular_bytes(path, MAX_BYTES)
    except FileNotFoundError:
        raise CascadeFileError(path, "no such file") from None
    except OSError as e:
        raise CascadeFileError(path, f"cannot read ({e.strerror or e})") from None
    except JSONError as e:
        raise CascadeFileError(path, f"refused: {e}") from None
    return parse_cascade(data, path)


def parse_cascade(data: bytes, name: str | os.PathLike[str] = "<cascade>") -> Cascade:
    """The cascade in ``data`` (the bytes of a vedere JSON or OpenCV XML cascade file);
    errors are :class:`CascadeFileError` naming ``name``."""
    if len(data) > MAX_BYTES:
        raise CascadeFileError(name, f"refused: larger than {MAX_BYTES // 2**20} MiB")
    try:
        if looks_like_xml(data):
            d = xml_to_dict(data)
        elif data.lstrip()[:1] == b"{":
            d = safejson.loads(data, max_bytes=MAX_BYTES)
        else:
            raise ValueError("neither a vedere JSON cascade nor an OpenCV XML cascade")
        return Cascade.from_dict(d)
    except UnsupportedCascadeError as e:
        raise CascadeFileError(name, f"unsupported cascade: {e}") from None
    except (ValueError, RecursionError) as e:  # JSONError and XML errors are ValueErrors
        msg = str(e) if isinstance(e, ValueError) else "nested too deeply"
        raise CascadeFileError(name, f"malformed cascade: {msg}") from None
