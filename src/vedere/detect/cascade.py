"""The attentional cascade: a chain of boosted stages, each of which may reject a window.

A cascade holds K weak classifiers (stumps) split into S stages. Stage s sums its stumps'
leaves — ``left[k]`` when the (variance-normalised) feature value is below ``threshold[k]``,
``right[k]`` otherwise — and the window survives it when the sum reaches the stage threshold.
A window is a face when it survives every stage; most windows are rejected by the first few
stages after a handful of features (Viola–Jones §4).

Stage thresholds are compared as OpenCV does (the stored threshold minus 1e-5, in float32), so
a cascade behaves identically here, in its JSON file, in its OpenCV XML export and in
``cv2.CascadeClassifier``.

The JSON file (``format: vedere-cascade``) stores the window size, the weighted-rectangle
features (:mod:`vedere.detect.rect_features`), the stumps, the stage ends and thresholds, and
how the cascade was trained, and the map from its window to the face box it reports
(``face_box``: :mod:`vedere.detect.facebox`; files without one get the identity). It is
written atomically. Files are read as untrusted: at most
``MAX_BYTES``, JSON through :mod:`vedere.safejson`, OpenCV XML translated by
:mod:`vedere.detect.opencv_xml` into the same document, and every number of that document
checked as a Python number (:meth:`Cascade.from_dict`) before the compiled scan can see it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vedere import safejson
from vedere.detect.adaboost import stump_sums
from vedere.detect.facebox import FaceBox
from vedere.detect.normalize import window_integrals
from vedere.detect.opencv_xml import dict_to_xml, looks_like_xml, xml_to_dict
from vedere.detect.rect_features import MAX_RECTS, RectFeatures
from vedere.fileio import atomic_write_bytes
from vedere.safejson import JSONError, read_regular_bytes

FORMAT = "vedere-cascade"
THRESHOLD_EPS = 1e-5
#: the largest cascade file read (JSON or XML); OpenCV's largest stock cascade is 2.7 MB
MAX_BYTES = 16 * 2**20
#: the largest window side (OpenCV's stock cascades use 20 to 24 pixels)
MAX_WINDOW = 1024
MAX_FEATURES = 1_000_000
MAX_STUMPS = 1_000_000
MAX_STAGES = 10_000
FLOAT32_MAX = float(np.finfo(np.float32).max)


def effective_threshold(threshold: float | np.ndarray) -> np.ndarray:
    """A stage threshold as OpenCV compares a stage sum with it: float32(float32(t) − 1e-5)."""
    t = np.asarray(threshold, dtype=np.float32).astype(np.float64)
    return (t - THRESHOLD_EPS).astype(np.float32)


class CascadeFileError(ValueError):
    """A cascade file that cannot be read: names the file and what is wrong."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)


@dataclass
class Cascade:
    """``features``: the features the stumps use; per stump k: ``feature[k]`` (index into
    ``features``), ``threshold[k]``, ``left[k]``, ``right[k]``; per stage s: ``stage_ends[s]``
    (one past its last stump) and ``stage_threshold[s]``. ``window`` = (height, width);
    ``face_box``: the map from an accepted window to the face box reported (identity: the
    window itself, as OpenCV reports it)."""

    window: tuple[int, int]
    features: RectFeatures
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    stage_ends: np.ndarray
    stage_threshold: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    face_box: FaceBox = field(default_factory=FaceBox)

    def __post_init__(self) -> None:
        self.window = (int(self.window[0]), int(self.window[1]))
        self.feature = np.asarray(self.feature, dtype=np.int64).reshape(-1)
        k = len(self.feature)
        self.threshold = np.asarray(self.threshold, dtype=np.float32).reshape(-1)
        self.left = np.asarray(self.left, dtype=np.float32).reshape(-1)
        self.right = np.asarray(self.right, dtype=np.float32).reshape(-1)
        self.stage_ends = np.asarray(self.stage_ends, dtype=np.int64).reshape(-1)
        self.stage_threshold = np.asarray(self.stage_threshold, dtype=np.float32).reshape(-1)
        if not (len(self.threshold) == len(self.left) == len(self.right) == k):
            raise ValueError("feature, threshold, left and right must have one entry per stump")
        if len(self.stage_ends) != len(self.stage_threshold):
            raise ValueError("stage_ends and stage_threshold must have one entry per stage")
        if len(self.stage_ends) and (
            np.any(np.diff(np.r_[0, self.stage_ends]) < 1) or self.stage_ends[-1] != k
        ):
            raise ValueError("every stage needs at least one stump and stage_ends must end at K")
        if k and (self.feature.min() < 0 or self.feature.max() >= len(self.features)):
            raise ValueError("a stump refers to a feature that does not exist")
        if min(self.window) < 3:
            raise ValueError(f"window must be at least 3x3, got {self.window}")
        self.features.check_window(*self.window)
        for name in ("threshold", "left", "right", "stage_threshold"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"{name} has NaN or infinite values")

    @property
    def n_stages(self) -> int:
        return len(self.stage_ends)

    def stage_slices(self) -> list[slice]:
        starts = np.r_[0, self.stage_ends[:-1]]
        return [slice(int(a), int(b)) for a, b in zip(starts, self.stage_ends, strict=True)]

    def effective_stage_thresholds(self) -> np.ndarray:
        """The thresholds as compared: float32(threshold − 1e-5), OpenCV's convention."""
        return effective_threshold(self.stage_threshold)

    def truncated(self, n_stages: int) -> Cascade:
        """The first ``n_stages`` stages (features pruned to those still used)."""
        end = int(self.stage_ends[n_stages - 1]) if n_stages else 0
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
        )

    def evaluate_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the cascade on (N, H, W) uint8 windows of exactly the window size.

        Returns (stages passed (N,) int — S means "face"; −1 for windows too flat to examine —
        and the last evaluated stage's sum (N,) float64)."""
        windows = np.asarray(windows)
        if windows.ndim != 3 or windows.shape[1:] != self.window:
            h, w = self.window
            raise ValueError(f"windows must be (N, {h}, {w}), got {windows.shape}")
        ii, inv, ok = window_integrals(windows)
        passed = np.where(ok, 0, -1)
        sums = np.zeros(len(windows))
        alive = np.flatnonzero(ok)
        thr = self.effective_stage_thresholds()
        for s, sl in enumerate(self.stage_slices()):
            if not len(alive):
                break
            vals = self.features[self.feature[sl]].values(ii[alive]) * inv[alive]
            total = stump_sums(vals, self.threshold[sl], self.left[sl], self.right[sl])
            sums[alive] = total
            keep = total >= thr[s]
            passed[alive[keep]] = s + 1
            alive = alive[keep]
        return passed, sums

    def accepts(self, windows: np.ndarray) -> np.ndarray:
        """(N,) bool: the windows the whole cascade calls faces."""
        return self.evaluate_windows(windows)[0] == self.n_stages

    # --- files -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        stages = []
        for s, sl in enumerate(self.stage_slices()):
            stages.append(
                {
                    "threshold": float(self.stage_threshold[s]),
                    "stumps": [
                        [
                            int(self.feature[k]),
                            float(self.threshold[k]),
                            float(self.left[k]),
                            float(self.right[k]),
                        ]
                        for k in range(sl.start, sl.stop)
                    ],
                }
            )
        feats = []
        for f in range(len(self.features)):
            feats.append(
                [
                    [*map(int, self.features.rects[f, r]), float(self.features.weights[f, r])]
                    for r in range(3)
                    if self.features.weights[f, r] != 0
                ]
            )
        d = {
            "format": FORMAT,
            "version": 1,
            "window": list(self.window),
            "features": feats,
            "stages": stages,
            "meta": self.meta,
        }
        if not self.face_box.is_identity:
            d["face_box"] = self.face_box.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Cascade:
        """The cascade a parsed vedere JSON document (or an OpenCV XML file turned into one by
        :func:`vedere.detect.opencv_xml.xml_to_dict`) describes.

        Every number is checked as a Python number before NumPy sees it: integers (or floats
        with an integral value) within their ranges — window sides in [3, MAX_WINDOW],
        rectangles inside the window, feature indices in [0, F) — and reals finite within
        float32's range; counts are capped (MAX_FEATURES, MAX_STUMPS, MAX_STAGES). Anything
        else raises ValueError saying what and where."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else None
            raise ValueError(f"not a {FORMAT} file (format field is {got!r})")
        if d.get("version") != 1:
            raise ValueError(f"unsupported version {d.get('version')!r}")
        window = _list(d, "window", "window")
        if len(window) != 2:
            raise ValueError("window must be [height, width]")
        height = check_int(window[0], "window height", 3, MAX_WINDOW)
        width = check_int(window[1], "window width", 3, MAX_WINDOW)
        feats = _list(d, "features", "features")
        if len(feats) > MAX_FEATURES:
            raise ValueError(f"{len(feats)} features (at most {MAX_FEATURES})")
        rects = np.zeros((len(feats), MAX_RECTS, 4), dtype=np.int32)
        weights = np.zeros((len(feats), MAX_RECTS), dtype=np.float32)
        for f, rs in enumerate(feats):
            if not isinstance(rs, list) or not 1 <= len(rs) <= MAX_RECTS:
                raise ValueError(f"feature {f} must have 1 to {MAX_RECTS} rectangles")
            for r, rect in enumerate(rs):
                what = f"feature {f} rectangle {r}"
                if not isinstance(rect, list) or len(rect) != 5:
                    raise ValueError(f"{what} must be [x, y, w, h, weight]")
                x = check_int(rect[0], f"{what} x", 0, width - 1)
                y = check_int(rect[1], f"{what} y", 0, height - 1)
                w = check_int(rect[2], f"{what} w", 1, width - x)
                h = check_int(rect[3], f"{what} h", 1, height - y)
                rects[f, r] = (x, y, w, h)
                weights[f, r] = check_float(rect[4], f"{what} weight")
        stages = _list(d, "stages", "stages")
        if len(stages) > MAX_STAGES:
            raise ValueError(f"{len(stages)} stages (at most {MAX_STAGES})")
        feature: list[int] = []
        thr: list[float] = []
        left: list[float] = []
        right: list[float] = []
        ends: list[int] = []
        stage_thr: list[float] = []
        for s, stage in enumerate(stages):
            if not isinstance(stage, dict):
                raise ValueError(f"stage {s} must be an object with threshold and stumps")
            stage_thr.append(check_float(stage.get("threshold"), f"stage {s} threshold"))
            stumps = _list(stage, "stumps", f"stage {s} stumps")
            if not stumps:
                raise ValueError(f"stage {s} has no stumps")
            if len(feature) + len(stumps) > MAX_STUMPS:
                raise ValueError(f"more than {MAX_STUMPS} stumps")
            for k, st in enumerate(stumps):
                what = f"stage {s} stump {k}"
                if not isinstance(st, list) or len(st) != 4:
                    raise ValueError(f"{what} must be [feature, threshold, left, right]")
                feature.append(check_int(st[0], f"{what} feature index", 0, len(feats) - 1))
                thr.append(check_float(st[1], f"{what} threshold"))
                left.append(check_float(st[2], f"{what} left leaf"))
                right.append(check_float(st[3], f"{what} right leaf"))
            ends.append(len(feature))
        meta = d.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise ValueError("meta must be an object")
        face_box = FaceBox.from_dict(d.get("face_box"))
        return cls(
            (height, width),
            RectFeatures(rects, weights),
            np.array(feature, dtype=np.int64),
            thr,
            left,
            right,
            np.array(ends, dtype=np.int64),
            stage_thr,
            dict(meta or {}),
            face_box,
        )

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
    except (ValueError, RecursionError) as e:  # JSONError and XML errors are ValueErrors
        msg = str(e) if isinstance(e, ValueError) else "nested too deeply"
        raise CascadeFileError(name, f"malformed cascade: {msg}") from None


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


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."
