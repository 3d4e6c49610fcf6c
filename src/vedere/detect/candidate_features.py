"""The candidate features of cascade training and their values on training windows: the
pool of a feature set (:data:`FEATURE_SETS`: upright Haar features, those and the tilted
ones, or LBP grids; all of them or a random subset), Haar values as one dense product over
the integral images (:class:`HaarPool`), LBP codes in one compiled pass (:func:`lbp_codes`),
and the windows a cascade examines at all (:func:`examined`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vedere.detect import boosting_kernels
from vedere.detect.haar import enumerate_features
from vedere.detect.integral import tilted_integral_images
from vedere.detect.lbp import LBPFeatures, enumerate_lbp_features
from vedere.detect.normalize import window_integrals
from vedere.detect.rect_features import RectFeatures, concatenate, enumerate_tilted, from_haar

#: the feature pools: Viola–Jones' upright Haar features; those and Lienhart's tilted ones
#: (``opencv_traincascade -mode ALL``); multi-block LBP (``-featureType LBP``)
FEATURE_SETS = ("haar", "haar-extended", "lbp")


class HaarPool:
    """The candidate Haar features and their values on a set of windows (dense matmul over
    the integral images, and the rotated ones when the pool has tilted features)."""

    def __init__(self, features: RectFeatures, window: tuple[int, int]) -> None:
        self.features = features
        self.dense = features.dense(*window)

    def values_fn(self, windows: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
        """For (N, h, w) windows: a function from feature indices (k,) to their normalised
        values (k, N) float32, and the number of features."""
        ii, inv, _ = window_integrals(windows)
        flat = ii.reshape(len(windows), ii.shape[1] * ii.shape[2]).astype(np.float32)
        if self.features.any_tilted:
            t = tilted_integral_images(windows).reshape(len(windows), -1).astype(np.float32)
            flat = np.concatenate([flat, t], axis=1)

        def values(idx: np.ndarray) -> np.ndarray:
            return (self.dense[idx] @ flat.T) * inv

        return values, len(self.features)


class WindowIntegrals:
    """(N, h, w) uint8 ``windows`` with what feature values are computed from, made once
    (a stage's validation windows are scored by every weak classifier it adds): their padded
    integral images ``ii`` (N, h+1, w+1) int64, 1/n_f ``inv`` (N,) float32, and the rotated
    integral images ``tii`` when ``tilted``."""

    def __init__(self, windows: np.ndarray, tilted: bool = False) -> None:
        self.windows = windows
        self.ii, self.inv, _ = window_integrals(windows)
        self.tii = tilted_integral_images(windows) if tilted else None

    def __len__(self) -> int:
        return len(self.windows)


def _integrals(windows: np.ndarray | WindowIntegrals, tilted: bool) -> WindowIntegrals:
    if isinstance(windows, WindowIntegrals) and (windows.tii is not None or not tilted):
        return windows
    raw = windows.windows if isinstance(windows, WindowIntegrals) else windows
    return WindowIntegrals(raw, tilted)


def lbp_codes(features: LBPFeatures, windows: np.ndarray | WindowIntegrals) -> np.ndarray:
    """The LBP codes (F, N) uint8 of every feature on (N, h, w) windows, in one compiled
    pass (:func:`vedere.detect.boosting_kernels.lbp_codes`; the same codes as
    :meth:`~vedere.detect.lbp.LBPFeatures.values`)."""
    ii = _integrals(windows, False).ii
    n, size = len(ii), ii.shape[1] * ii.shape[2]
    # blocks of LBP_BLOCK windows, each block's integral images transposed to (S, block):
    # a corner of a feature is then one contiguous row over the block's windows
    blk = boosting_kernels.LBP_BLOCK
    n_blocks = -(-n // blk)
    blocks = np.zeros((n_blocks * blk, size), dtype=np.int64)
    blocks[:n] = ii.reshape(n, size)
    blocks = np.ascontiguousarray(blocks.reshape(n_blocks, blk, size).transpose(0, 2, 1))
    out = np.empty((len(features), n), dtype=np.uint8)
    corners = np.ascontiguousarray(features.corners(ii.shape[-1]), dtype=np.int64)
    boosting_kernels.lbp_codes(blocks, corners, out)
    return out


def feature_values(
    features: RectFeatures | LBPFeatures, windows: np.ndarray | WindowIntegrals
) -> tuple[np.ndarray, bool]:
    """Values (F, N) of features on windows as the cascade compares them: normalised Haar
    values (float32) or LBP codes; and whether they are codes."""
    if isinstance(features, LBPFeatures):
        return lbp_codes(features, windows), True
    w = _integrals(windows, features.any_tilted)
    return features.values(w.ii, w.tii if features.any_tilted else None) * w.inv, False


def examined(windows: np.ndarray, lbp: bool = False) -> np.ndarray:
    """The windows a cascade examines: not too flat (Haar's variance), or all (LBP)."""
    return windows if lbp else windows[window_integrals(windows)[2]]


def feature_pool(
    features: str, window: tuple[int, int], max_features: int | None, rng: np.random.Generator
) -> RectFeatures | LBPFeatures:
    """The candidate features of a feature set (FEATURE_SETS) for a window, or a random
    subset of ``max_features`` of them."""
    pool: RectFeatures | LBPFeatures
    if features == "lbp":
        pool = enumerate_lbp_features(*window)
    elif features == "haar-extended":
        pool = concatenate([from_haar(enumerate_features(*window)), enumerate_tilted(*window)])
    else:
        pool = from_haar(enumerate_features(*window))
    if max_features is not None and max_features < len(pool):
        pick = np.sort(rng.choice(len(pool), max_features, replace=False))
        pool = pool[pick]
    return pool
