"""Boxes followed from one video frame to the next, their positions smoothed.

Each frame's boxes are matched to the previous frame's boxes greedily by IoU (highest first,
at least :data:`MIN_IOU`); a matched box continues that track, others start new ones, tracks
with no match end. The box reported is the rounded mean of its track's last :data:`FRAMES`
raw boxes, so the number of boxes per frame is unchanged and only their positions are
smoothed. A frame with more than :data:`MAX_BOXES` boxes (ungrouped windows) is refused.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .grouping import iou  # one IoU for grouping and tracking

#: boxes averaged per track
FRAMES = 5
#: the smallest IoU for a box to continue a track
MIN_IOU = 0.3
#: the most boxes a frame may have (the IoU matrix is boxes × tracks)
MAX_BOXES = 1000


@dataclass
class BoxSmoother:
    """Smooths boxes over frames (see the module's docstring for the rule): ``update(boxes)``
    with one frame's (K, 4) boxes returns their smoothed (K, 4) int64 boxes and (K,) track
    ids, in the same order."""

    window: int = FRAMES
    min_iou: float = MIN_IOU
    _tracks: list[tuple[int, deque[np.ndarray]]] = field(default_factory=list)
    _next_id: int = 0

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")

    def update(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Match this frame's boxes (K, 4) to the tracks by overlap and return the smoothed boxes
        with their track ids."""
        boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
        if len(boxes) > MAX_BOXES:
            raise ValueError(
                f"tracking follows at most {MAX_BOXES} boxes a frame, got {len(boxes)} "
                "(group the windows: --grouping opencv or nms)"
            )
        prev = np.array([h[-1] for _, h in self._tracks], np.int64).reshape(-1, 4)
        overlap = iou(boxes, prev)
        match: dict[int, int] = {}
        used: set[int] = set()
        for flat in np.argsort(-overlap, axis=None, kind="stable"):
            i, j = divmod(int(flat), overlap.shape[1])
            if overlap[i, j] < self.min_iou:
                break
            if i not in match and j not in used:
                match[i] = j
                used.add(j)
        tracks = []
        out = np.zeros_like(boxes)
        ids = np.zeros(len(boxes), np.int64)
        for i, box in enumerate(boxes):
            if i in match:
                tid, hist = self._tracks[match[i]]
            else:
                tid, hist = self._next_id, deque(maxlen=self.window)
                self._next_id += 1
            hist.append(box)
            tracks.append((tid, hist))
            out[i] = np.rint(np.mean(np.stack(hist), axis=0)).astype(np.int64)
            ids[i] = tid
        self._tracks = tracks
        return out, ids
