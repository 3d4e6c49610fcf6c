"""Multi-block local binary patterns (MB-LBP; Liao et al. 2007), the features of OpenCV's
``lbpcascade_*`` files.

A feature is a block size (w, h) and the top-left corner (x, y) of a 3×3 grid of such
blocks (3w × 3h pixels in all). Its value on a window is an 8-bit code: one bit per outer
block, set when that block's pixel sum is at least the centre block's, read clockwise from
the top-left block as OpenCV does::

    128  64  32
      1   ·  16
      2   4   8

Every block sum is four look-ups in the padded integral image (16 grid corners for the
nine blocks), in integers: no variance normalisation (an LBP code does not change when the
grey levels are scaled or shifted). A weak classifier over a code is categorical: a 256-bit
set (eight 32-bit words, OpenCV's "subset") of the codes that take the left leaf.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: (block row, block column) of the outer blocks from the most significant bit down
BIT_BLOCKS = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))
#: per bit, the grid corner at the top-left of its block (corner (i, j) of the 4×4 at 4i + j)
BIT_CORNERS = np.array([4 * i + j for i, j in BIT_BLOCKS], dtype=np.int64)
#: 32-bit words in a weak classifier's set of 256 codes
SUBSET_WORDS = 8


@dataclass
class LBPFeatures:
    """``rects`` (F, 4) int32 rows (x, y, w, h): the grid's top-left corner and one block's
    size, in window coordinates."""

    rects: np.ndarray

    def __post_init__(self) -> None:
        raw = np.asarray(self.rects)
        if raw.size and raw.dtype.kind in "iuf":
            lo, hi = np.iinfo(np.int32).min, np.iinfo(np.int32).max
            if not (np.isfinite(raw).all() and raw.min() >= lo and raw.max() <= hi):
                raise ValueError("LBP block coordinates must be int32 integers")
        self.rects = raw.astype(np.int32).reshape(-1, 4)

    def __len__(self) -> int:
        return int(self.rects.shape[0])

    def __getitem__(self, index: slice | np.ndarray | list[int]) -> LBPFeatures:
        return LBPFeatures(self.rects[index])

    def check_window(self, height: int, width: int) -> None:
        """Raise ValueError if a feature's 3×3 grid leaves the height×width window."""
        x, y, w, h = (self.rects[:, i].astype(np.int64) for i in range(4))
        bad = (x < 0) | (y < 0) | (w <= 0) | (h <= 0) | (x + 3 * w > width)
        bad |= y + 3 * h > height
        if bad.any():
            f = int(np.argmax(bad))
            raise ValueError(
                f"LBP feature {f} has blocks outside the {width}x{height} window: "
                f"{self.rects[f].tolist()}"
            )

    def corners(self, stride: int) -> np.ndarray:
        """(F, 16) int64 flat offsets of the grid's corners (row i, column j at 4i + j) in an
        integral image with row length ``stride``, from the window's origin."""
        x, y, w, h = (self.rects[:, i].astype(np.int64) for i in range(4))
        i = np.arange(4)
        rows = (y[:, None, None] + i[None, :, None] * h[:, None, None]) * stride
        cols = x[:, None, None] + i[None, None, :] * w[:, None, None]
        return (rows + cols).reshape(len(self), 16)

    def values(self, ii: np.ndarray) -> np.ndarray:
        """The codes (F, N) int64 in [0, 255] on a stack of padded integral images
        (N, H + 1, W + 1)."""
        stack = ii.reshape(ii.shape[0], ii.shape[1] * ii.shape[2]).astype(np.int64)
        ofs = self.corners(ii.shape[-1])

        def block(r: int, c: int) -> np.ndarray:  # (N, F)
            a = 4 * r + c
            return (
                stack[:, ofs[:, a]]
                - stack[:, ofs[:, a + 1]]
                - stack[:, ofs[:, a + 4]]
                + stack[:, ofs[:, a + 5]]
            )

        centre = block(1, 1)
        code = np.zeros(centre.shape, dtype=np.int64)
        for bit, (r, c) in enumerate(BIT_BLOCKS):
            code |= (block(r, c) >= centre).astype(np.int64) << (7 - bit)
        return code.T


def in_subset(subsets: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Whether each code (any shape, ints in [0, 255]) is in its 256-bit set (``subsets``
    (..., 8) int32, broadcast against ``codes``): bit c & 31 of word c >> 5."""
    codes = np.asarray(codes, dtype=np.int64)
    words = np.asarray(subsets).astype(np.int64) & 0xFFFFFFFF
    shape = np.broadcast_shapes(words.shape[:-1], codes.shape)
    words = np.broadcast_to(words, (*shape, words.shape[-1]))
    codes = np.broadcast_to(codes, shape)
    word = np.take_along_axis(words, (codes >> 5)[..., None], axis=-1)[..., 0]
    return ((word >> (codes & 31)) & 1).astype(bool)


def subset_of(codes: np.ndarray) -> np.ndarray:
    """The 256-bit set (8,) int32 of the given codes (OpenCV's signed 32-bit words)."""
    bits = np.zeros(256, dtype=bool)
    bits[np.asarray(codes, dtype=np.int64)] = True
    words = np.zeros(SUBSET_WORDS, dtype=np.int64)
    for c in np.flatnonzero(bits):
        words[c >> 5] |= 1 << (c & 31)
    return words.astype(np.uint32).view(np.int32)


def enumerate_lbp_features(height: int = 24, width: int = 24) -> LBPFeatures:
    """Every grid in a height×width window (as ``opencv_traincascade -featureType LBP``):
    block sizes w ≤ width/3, h ≤ height/3 at every position where the grid fits."""
    out = []
    for w in range(1, width // 3 + 1):
        for h in range(1, height // 3 + 1):
            ys, xs = np.mgrid[0 : height - 3 * h + 1, 0 : width - 3 * w + 1]
            n = xs.size
            out.append(np.column_stack([xs.ravel(), ys.ravel(), np.full(n, w), np.full(n, h)]))
    if not out:
        return LBPFeatures(np.zeros((0, 4), np.int32))
    return LBPFeatures(np.concatenate(out).astype(np.int32))
