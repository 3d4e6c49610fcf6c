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
how the cascade was trained. It is written atomically and validated on load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vedere.detect.adaboost import stump_sums
from vedere.detect.normalize import window_integrals
from vedere.detect.rect_features import RectFeatures
from vedere.fileio import atomic_write_bytes

FORMAT = "vedere-cascade"
THRESHOLD_EPS = 1e-5


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
    (one past its last stump) and ``stage_threshold[s]``. ``window`` = (height, width)."""

    window: tuple[int, int]
    features: RectFeatures
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    stage_ends: np.ndarray
    stage_threshold: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

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
        return {
            "format": FORMAT,
            "version": 1,
            "window": list(self.window),
            "features": feats,
            "stages": stages,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cascade:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else None
            raise ValueError(f"not a {FORMAT} file (format field is {got!r})")
        if d.get("version") != 1:
            raise ValueError(f"unsupported version {d.get('version')!r}")
        feats = d["features"]
        rects = np.zeros((len(feats), 3, 4), dtype=np.int32)
        weights = np.zeros((len(feats), 3), dtype=np.float32)
        for f, rs in enumerate(feats):
            if not 1 <= len(rs) <= 3:
                raise ValueError(f"feature {f} must have 1 to 3 rectangles")
            for r, rect in enumerate(rs):
                if len(rect) != 5:
                    raise ValueError(f"feature {f} rectangle {r} must be [x, y, w, h, weight]")
                rects[f, r] = [int(v) for v in rect[:4]]
                weights[f, r] = float(rect[4])
        stumps = [st for stage in d["stages"] for st in stage["stumps"]]
        if any(len(st) != 4 for st in stumps):
            raise ValueError("every stump must be [feature, threshold, left, right]")
        arr = np.array(stumps, dtype=np.float64).reshape(-1, 4)
        if arr.size and np.any(arr[:, 0] != np.round(arr[:, 0])):
            raise ValueError("stump feature indices must be integers")
        ends = np.cumsum([len(stage["stumps"]) for stage in d["stages"]])
        return cls(
            tuple(d["window"]),  # type: ignore[arg-type]
            RectFeatures(rects, weights),
            arr[:, 0].astype(np.int64),
            arr[:, 1],
            arr[:, 2],
            arr[:, 3],
            ends,
            [float(stage["threshold"]) for stage in d["stages"]],
            dict(d.get("meta") or {}),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the cascade: OpenCV XML when the name ends in ``.xml``, else vedere JSON."""
        path = Path(path)
        if path.suffix.lower() == ".xml":
            from vedere.detect.opencv_xml import to_xml

            atomic_write_bytes(path, to_xml(self))
        else:
            atomic_write_bytes(path, json.dumps(self.to_dict(), indent=1).encode())
        return path


def load_cascade(path: str | os.PathLike[str]) -> Cascade:
    """Read a vedere JSON cascade or an OpenCV Haar cascade XML file (by content)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CascadeFileError(path, "no such file") from None
    except OSError as e:
        raise CascadeFileError(path, f"cannot read ({e.strerror})") from None
    head = data.lstrip()[:64]
    if head.startswith(b"<"):
        from vedere.detect.opencv_xml import from_xml

        return from_xml(data, path)
    try:
        d = json.loads(data)
        return Cascade.from_dict(d)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CascadeFileError(
            path, "neither a vedere JSON cascade nor an OpenCV XML cascade"
        ) from None
    except (KeyError, TypeError, ValueError, IndexError) as e:
        msg = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise CascadeFileError(path, f"malformed cascade: {msg}") from None
