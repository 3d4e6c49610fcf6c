"""The face tab's camera mode end to end: Debian's Chromium with its fake camera, fed a
generated .y4m video of the astronaut's head moving across the coffee photo.

Oracle: vedere's detector run here on the video's frames, JPEG-compressed as the page
sends them: each box the page gets back is one of those (IoU >= 0.5), and is drawn in green
over the video.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright
from skimage import data as skdata

from vedere.detect import detector
from vedere.detect.library import resolve_cascade
from vedere.detect.samples import to_gray
from vedere.detect.tracking import iou

from .browser import launch_chromium, playground_server

pytestmark = pytest.mark.slow  # drives a browser

TIMEOUT = 60_000  # ms: two cores share the server, Chromium and the tests
W, H, N = 320, 240, 20
HEAD = 110  # pixels: the pasted head's width


def head_positions() -> list[tuple[int, int]]:
    return [(10 + 8 * i, 50 + 2 * (i % 4)) for i in range(N)]


def frames() -> list[np.ndarray]:
    head = skdata.astronaut()[20:230, 130:330]
    size = (HEAD, round(HEAD * 1.05))
    head = np.asarray(Image.fromarray(head).resize(size, Image.Resampling.BILINEAR))
    bg = np.asarray(Image.fromarray(skdata.coffee()).resize((W, H), Image.Resampling.BILINEAR))
    out = []
    for x, y in head_positions():
        f = bg.copy()
        f[y : y + head.shape[0], x : x + head.shape[1]] = head
        out.append(f)
    return out


def write_y4m(path: Path, rgb_frames: list[np.ndarray], fps: int = 10) -> Path:
    """A YUV4MPEG2 file (4:2:0, what Chromium's fake capture device reads): a header line,
    then per frame ``FRAME`` and the Y, U and V planes."""
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in rgb_frames:
            yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            f.write(b"FRAME\n" + yuv.to_ndarray().tobytes())  # (H * 3/2, W): Y, U, V
    return path


def detect_jpeg(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=85)
    gray = to_gray(np.asarray(Image.open(buf).convert("RGB")))
    return detector.detect(gray, resolve_cascade("frontalface")).boxes


@pytest.fixture(scope="module")
def y4m(tmp_path_factory):
    return write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", frames())


@pytest.fixture(scope="module")
def page(y4m):
    fake = (
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
    )
    with playground_server() as url, sync_playwright() as p:
        browser = launch_chromium(p, fake)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        context.set_default_timeout(TIMEOUT)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(url)
        yield pg
        context.close()
        browser.close()
        assert errors == []


def test_camera_frames_get_face_boxes_drawn_over_the_video(page):
    page.click("#tab-faces")
    page.check('input[name="face-mode"][value="camera"]')
    expect(page.locator("#face-upload")).to_be_hidden()
    page.click("#camera-toggle")
    expect(page.locator("#camera-toggle")).to_have_text("Stop camera", timeout=TIMEOUT)
    page.wait_for_function(
        "window.vedere.camera.frames >= 3 && window.vedere.camera.boxes.length > 0",
        timeout=TIMEOUT,
    )
    cam = page.evaluate("window.vedere.camera")
    assert cam["sent"] == [W, H]  # the fake camera's frames are the file's size
    expect(page.locator("#camera-status")).to_contain_text(" frames/s")
    assert cam["fps"] > 0
    # every box is what the detector finds in one of the video's frames (JPEG-compressed
    # as the page sends them; the browser's YUV->RGB conversion differs slightly, so IoU)
    oracle = np.concatenate([detect_jpeg(f) for f in frames()])
    assert len(oracle) == N  # one face a frame, none elsewhere
    for b in cam["boxes"]:
        box = np.array([[b["x"], b["y"], b["w"], b["h"]]])
        assert iou(box, oracle).max() >= 0.5, (b, oracle.tolist())
    # the boxes are drawn over the video: green along the top edge of the latest box
    # freeze the overlay and the video
    page.evaluate("window.vedere.camera.running = false; document.querySelector('video').pause()")
    page.wait_for_timeout(300)
    cam = page.evaluate("window.vedere.camera")
    shot = page.locator(".camera-view").screenshot()
    img = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), np.int16)
    f = img.shape[1] / W
    for b in cam["boxes"]:
        row = img[round(b["y"] * f), round((b["x"] + 4) * f) : round((b["x"] + b["w"] - 4) * f)]
        assert (np.abs(row - [0x39, 0xFF, 0x14]).max(axis=1) < 60).mean() > 0.8
    page.click("#camera-toggle")
    expect(page.locator("#camera-toggle")).to_have_text("Start camera")
    assert page.evaluate("window.vedere.camera.stream === null")
    # leaving the tab turns the camera off too
    page.click("#camera-toggle")
    page.wait_for_function("window.vedere.camera.running && window.vedere.camera.stream")
    page.click("#tab-image")
    page.wait_for_function("window.vedere.camera.stream === null && !window.vedere.camera.running")
    page.click("#tab-faces")
    expect(page.locator("#camera-toggle")).to_have_text("Start camera")
