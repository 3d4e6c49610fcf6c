"""End to end: the playground page in real headless Chromium, driven by Playwright.

One ``vedere playground`` server for the module; each test opens its own browser context
(its own page and session). Oracles: the toy generators for the points, ``vedere predict``'s
code path for the probabilities, OpenCV running the shipped cascade for the boxes.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright
from skimage import data as skdata

from vedere.classify import run
from vedere.data import toy
from vedere.detect.library import resolve_cascade
from vedere.detect.opencv_xml import to_xml
from vedere.detect.samples import to_gray
from vedere.web import uploads

from .browser import launch_chromium, playground_server

pytestmark = pytest.mark.slow  # drives a browser

TIMEOUT = 30_000  # ms: generous, two cores share the server, Chromium and the tests
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def url():
    with playground_server() as u:
        yield u


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, url):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    context.set_default_timeout(TIMEOUT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(url)
    pg.wait_for_function("window.vedere.frames > 0 && window.vedere.points !== null")
    yield pg
    context.close()
    assert errors == []


def health(url: str) -> dict:
    with urllib.request.urlopen(url + "api/health", timeout=10) as r:
        return json.loads(r.read())


def wait_until(cond, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def plane_image(pg: Page) -> np.ndarray:
    data = pg.locator("#plane").screenshot()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def all_points(pg: Page) -> list[tuple[float, float, int]]:
    pts = pg.evaluate("window.vedere.points")
    return sorted((round(x, 5), round(y, 5), c) for x, y, c in pts["train"] + pts["test"])


def toy_points(name: str) -> list[tuple[float, float, int]]:
    """The page's default points of ``name`` as the toy generator makes them."""
    x, y = toy.make(name, n=400, noise=0.05, seed=0)
    return sorted(
        (round(float(p), 5), round(float(q), 5), int(c)) for (p, q), c in zip(x, y, strict=True)
    )


def test_page_loads_with_its_controls(page):
    expect(page).to_have_title("vedere playground")
    assert page.locator("#dataset option").all_inner_texts() == list(toy.DATASETS)
    assert page.input_value("#dataset") == "spirals"
    assert page.input_value("#layers") == "8, 8"
    expect(page.locator("#point-count")).to_have_text("280 training / 120 test points")
    expect(page.locator("#epoch")).to_have_text("0")
    # the spirals drawn are the toy generator's
    assert all_points(page) == toy_points("spirals")
    # one picture per hidden unit: two layers of 8
    assert page.locator("#neurons .layer").count() == 2
    assert page.locator("#neurons canvas").count() == 16


def test_training_makes_the_test_loss_fall_and_the_boundary_change(page):
    before = plane_image(page)
    loss0 = float(page.inner_text("#test-loss"))
    page.click("#start")
    expect(page.locator("#start")).to_have_text("Pause")
    page.wait_for_function(
        f"window.vedere.frame.epoch >= 30 && window.vedere.frame.test_loss < {0.5 * loss0}"
    )
    frames = page.evaluate("window.vedere.frames")
    page.wait_for_function(f"window.vedere.frames >= {frames + 3}")  # a stream, not one update
    page.click("#start")
    expect(page.locator("#start")).to_have_text("Start")
    after = plane_image(page)
    changed = np.abs(after - before).max(axis=2) > 30
    assert changed.mean() > 0.05  # the decision regions moved
    assert float(page.inner_text("#test-loss")) < 0.5 * loss0
    hist = page.evaluate("window.vedere.history")
    assert len(hist) >= 5 and hist[-1][2] < hist[0][2]
    epoch = page.evaluate("window.vedere.frame.epoch")
    time.sleep(0.5)
    assert page.evaluate("window.vedere.frame.epoch") == epoch  # paused


def test_a_click_adds_a_point_where_clicked(page):
    page.check('input[name="click-class"][value="1"]')
    box = page.locator("#plane").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25)
    expect(page.locator("#point-count")).to_have_text("281 training / 120 test points")
    x, y, label = page.evaluate("window.vedere.points.train.at(-1)")
    extent = page.evaluate("window.vedere.info.extent")
    assert label == 1
    assert x == pytest.approx(0.5 * extent, abs=0.02) and y == pytest.approx(0.5 * extent, abs=0.02)
    # the point is drawn: its pixel has class 1's blue
    r, _, b = plane_image(page)[int(box["height"] * 0.25), int(box["width"] * 0.75)]
    assert b > 150 and r < 60


def test_invalid_settings_get_a_message_and_a_400(page):
    page.fill("#lr", "-1")
    with page.expect_response("**/config") as resp:
        page.dispatch_event("#lr", "change")
    assert resp.value.status == 400
    expect(page.locator("#train-message")).to_be_visible()
    expect(page.locator("#train-message")).to_contain_text("lr: must be between 0 and 10")
    expect(page.locator("#lr")).to_have_class("invalid")
    page.fill("#layers", "4, many")
    with page.expect_response("**/config") as resp:
        page.dispatch_event("#layers", "change")
    assert resp.value.status == 400
    expect(page.locator("#train-message")).to_contain_text("layers: must be a number")
    # a valid change clears the message and rebuilds the network
    page.fill("#layers", "3")
    page.dispatch_event("#layers", "change")
    expect(page.locator("#train-message")).to_be_hidden()
    expect(page.locator("#neurons canvas")).to_have_count(3)


def test_layer_buttons(page):
    page.click("#add-layer")
    expect(page.locator("#layers")).to_have_value("8, 8, 8")
    expect(page.locator("#neurons .layer")).to_have_count(3)
    for _ in range(3):
        page.click("#remove-layer")
    expect(page.locator("#layers")).to_have_value("")
    expect(page.locator("#neurons")).to_have_text("no hidden layer: a linear classifier")
    page.click("#add-layer")
    expect(page.locator("#layers")).to_have_value("4")
    expect(page.locator("#neurons canvas")).to_have_count(4)


def test_a_divergent_learning_rate_is_reported(page):
    page.select_option("#optimizer", "sgd")
    page.select_option("#activation", "leaky_relu")
    for field, value in (("#batch_size", "1"), ("#lr", "10")):
        page.fill(field, value)
        page.dispatch_event(field, "change")
    expect(page.locator("#lr")).to_have_value("10")
    page.click("#step")
    expect(page.locator("#train-message")).to_contain_text(
        "the loss diverged at epoch 1 (learning rate 10)"
    )
    with page.expect_response("**/start") as resp:
        page.click("#start")
    assert resp.value.status == 409
    expect(page.locator("#train-message")).to_contain_text("lower the learning rate")


def test_two_sessions_stay_isolated(browser, url):
    contexts = [browser.new_context() for _ in range(2)]
    a, b = (c.new_page() for c in contexts)
    for pg in (a, b):
        pg.set_default_timeout(TIMEOUT)
        pg.goto(url)
        pg.wait_for_function("window.vedere.frames > 0 && window.vedere.points !== null")
    b.select_option("#dataset", "xor")
    b.fill("#layers", "4")
    b.dispatch_event("#layers", "change")
    expect(b.locator("#neurons canvas")).to_have_count(4)
    assert a.evaluate("window.vedere.session") != b.evaluate("window.vedere.session")
    for pg in (a, b):
        pg.click("#start")
    for pg in (a, b):
        pg.wait_for_function("window.vedere.frame.epoch >= 20")
    a.click("#start")  # pause a; b goes on
    expect(a.locator("#start")).to_have_text("Start")
    a.wait_for_function("!window.vedere.frame.running")  # the training thread's last frame
    ea, eb = (pg.evaluate("window.vedere.frame.epoch") for pg in (a, b))
    b.wait_for_function(f"window.vedere.frame.epoch > {eb + 10}")
    assert a.evaluate("window.vedere.frame.epoch") == ea
    assert all_points(a) == toy_points("spirals")
    assert all_points(b) == toy_points("xor")
    assert a.locator("#neurons canvas").count() == 16
    assert b.locator("#neurons canvas").count() == 4
    for c in contexts:
        c.close()


def test_a_session_closed_mid_training_is_freed(browser, url):
    # the sessions of earlier tests' closed pages are freed first, then only this one is open
    assert wait_until(lambda: health(url)["sessions"] == 0, 20), health(url)
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT)
    pg.goto(url)
    pg.wait_for_function("window.vedere.frames > 0")
    pg.click("#start")
    pg.wait_for_function("window.vedere.frame.epoch >= 5")
    h = health(url)
    assert h == {"sessions": 1, "training": 1}
    context.close()  # the tab goes away while its network trains
    assert wait_until(lambda: health(url)["sessions"] == 0, 20), health(url)
    assert health(url)["training"] == 0


def _sample_png(tmp_path: Path) -> Path:
    from vedere.data.dataset import load_split

    test = load_split(None, "test", progress=False)
    path = tmp_path / "ship.png"
    Image.fromarray(test.images[int(np.flatnonzero(test.labels == 8)[0])]).save(path)
    return path


def test_an_uploaded_image_gets_top5_probabilities(page, tmp_path):
    page.click("#tab-image")
    path = _sample_png(tmp_path)
    page.set_input_files("#image-file", str(path))
    expect(page.locator("#top5 li")).to_have_count(5)
    shown = page.locator("#top5 li").evaluate_all(
        "els => els.map(e => [e.querySelector('.cls').textContent, Number(e.dataset.probability)])"
    )
    expect_top = run.predict(uploads.SHIPPED_MODEL, [str(path)], top_k=5)[0]["top"]
    assert [c for c, _ in shown] == [c for c, _ in expect_top]
    np.testing.assert_allclose([p for _, p in shown], [p for _, p in expect_top], atol=1e-6)
    # bars are drawn in proportion
    widths = page.locator("#top5 .bar").evaluate_all("els => els.map(e => e.offsetWidth)")
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    expect(page.locator("#image-preview")).to_be_visible()
    # a sample picked from the strip is classified too
    page.click("#samples button >> nth=0")
    expect(page.locator("#top5 li")).to_have_count(5)


def test_an_uploaded_photo_gets_face_boxes(page, tmp_path):
    page.click("#tab-faces")
    rgb = skdata.astronaut()
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    page.set_input_files("#face-file", str(path))
    expect(page.locator("#face-result")).to_contain_text("1 face found")
    boxes = page.evaluate("window.vedere.faces.boxes")
    xml = tmp_path / "frontalface.xml"
    cascade = resolve_cascade("frontalface")
    xml.write_bytes(to_xml(cascade))
    gray = to_gray(np.asarray(Image.open(path).convert("RGB")))
    ref = np.asarray(cv2.CascadeClassifier(str(xml)).detectMultiScale(gray, 1.1, 3))
    # OpenCV reports the windows; the playground the face boxes the cascade maps them to
    ref = cascade.face_box.apply(ref.reshape(-1, 4), gray.shape)
    assert [[b["x"], b["y"], b["w"], b["h"]] for b in boxes] == ref.tolist()
    # the box is drawn on the photo: its top edge is the box colour
    canvas = page.locator("#face-canvas")
    shot = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"), np.int16)
    f = shot.shape[1] / 512
    x, y, w, _ = boxes[0]["x"], boxes[0]["y"], boxes[0]["w"], boxes[0]["h"]
    # (the line is 3 px wide and the canvas has a 1-px border: look 2 px either side)
    r, c = round(y * f), round((x + w / 2) * f)
    edge = shot[max(0, r - 2) : r + 3, c]
    assert (np.abs(edge - [0x39, 0xFF, 0x14]).max(axis=1) < 40).any(), edge.tolist()


@pytest.mark.parametrize(
    ("tab", "input_id", "message_id"),
    [
        ("#tab-image", "#image-file", "#classify-message"),
        ("#tab-faces", "#face-file", "#faces-message"),
    ],
)
def test_bad_uploads_get_a_message_and_a_4xx(page, tmp_path, tab, input_id, message_id):
    page.click(tab)
    notes = tmp_path / "notes.png"  # named like an image, but text
    notes.write_text("these are not pixels")
    with page.expect_response("**/api/*") as resp:
        page.set_input_files(input_id, str(notes))
    assert resp.value.status == 400
    expect(page.locator(message_id)).to_contain_text("not an image")
    big = tmp_path / "huge.bmp"
    big.write_bytes(b"BM" + b"\0" * (uploads.MAX_BYTES + 10))
    with page.expect_response("**/api/*") as resp:
        page.set_input_files(input_id, str(big))
    assert resp.value.status == 413
    expect(page.locator(message_id)).to_contain_text("MiB allowed")
