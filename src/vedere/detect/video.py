"""Face detection on video files, frame by frame, with PyAV (FFmpeg) decoding and encoding.

Each decoded frame is converted to RGB (``rgb24``), to grey with
:func:`vedere.detect.samples.to_gray` (0.299 R + 0.587 G + 0.114 B, as for an image file),
and scanned with :func:`vedere.detect.detector.detect`: a frame's boxes are exactly what
``vedere detect`` finds in that frame saved as a PNG.

**Reading hostile files**: :mod:`vedere.detect.video_file` (only regular files, a whitelist
of demuxers and decoders, the frame size capped before decoding); a file that stops decoding
is a :class:`~vedere.detect.video_file.VideoError` naming the frame where it broke, and the
frames decoded before it are still annotated, written and reported.

**Tracking** (``track=True``): boxes smoothed over frames by
:class:`vedere.detect.tracking.BoxSmoother`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..escape import printable
from ..fileio import atomic_write, check_outputs
from . import detector
from .cascade import Cascade
from .detector import Detections
from .samples import to_gray
from .tracking import BoxSmoother
from .video_file import (
    ENCODERS,
    Frame,
    FrameEncoder,
    VideoError,
    VideoInfo,
    open_video,
)


@dataclass
class VideoResult:
    """What :func:`detect_video` did: the header, frames processed, frames with a box, the
    seconds it took, and the error where the file broke (None if it was read to the end)."""

    info: VideoInfo
    frames: int = 0
    with_boxes: int = 0
    seconds: float = 0.0
    error: VideoError | None = None


def _outputs(paths: list[Path | None], body: Callable[[list[IO[bytes] | None]], Any]) -> Any:
    """Call ``body`` with one open temporary file per path (None stays None); each is renamed
    to its path when ``body`` returns, removed when it raises
    (:func:`vedere.fileio.atomic_write`)."""
    if not paths:
        return body([])
    head, rest = paths[0], paths[1:]
    if head is None:
        return _outputs(rest, lambda fs: body([None, *fs]))
    result = None

    def write(f: IO[bytes]) -> None:
        nonlocal result
        result = _outputs(rest, lambda fs: body([f, *fs]))

    atomic_write(head, write)
    return result


def _detect_frame(
    rgb: np.ndarray, cascade: Cascade, max_pixels: int | None, detect_kwargs: dict[str, Any]
) -> Detections:
    """The detections in one frame, scanned shrunk when it has more than ``max_pixels``."""
    gray = to_gray(rgb)
    if max_pixels is None:
        return detector.detect(gray, cascade, **detect_kwargs)
    return detector.detect_scaled(gray, cascade, max_pixels, **detect_kwargs)[0]


def _frame_record(
    fr: Frame, info: VideoInfo, found: Detections, smoother: BoxSmoother | None
) -> tuple[dict[str, Any], np.ndarray]:
    """A frame's record ``{"frame", "time", "width", "height", "boxes"}`` and the boxes to
    draw: the detections, or with a ``smoother`` their tracks' smoothed boxes (and ids)."""
    boxes = found.to_list()
    drawn = found.boxes
    if smoother is not None:
        drawn, ids = smoother.update(found.boxes)
        for b, s, t in zip(boxes, drawn.tolist(), ids.tolist(), strict=True):
            b.update(x=s[0], y=s[1], w=s[2], h=s[3], track=t)
    record = {
        "frame": fr.index,
        "time": fr.time,
        "width": info.width,
        "height": info.height,
        "boxes": boxes,
    }
    return record, drawn


def _checked_outputs(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None,
    boxes_out: str | os.PathLike[str] | None,
) -> Path | None:
    """The annotated video's path (None: none), refused before any frame is decoded when its
    suffix has no encoder, when an output is not a regular file, is the input video or is the
    other output."""
    out_path = Path(out) if out is not None else None
    if out_path is not None and out_path.suffix.lower() not in ENCODERS:
        raise ValueError(
            f"{out_path}: an annotated video needs one of the suffixes {', '.join(ENCODERS)}"
        )
    check_outputs([out_path, boxes_out], [path])
    return out_path


def detect_video(
    path: str | os.PathLike[str],
    cascade: Cascade,
    *,
    out: str | os.PathLike[str] | None = None,
    boxes_out: str | os.PathLike[str] | None = None,
    on_frame: Callable[[dict[str, Any]], None] | None = None,
    track: bool = False,
    progress: bool = False,
    max_pixels: int | None = None,
    **detect_kwargs: Any,
) -> VideoResult:
    """Detect in every frame of the video at ``path`` with ``cascade`` (``detect_kwargs`` go
    to :func:`vedere.detect.detector.detect`; with ``max_pixels``, frames larger than that
    are scanned shrunk by :func:`vedere.detect.detector.detect_scaled`, as images are).

    Each frame gives a record ``{"frame", "time", "width", "height", "boxes"}`` (boxes as
    :meth:`Detections.to_list`, plus ``"track"`` ids with ``track=True``), passed to
    ``on_frame`` and written as one JSON line to ``boxes_out``; ``out`` (a suffix of
    :data:`ENCODERS`) gets the frames with their boxes drawn. Both files are written
    atomically, also when the video breaks midway: they then hold the frames before the
    break, and the error is raised after they are in place. A progress bar (frames/s) goes
    to stderr with ``progress=True``.
    """
    from tqdm import tqdm

    from ..viz.boxes import draw_boxes

    out_path = _checked_outputs(path, out, boxes_out)
    with open_video(path) as (info, frames):
        result = VideoResult(info)
        smoother = BoxSmoother() if track else None
        paths = [out_path, Path(boxes_out) if boxes_out is not None else None]

        def run(files: list[IO[bytes] | None]) -> None:
            video_f, lines_f = files
            encoder = None
            t0 = time.perf_counter()
            bar = tqdm(
                total=info.expected_frames(),
                desc=printable(Path(path).name)[:30],
                unit="frame",
                disable=not progress,
                mininterval=0.5,
            )
            try:
                for fr in frames:
                    found = _detect_frame(fr.rgb, cascade, max_pixels, detect_kwargs)
                    record, drawn = _frame_record(fr, info, found, smoother)
                    boxes = record["boxes"]
                    if lines_f is not None:
                        lines_f.write(json.dumps(record).encode() + b"\n")
                    if video_f is not None:
                        if encoder is None:
                            encoder = FrameEncoder(
                                video_f, out_path.suffix.lower(), info.rate, str(out_path)
                            )  # type: ignore[union-attr]
                        labels = [str(b["neighbors"]) for b in boxes]
                        encoder.write(np.asarray(draw_boxes(fr.rgb, drawn, labels)))
                    if on_frame is not None:
                        on_frame(record)
                    result.frames += 1
                    result.with_boxes += bool(boxes)
                    bar.update(1)
            except VideoError as e:
                if result.frames == 0:
                    raise  # nothing to keep: no output file is written
                result.error = e
            finally:
                bar.close()
                if encoder is not None:
                    encoder.close()
                result.seconds = time.perf_counter() - t0

        _outputs(paths, run)
    if result.error is not None:
        raise result.error
    return result
