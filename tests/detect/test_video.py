"""Face detection on video files (:mod:`vedere.detect.video`) and ``vedere detect VIDEO``.

The test video is made here: the astronaut's head (scikit-image) moving across the coffee
photo, 160x120, 24 frames, encoded with PyAV. Oracle for the boxes: the frames decoded
independently with PyAV and passed one by one to ``detector.detect``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from vedere.cli.main import cli
from vedere.detect import detector, tracking, video, video_file
from vedere.detect.library import resolve_cascade
from vedere.detect.samples import to_gray

W, H, N = 160, 120, 16


def face_frames(n: int = N, w: int = W, h: int = H) -> list[np.ndarray]:
    """RGB frames: the astronaut's head (64 px wide) moving right by 3 px a frame."""
    head = data.astronaut()[20:230, 130:330]
    head = np.asarray(Image.fromarray(head).resize((64, 67), Image.Resampling.BILINEAR))
    bg = np.asarray(Image.fromarray(data.coffee()).resize((w, h), Image.Resampling.BILINEAR))
    out = []
    for i in range(n):
        f = bg.copy()
        x, y = 4 + 3 * i, 20 + i % 5
        f[y : y + head.shape[0], x : x + head.shape[1]] = head
        out.append(f)
    return out


def write_video(
    path: Path,
    frames: list[np.ndarray],
    options: dict | None = None,
    codec: str | None = None,
    pix_fmt: str = "yuv420p",
) -> Path:
    fmt, default_codec = video_file.ENCODERS[path.suffix]
    codec = codec or default_codec
    with av.open(str(path), "w", format=fmt, options=options or {}) as c:
        s = c.add_stream(codec, rate=10)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def decode(path: Path) -> list[np.ndarray]:
    """Every frame of a video as RGB, by PyAV's plain decode loop."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def cut_in_middle(path: Path, dst: Path) -> Path:
    """``path`` truncated halfway through the data of its middle frame."""
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    pos, size = packets[N // 2]
    dst.write_bytes(path.read_bytes()[: pos + size // 2])
    return dst


def boxes_of(records: list[dict]) -> list[list[tuple[int, int, int, int]]]:
    return [[(b["x"], b["y"], b["w"], b["h"]) for b in r["boxes"]] for r in records]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def cascade():
    return resolve_cascade("frontalface")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    frames = face_frames()
    write_video(d / "faces.mp4", frames)
    write_video(d / "faststart.mp4", frames, {"movflags": "faststart"})
    write_video(d / "faces.mkv", frames)
    return d


@pytest.fixture(scope="module")
def expected(videos, cascade):
    """Per-frame boxes of faces.mp4 by per-image detection on its decoded frames."""
    frames = decode(videos / "faces.mp4")
    assert len(frames) == N
    return [[tuple(b) for b in detector.detect(to_gray(f), cascade).boxes.tolist()] for f in frames]


def test_per_frame_boxes_equal_per_image_detect(videos, cascade, expected, tmp_path):
    records: list[dict] = []
    res = video.detect_video(
        videos / "faces.mp4", cascade, boxes_out=tmp_path / "b.jsonl", on_frame=records.append
    )
    assert boxes_of(records) == expected
    assert sum(bool(b) for b in expected) >= N - 2  # the face is found: the test has teeth
    assert [r["frame"] for r in records] == list(range(N))
    assert [r["time"] for r in records] == pytest.approx([i / 10 for i in range(N)])
    lines = (tmp_path / "b.jsonl").read_text().splitlines()
    assert [json.loads(s) for s in lines] == records
    assert (res.frames, res.with_boxes, res.error) == (N, sum(bool(b) for b in expected), None)
    assert (res.info.width, res.info.height, res.info.rate) == (W, H, 10)


def test_cli_json_lines_boxes_file_and_annotated_video(videos, expected, tmp_path):
    out, jsonl = tmp_path / "annotated.mp4", tmp_path / "boxes.jsonl"
    r = run("detect", videos / "faces.mp4", "--json", "--out", out, "--boxes", jsonl)
    assert r.exit_code == 0, r.output
    printed = [json.loads(s) for s in r.stdout.splitlines()]
    assert printed == [json.loads(s) for s in jsonl.read_text().splitlines()]
    assert boxes_of(printed) == expected
    frames = decode(out)
    assert len(frames) == N and frames[0].shape == (H, W, 3)
    # a box drawn in green: along its top edge green dominates (the coffee photo is brown)
    i = next(k for k, b in enumerate(expected) if b)
    x, y, w, _ = expected[i][0]
    edge = frames[i][y, x + 2 : x + w - 2].astype(int)
    assert (edge[:, 1] - edge[:, 0] > 80).mean() > 0.8
    assert "frames/s" in r.stderr or "frame/s" in r.stderr  # the progress bar's rate


def test_cli_text_output(videos, expected):
    r = run("detect", videos / "faces.mp4")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    x, y, w, h = expected[0][0]
    assert lines[0] == f"frame 0 (0.00 s): 1 box x={x} y={y} w={w} h={h}"
    n_with = sum(bool(b) for b in expected)
    head = f"{videos / 'faces.mp4'}: {N} frames ({W}x{H}, 10 frames/s), boxes in {n_with}, "
    assert re.fullmatch(re.escape(head) + r"scanned at \d+\.\d frames/s", lines[-1]), lines[-1]


def test_out_jsonl_is_the_boxes_file(videos, expected, tmp_path):
    r = run("detect", videos / "faces.mp4", "--out", tmp_path / "b.jsonl", "--json")
    assert r.exit_code == 0, r.output
    lines = [json.loads(s) for s in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert boxes_of(lines) == expected
    assert lines == [json.loads(s) for s in r.stdout.splitlines()]


def test_box_smoother_worked_example():
    s = tracking.BoxSmoother(window=3)
    b, ids = s.update(np.array([[0, 0, 10, 10]]))
    assert b.tolist() == [[0, 0, 10, 10]] and ids.tolist() == [0]
    # the box moved by 2 (IoU 0.67): same track, mean of (0, 2) = 1
    b, ids = s.update(np.array([[100, 100, 20, 20], [2, 0, 10, 10]]))
    assert b.tolist() == [[100, 100, 20, 20], [1, 0, 10, 10]] and ids.tolist() == [1, 0]
    b, ids = s.update(np.array([[4, 0, 10, 10], [102, 100, 20, 20]]))
    assert b.tolist() == [[2, 0, 10, 10], [101, 100, 20, 20]] and ids.tolist() == [0, 1]
    # window 3: the first box (x=0) leaves the mean of 2, 4, 9 -> 5
    b, ids = s.update(np.array([[9, 0, 10, 10]]))
    assert b.tolist() == [[5, 0, 10, 10]] and ids.tolist() == [0]
    # no overlap (IoU 0 < 0.3): a new track; track 1 ended with its missing frame
    b, ids = s.update(np.array([[50, 50, 10, 10]]))
    assert b.tolist() == [[50, 50, 10, 10]] and ids.tolist() == [2]
    b, ids = s.update(np.zeros((0, 4)))
    assert b.shape == (0, 4)


def test_box_smoother_refuses_too_many_boxes(monkeypatch):
    monkeypatch.setattr(tracking, "MAX_BOXES", 3)
    s = tracking.BoxSmoother()
    s.update(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="at most 3 boxes a frame, got 4"):
        s.update(np.zeros((4, 4)))


def test_the_decoder_has_ffmpegs_pixel_cap_too(videos, monkeypatch):
    """Frames over the cap are refused by FFmpeg itself too (should a stream's frames be
    larger than its header says): with the cap lowered after the header check, the decoder
    refuses to start, before vedere's own check of the first frame would."""
    header = video_file._info

    def then_lower_the_cap(*args):
        out = header(*args)
        monkeypatch.setattr(video_file, "MAX_PIXELS", 100)
        return out

    monkeypatch.setattr(video_file, "_info", then_lower_the_cap)
    with video_file.open_video(videos / "faces.mp4") as (_, frames):
        with pytest.raises(video_file.VideoError, match=r"corrupt video \(FFmpeg: .*at frame 0$"):
            next(frames)


def test_iou_against_worked_numbers():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]])
    assert tracking.iou(a, b).tolist() == [[50 / 150, 0.0, 1.0]]


def test_track_smooths_positions_but_keeps_counts(videos, expected):
    r = run("detect", videos / "faces.mp4", "--json", "--track")
    assert r.exit_code == 0, r.output
    recs = [json.loads(s) for s in r.stdout.splitlines()]
    assert [len(x["boxes"]) for x in recs] == [len(b) for b in expected]
    # the face moves steadily right: each smoothed x is the mean of its track's last 5 raw x
    raw_x: list[int] = []
    for rec, raw in zip(recs, expected, strict=True):
        if len(raw) != 1 or len(rec["boxes"]) != 1:
            raw_x = []
            continue
        raw_x = [*raw_x, raw[0][0]][-tracking.FRAMES :]
        assert rec["boxes"][0]["x"] == round(float(np.mean(raw_x)))
        assert rec["boxes"][0]["track"] == recs[0]["boxes"][0]["track"]


# ---------------------------------------------------------------- broken files


def test_truncated_video_keeps_the_frames_before_the_break(videos, tmp_path):
    src = cut_in_middle(videos / "faststart.mp4", tmp_path / "cut.mp4")
    out, jsonl = tmp_path / "annotated.mp4", tmp_path / "boxes.jsonl"
    r = run("detect", src, "--json", "--out", out, "--boxes", jsonl)
    assert r.exit_code == 1
    err = r.stderr.strip().splitlines()[-1]
    assert err.startswith(f"error: {src}: truncated or corrupt video")
    n = int(err.rsplit("at frame ", 1)[1])
    assert N // 2 - 4 <= n <= N // 2  # the frames whose data is complete (B-frames may wait)
    printed = [json.loads(s) for s in r.stdout.splitlines()]
    assert [p["frame"] for p in printed] == list(range(n))
    assert [json.loads(s) for s in jsonl.read_text().splitlines()] == printed
    assert len(decode(out)) == n  # a valid video of the frames before the break


def test_truncated_mkv_is_short_of_its_duration(videos, tmp_path):
    src = cut_in_middle(videos / "faces.mkv", tmp_path / "cut.mkv")
    with pytest.raises(
        video_file.VideoError,
        match=r"truncated or corrupt video \((\d+) of the 16 frames it declares\) at frame \1$",
    ) as e:
        video.detect_video(src, resolve_cascade("frontalface"), out=tmp_path / "a.webm")
    assert 0 < e.value.frame < N
    assert len(decode(tmp_path / "a.webm")) == e.value.frame


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("moov_at_end.mp4", "half", "not a readable video"),
        ("garbage.mp4", bytes(range(256)) * 40, "not a readable video"),
        ("empty.mp4", b"", "the file is empty"),
        ("text.avi", b"hello, not a video\n" * 50, "not a readable video"),
        ("image.mkv", "png", "not a readable video"),
        ("playlist.mp4", b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
         "not a readable video"),
        ("concat.mp4", b"ffconcat version 1.0\nfile faces.mp4\n", "not a readable video"),
    ],
)  # fmt: skip
def test_broken_files_are_one_line_errors(videos, tmp_path, name, content, problem):
    src = tmp_path / name
    if content == "half":
        whole = (videos / "faces.mp4").read_bytes()  # its index (moov) is at the end
        content = whole[: len(whole) // 2]
    elif content == "png":
        Image.fromarray(face_frames(1)[0]).save(src, format="PNG")
    if isinstance(content, bytes):
        src.write_bytes(content)
    (tmp_path / "faces.mp4").write_bytes((videos / "faces.mp4").read_bytes())
    out = tmp_path / "annotated.mp4"
    r = run("detect", src, "--out", out, "--boxes", tmp_path / "b.jsonl")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr.splitlines()[-1].startswith(f"error: {src}: {problem}")
    assert "Traceback" not in r.output
    assert not out.exists() and not (tmp_path / "b.jsonl").exists()


def test_a_rare_codec_is_refused_before_decoding(tmp_path):
    src = write_video(tmp_path / "rare.avi", face_frames(2), codec="huffyuv", pix_fmt="yuv422p")
    assert len(decode(src)) == 2  # FFmpeg would decode it
    r = run("detect", src)
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: {src}: its codec 'huffyuv' is not one vedere decodes (")


def test_missing_file_and_a_folder(tmp_path):
    r = run("detect", tmp_path / "nope.mp4")
    assert r.exit_code == 1 and r.stderr.startswith(f"error: {tmp_path / 'nope.mp4'}: cannot open")
    (tmp_path / "dir.mp4").mkdir()
    problem = r"dir\.mp4: (cannot open it|not a regular file)"
    with pytest.raises(video_file.VideoError, match=problem):
        video_file.probe(tmp_path / "dir.mp4")


def test_frame_size_is_capped_before_decoding(videos, monkeypatch):
    monkeypatch.setattr(video_file, "MAX_PIXELS", W * H - 1)
    decoded = []
    monkeypatch.setattr(video_file, "_frames", lambda *a: decoded.append(1))
    with pytest.raises(video_file.VideoError, match=r"frames of 160x120 pixels; at most 19,199"):
        video.detect_video(videos / "faces.mp4", resolve_cascade("frontalface"))
    assert decoded == []


def test_video_options_need_one_video(videos, tmp_path):
    img = tmp_path / "a.png"
    Image.fromarray(face_frames(1)[0]).save(img)
    for args in [(videos / "faces.mp4", img), (img, "--track"), (img, "--boxes", "b.jsonl")]:
        r = run("detect", *args)
        assert r.exit_code == 2 and "a video must be the only input" in r.output
    r = run("detect", videos / "faces.mp4", "--out", tmp_path / "a.png")
    assert r.exit_code == 1 and "an annotated video needs one of the suffixes" in r.stderr


def test_y4m_input_and_odd_sizes_padded_in_the_output(cascade, tmp_path):
    frames = [f[:119, :157] for f in face_frames(5)]  # 157x119: odd both ways
    src = tmp_path / "odd.y4m"
    with av.open(str(src), "w", format="yuv4mpegpipe") as c:
        s = c.add_stream("rawvideo", rate=5)
        s.width, s.height, s.pix_fmt = 157, 119, "yuv444p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    records: list[dict] = []
    video.detect_video(src, cascade, out=tmp_path / "a.avi", on_frame=records.append)
    oracle = [detector.detect(to_gray(f), cascade).boxes.tolist() for f in decode(src)]
    assert [[list(b) for b in r] for r in boxes_of(records)] == oracle
    assert sum(bool(b) for b in oracle) >= 4
    assert {(r["width"], r["height"]) for r in records} == {(157, 119)}
    out = decode(tmp_path / "a.avi")
    assert len(out) == 5 and out[0].shape == (120, 158, 3)  # one edge row and column added


def test_max_pixels_shrinks_frames_as_it_shrinks_images(videos, cascade, expected):
    records: list[dict] = []
    small = W * H // 2
    video.detect_video(videos / "faces.mp4", cascade, max_pixels=small, on_frame=records.append)
    frames = decode(videos / "faces.mp4")[:4]
    oracle = [detector.detect_scaled(to_gray(f), cascade, small)[0].boxes.tolist() for f in frames]
    assert [[list(b) for b in r] for r in boxes_of(records[:4])] == oracle
    # shrunk, the 25-pixel faces fall under the 24-pixel window: the cap was applied
    assert oracle != [[list(b) for b in r] for r in expected[:4]]
