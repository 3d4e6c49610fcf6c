"""Video files with PyAV (FFmpeg): their header (:func:`probe`), their frames as RGB
(:func:`open_video`) and an encoder for annotated frames (:data:`ENCODERS`).

**Reading hostile files.** Only regular files, opened by vedere and handed to FFmpeg as a
Python file object, with FFmpeg's ``format_whitelist`` set to :data:`DEMUXERS` (MP4/MOV,
Matroska/WebM, AVI, Y4M) and ``protocol_whitelist`` to ``file``: playlists (HLS), concat
lists, images and other demuxers that could open further files or URLs are refused; only the
common decoders of :data:`DECODERS` are started. The frame size is checked against
:data:`MAX_PIXELS` from the header before decoding, FFmpeg's decoder gets the same cap
(``max_pixels``), and every frame is checked again before it is converted. A file that
stops decoding — an FFmpeg error, or fewer frames than its header declares (its frame count,
or its duration × frame rate) — is a :class:`VideoError` naming the frame where it broke;
the frames decoded before it are still annotated, written and reported.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..data.images import MAX_PIXELS
from ..errors import VedereError

#: file suffixes ``vedere detect`` treats as videos
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".y4m")
#: the only FFmpeg demuxers vedere lets read a file (no playlists, concat lists or images)
DEMUXERS = "mov,matroska,avi,yuv4mpegpipe"
#: the only video decoders vedere starts (FFmpeg's many rarer ones stay unused)
DECODERS = ("h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "libaom-av1", "mpeg4",
            "mpeg1video", "mpeg2video", "mjpeg", "theora", "rawvideo")  # fmt: skip
#: the output container and codec for each suffix --out may have
ENCODERS = {
    ".mp4": ("mp4", "libx264"),
    ".m4v": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
    ".avi": ("avi", "mpeg4"),
}
#: frame rate written when the input declares none (or an absurd one)
DEFAULT_RATE = Fraction(25)
MAX_RATE = 240
#: the slowest declared frame rate taken as real (one frame in 100 s); slower ones, like the
#: 1/4294967295 an AVI header may declare, are replaced by DEFAULT_RATE in the output
MIN_RATE = Fraction(1, 100)
#: what demuxing and decoding raise on a broken file (PyAV's FFmpegError is a ValueError)
DECODE_ERRORS = (ValueError, OSError, EOFError)


class VideoError(VedereError):
    """A video that cannot be read (``frame`` None: before any frame) or that broke at
    ``frame`` (0-based: the first frame that could not be decoded). The message reads
    ``FILE: problem at frame N``."""

    def __init__(self, path: str | os.PathLike[str], problem: str, frame: int | None = None):
        where = "" if frame is None else f" at frame {frame}"
        super().__init__(path, f"{problem}{where}")
        self.problem, self.frame = problem, frame


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether ``path``'s suffix is one of :data:`VIDEO_SUFFIXES`."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass
class Frame:
    """One decoded frame: ``index`` (0-based), ``time`` in seconds (None when the file has no
    timestamps) and ``rgb`` (H, W, 3) uint8."""

    index: int
    time: float | None
    rgb: np.ndarray


@dataclass
class VideoInfo:
    """What the header says: size, frame rate, declared frame count (0: unknown), duration
    in seconds (None: unknown) and the demuxer's name."""

    width: int
    height: int
    rate: Fraction | None
    frames: int
    duration: float | None
    format: str

    def expected_frames(self) -> int | None:
        """Frames the header promises: its count, else round(duration × rate), else None."""
        if self.frames > 0:
            return self.frames
        if self.duration and self.rate:
            return round(self.duration * float(self.rate))
        return None


def _av() -> Any:
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        raise ImportError("video needs PyAV: pip install av") from None
    return av


def _open_input(path: str | os.PathLike[str]) -> tuple[IO[bytes], Any]:
    """The open file and PyAV container of a video file (VideoError when it is not one)."""
    av = _av()
    try:
        fh = open(path, "rb")  # closed by the caller
    except OSError as e:
        raise VideoError(path, f"cannot open it ({e.strerror or e})") from None
    try:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise VideoError(path, "not a regular file")
        if st.st_size == 0:
            raise VideoError(path, "the file is empty")
        try:
            container = av.open(
                fh,
                options={"format_whitelist": DEMUXERS, "protocol_whitelist": "file"},
            )
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoError(
                path, f"not a readable video (MP4, MOV, MKV, WebM, AVI or Y4M): {_why(e)}"
            ) from None
    except BaseException:
        fh.close()
        raise
    return fh, container


def _why(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).split(":")[0].strip()[:120] or type(e).__name__


def _info(path: str | os.PathLike[str], container: Any) -> tuple[Any, VideoInfo]:
    if not container.streams.video:
        raise VideoError(path, "has no video stream")
    stream = container.streams.video[0]
    cc = stream.codec_context
    if cc.name not in DECODERS:
        raise VideoError(
            path, f"its codec {cc.name!r} is not one vedere decodes ({', '.join(DECODERS)})"
        )
    w, h = int(cc.width or 0), int(cc.height or 0)
    if w <= 0 or h <= 0:
        raise VideoError(path, f"the header declares a {w}x{h} frame")
    if w * h > MAX_PIXELS:
        raise VideoError(path, f"frames of {w}x{h} pixels; at most {MAX_PIXELS:,} are decoded")
    rate = stream.average_rate or stream.guessed_rate
    rate = Fraction(rate) if rate and MIN_RATE <= rate <= MAX_RATE else None
    if rate is not None:  # an encoder's time base must fit in 32 bits
        rate = rate.limit_denominator(1 << 16)
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    info = VideoInfo(w, h, rate, int(stream.frames or 0), duration, container.format.name)
    return stream, info


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """The header of a video file, without decoding a frame (VideoError if unreadable)."""
    fh, container = _open_input(path)
    with fh, container:
        return _info(path, container)[1]


@contextlib.contextmanager
def open_video(path: str | os.PathLike[str]) -> Iterator[tuple[VideoInfo, Iterator[Frame]]]:
    """``with open_video(p) as (info, frames):`` the header, and the frames in order, every
    one reformatted to the header's size. Iterating raises :class:`VideoError` (with the
    frame index) where the file breaks or ends before the frames its header declares."""
    fh, container = _open_input(path)
    with fh, container:
        stream, info = _info(path, container)
        # FFmpeg's own cap, for frames larger than the header said (its default: INT_MAX)
        stream.codec_context.options = {"max_pixels": str(MAX_PIXELS)}
        yield info, _frames(path, container, stream, info)


def _frames(
    path: str | os.PathLike[str], container: Any, stream: Any, info: VideoInfo
) -> Iterator[Frame]:
    n = 0

    def convert(fr: Any) -> Frame:
        if fr.width * fr.height > MAX_PIXELS:
            raise VideoError(path, f"a frame of {fr.width}x{fr.height} pixels", n)
        rgb = fr.to_ndarray(format="rgb24", width=info.width, height=info.height)
        t = float(fr.time) if fr.time is not None else None
        return Frame(n, t, rgb)

    broken: str | None = None
    try:
        for packet in container.demux(stream):
            for fr in packet.decode():
                yield convert(fr)
                n += 1
    except VideoError:
        raise
    except DECODE_ERRORS as e:
        broken = f"truncated or corrupt video (FFmpeg: {_why(e)})"
        try:  # the frames still inside the decoder
            for fr in stream.codec_context.decode(None):
                yield convert(fr)
                n += 1
        except VideoError:
            raise
        except DECODE_ERRORS:
            pass
    if broken is None:
        expected = info.expected_frames()
        # a declared count is exact; one from the duration may be off by one by rounding
        short = expected is not None and n < expected - (0 if info.frames > 0 else 1)
        if n == 0:
            broken = "truncated or corrupt video (no frame could be decoded)"
        elif short:
            broken = f"truncated or corrupt video ({n} of the {expected} frames it declares)"
    if broken is not None:
        raise VideoError(path, broken, n)


class FrameEncoder:
    """Annotated frames into a video container written to an open binary file; the stream is
    set up at the first frame (odd sizes padded by one edge row/column: yuv420p needs even)."""

    def __init__(self, f: IO[bytes], suffix: str, rate: Fraction | None, name: str = "") -> None:
        av = _av()
        self.name = name
        self.fmt, codec = ENCODERS[suffix]
        if codec not in av.codecs_available:
            codec = "mpeg4"
        self.codec, self.rate = codec, rate or DEFAULT_RATE
        self.container = av.open(f, "w", format=self.fmt)
        self.stream: Any = None
        self.n = 0

    def write(self, rgb: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame."""
        with self._named():
            self._write(rgb)

    @contextlib.contextmanager
    def _named(self) -> Iterator[None]:
        """FFmpeg's encoding errors as one ValueError naming the output file."""
        av = _av()
        try:
            yield
        except av.FFmpegError as e:
            raise ValueError(f"{self.name}: cannot encode the video ({_why(e)})") from None

    def _write(self, rgb: np.ndarray) -> None:
        av = _av()
        h, w = rgb.shape[:2]
        ph, pw = h % 2, w % 2
        if ph or pw:
            rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")
        if self.stream is None:
            self.stream = self.container.add_stream(self.codec, rate=self.rate)
            self.stream.width, self.stream.height = w + pw, h + ph
            self.stream.pix_fmt = "yuv420p"
            if self.codec == "libx264":
                self.stream.options = {"preset": "veryfast"}
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.n
        self.n += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the container (the file object stays open)."""
        with self._named():
            if self.stream is not None:
                for packet in self.stream.encode(None):
                    self.container.mux(packet)
            self.container.close()
