"""Hard-negative mining: the non-face windows that the cascade trained so far still accepts.

Each new stage of the cascade must learn from the mistakes of the stages before it (Viola–Jones
§4.2). :class:`NegativeMiner` visits, in a seeded random order, the given non-face windows and
every level of an image pyramid of each face-free background photo, runs the current cascade
over them (the detector's own scan, :func:`vedere.detect.scan.scan_pyramid`) and collects
the windows it accepts — at most ``per_level`` from any one pyramid level, so that a single
textured photo cannot supply them all. The ratio of accepted to scanned windows estimates the
cascade's false-positive rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vedere.detect.cascade import Cascade
from vedere.detect.detector import CompiledCascade
from vedere.detect.rect_features import RectFeatures
from vedere.detect.resize import resize_crops
from vedere.detect.scan import scan_pyramid


@dataclass
class MiningResult:
    windows: np.ndarray  # (n, h, w) uint8
    scanned: int  # background windows looked at (positions, whether examined or not)
    accepted: int  # of those, accepted by the cascade (the non-face set is not counted)
    exhausted: bool  # every source was visited before n windows were found

    @property
    def false_positive_rate(self) -> float | None:
        """Accepted / scanned background windows; None when no background was needed."""
        return self.accepted / self.scanned if self.scanned else None


class NegativeMiner:
    """``nonfaces`` (M, h, w) uint8 windows and ``backgrounds`` (grey photos of any size) that
    contain no face; ``scale_factor`` spaces the backgrounds' pyramid levels."""

    def __init__(
        self,
        window: tuple[int, int],
        nonfaces: np.ndarray | None,
        backgrounds: list[np.ndarray],
        scale_factor: float = 1.25,
        per_level: int = 8,
        step: int = 1,
    ) -> None:
        self.window = window
        self.nonfaces = (
            np.zeros((0, *window), np.uint8) if nonfaces is None else np.asarray(nonfaces)
        )
        if self.nonfaces.ndim != 3 or self.nonfaces.shape[1:] != window:
            raise ValueError(f"nonfaces must be (M, {window[0]}, {window[1]}) windows")
        self.levels: list[tuple[int, float]] = []
        self.backgrounds = [np.ascontiguousarray(b) for b in backgrounds]
        for i, b in enumerate(self.backgrounds):
            if b.ndim != 2 or b.dtype != np.uint8:
                raise ValueError(f"background {i} must be a 2-D uint8 grey image")
            f = 1.0
            while b.shape[0] / f >= window[0] and b.shape[1] / f >= window[1]:
                self.levels.append((i, f))
                f *= scale_factor
        self.per_level, self.step = per_level, step

    def collect(self, cascade: Cascade | None, n: int, rng: np.random.Generator) -> MiningResult:
        """Up to ``n`` windows accepted by ``cascade`` (every window when None)."""
        wh, ww = self.window
        out: list[np.ndarray] = []
        have = scanned = accepted = 0
        if len(self.nonfaces):
            idx = rng.permutation(len(self.nonfaces))
            pool = self.nonfaces[idx]
            ok = np.ones(len(pool), bool) if cascade is None else cascade.accepts(pool)
            take = pool[ok][:n]
            out.append(take)
            have += len(take)
        no_features = RectFeatures(np.zeros((0, 3, 4)), np.zeros((0, 3)))
        empty = Cascade(self.window, no_features, [], [], [], [], [], [])
        compiled = CompiledCascade(cascade if cascade is not None else empty)
        order = rng.permutation(len(self.levels))
        visited = 0
        for li in order:
            if have >= n:
                break
            visited += 1
            i, f = self.levels[li]
            b = self.backgrounds[i]
            sh, sw = max(wh, round(b.shape[0] / f)), max(ww, round(b.shape[1] / f))
            # the scan resizes as it integrates (the same pixels as resize_linear); only
            # the crops taken are resized here
            hits = scan_pyramid(b, compiled, [(sh, sw)], [self.step], skip_rejected=False)
            xy = hits[0].xy
            scanned += ((sh - wh) // self.step + 1) * ((sw - ww) // self.step + 1)
            accepted += len(xy)
            if not len(xy):
                continue
            pick = rng.permutation(len(xy))[: min(self.per_level, n - have)]
            crops = resize_crops(b, sw, sh, xy[pick], self.window)  # the image itself at f = 1
            out.append(crops)
            have += len(crops)
        windows = np.concatenate(out) if out else np.zeros((0, wh, ww), np.uint8)
        return MiningResult(windows[:n], scanned, accepted, visited == len(order) and have < n)
