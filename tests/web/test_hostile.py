"""The playground's server under hostile requests: oversized and malformed bodies, counts
past their caps, decompression bombs, concurrent uploads, and fuzzed JSON.

Oracles: the limits themselves (a body one byte over is refused, one at the cap is not),
Pillow for the images' declared sizes, a sequential run of the detector for the boxes found
by concurrent requests.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data as skdata
from starlette.testclient import TestClient

from vedere.web import limits, uploads
from vedere.web.params import MAX_POINTS, PlaygroundConfig
from vedere.web.server import Playground, create_app


@pytest.fixture(scope="module")
def playground() -> Playground:
    return Playground(linger=60)


@pytest.fixture(scope="module")
def client(playground):
    with TestClient(create_app(playground)) as c:
        yield c


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _session(client, **config) -> str:
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 201, r.text
    return r.json()["id"]


# -- 1. request bodies ---------------------------------------------------------------------
def test_json_bodies_over_the_cap_are_refused_with_413(client, playground):
    before = playground.registry.stats()["sessions"]
    at_cap = b"{" + b" " * (limits.MAX_JSON_BYTES - 2) + b"}"
    r = client.post("/api/sessions", content=at_cap)
    assert r.status_code == 201  # exactly at the cap: still accepted
    client.post(f"/api/sessions/{r.json()['id']}/close")
    over = b"{" + b" " * (limits.MAX_JSON_BYTES - 1) + b"}"
    r = client.post("/api/sessions", content=over)
    assert r.status_code == 413
    assert r.json()["error"] == (
        "the JSON body (65,537 bytes) is larger than the 65,536 bytes allowed"
    )

    def chunks():  # no Content-Length: the limit applies to what actually arrives
        for _ in range(100):
            yield b" " * 4096

    r = client.post("/api/sessions", content=chunks())
    assert r.status_code == 413 and "allowed" in r.json()["error"]
    assert playground.registry.stats()["sessions"] == before


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 413, "allowed"),
        (b"[" * 20_000 + b"]" * 20_000, 400, "nested too deeply"),
        (b'{"layers": [[[[[[[[[[8]]]]]]]]]]}', 400, "nested too deeply"),
        (b'{"seed": 1' + b"0" * 399 + b"}", 400, "digits"),
        (b'{"seed": 1' + b"0" * 4999 + b"}", 400, "digits"),
        (b'{"lr": 1e400}', 400, "out of range"),
        (b'{"lr": NaN}', 400, "NaN is not allowed"),
        (b'{"lr": 0.1', 400, "malformed JSON"),
        (b'{"dataset": "\xff"}', 400, "not UTF-8"),
    ],
)
def test_hostile_json_gets_4xx_with_a_message(client, body, status, words):
    for path in ("/api/sessions", f"/api/sessions/{_session(client)}/config"):
        r = client.post(path, content=body)
        assert r.status_code == status, (path, r.text)
        assert words in r.json()["error"]


def test_points_with_huge_numbers_get_400(client):
    sid = _session(client)
    r = client.post(f"/api/sessions/{sid}/points", content=b'{"x": 1' + b"0" * 400 + b"}")
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = client.post(f"/api/sessions/{sid}/points", json={"x": 10**39, "y": 0, "label": 0})
    assert r.status_code == 400 and r.json()["field"] == "x"  # a 500 (numpy TypeError) before
    r = client.post(f"/api/sessions/{sid}/points", json={"x": 0, "y": 0, "label": 10**39})
    assert r.status_code == 400 and r.json()["field"] == "label"
    r = client.post(f"/api/sessions/{sid}/points", json={"x": 0, "y": 0, "label": 0, "s": 1})
    assert r.status_code == 400 and r.json()["field"] == "s"


def test_slow_bodies_get_408(playground, monkeypatch):
    """A client that sends a byte and stalls is answered 408 once the time is up."""
    monkeypatch.setattr(limits, "BODY_SECONDS", 0.2)
    app = create_app(playground)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/sessions", "raw_path": b"/api/sessions",
        "query_string": b"", "root_path": "", "headers": [], "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent: list[dict] = []

    async def run() -> None:
        first = True

        async def receive() -> dict:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b"{", "more_body": True}
            await asyncio.sleep(3600)  # the client stalls
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(run())
    assert sent[0]["status"] == 408
    assert "took more than 0.2 s" in json.loads(sent[1]["body"])["error"]


# -- 2. counts -----------------------------------------------------------------------------
def test_a_session_holds_at_most_max_points(client):
    sid = _session(client, n_points=MAX_POINTS - 2)
    for _ in range(2):
        r = client.post(f"/api/sessions/{sid}/points", json={"x": 0.5, "y": 0.5, "label": 0})
        assert r.status_code == 200
    assert r.json() == {"points": MAX_POINTS}
    r = client.post(f"/api/sessions/{sid}/points", json={"x": 0.5, "y": 0.5, "label": 0})
    assert r.status_code == 400 and r.json()["field"] == "points"
    assert f"{MAX_POINTS} points" in r.json()["error"]
    r = client.post(
        f"/api/sessions/{sid}/points", json={"x": 0, "y": 0, "label": 1, "split": "test"}
    )
    assert r.status_code == 400 and r.json()["field"] == "points"  # the test points count too
    client.post(f"/api/sessions/{sid}/close")


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"n_points": MAX_POINTS + 1}, "n_points"),
        ({"batch_size": MAX_POINTS + 1}, "batch_size"),
        ({"layers": [8] * 7}, "layers"),
        ({"layers": [17]}, "layers"),
        ({"layers": "8," * 200}, "layers"),
        ({"seed": 2**31}, "seed"),
        ({"lr": "1" * 500}, "lr"),
        ({"x" * 10_000: 1}, "x" * 60),
    ],
)
def test_counts_over_their_caps_name_the_field(client, config, field):
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 400 and r.json()["field"] == field
    assert len(r.json()["error"]) < 300  # the request is not echoed back whole


def test_event_streams_per_session_are_capped(client, playground):
    sid = _session(client)
    reg = playground.registry
    for _ in range(reg.max_streams):
        reg.attach(sid)
    try:
        r = client.get(f"/api/sessions/{sid}/events")
        assert r.status_code == 429 and "event streams" in r.json()["error"]
    finally:
        for _ in range(reg.max_streams):
            reg.detach(sid)
        client.post(f"/api/sessions/{sid}/close")


def test_loss_history_is_thinned_not_grown_without_bound(monkeypatch):
    from vedere.web import session as session_module

    monkeypatch.setattr(session_module, "MAX_HISTORY", 8)
    s = session_module.Session(PlaygroundConfig(dataset="xor", n_points=10, layers=(2,)))
    kept = s.history
    for _ in range(20):
        s.step()
    epochs = [row[0] for row in s.history]
    assert 4 <= len(epochs) <= 8  # on main: 20 rows, one per step, without end
    assert epochs == sorted(set(epochs)) and set(epochs) <= set(range(1, 21))
    assert epochs[0] == 1  # the curves still span the run from its start
    assert s.history[-1][0] == s.epoch == 20
    assert s.history is not kept  # a new list: an event stream sends it whole ("new_run")
    s.close()


# -- 3. uploads ----------------------------------------------------------------------------
def _declaring(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header declares ``width`` × ``height`` (a decompression bomb)."""
    png = bytearray(_png(np.zeros((4, 4), np.uint8)))
    ihdr = bytearray(png[12:29])  # b"IHDR" + 13 bytes of data
    ihdr[4:12] = struct.pack(">II", width, height)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(png)


@pytest.mark.parametrize("path", ["/api/classify", "/api/detect"])
@pytest.mark.parametrize("side", [7_000, 30_000, 65_500])
def test_decompression_bombs_get_413(client, path, side):
    bomb = _declaring(side, side)
    if side * side > 2 * Image.MAX_IMAGE_PIXELS:  # Pillow's own check calls it a bomb
        with pytest.raises(Image.DecompressionBombError):
            Image.open(io.BytesIO(bomb))
    else:  # over vedere's cap only
        assert Image.open(io.BytesIO(bomb)).size == (side, side)
        assert side * side > uploads.MAX_PIXELS
    r = client.post(path, content=bomb, headers={"X-Filename": "bomb.png"})
    assert r.status_code == 413 and "bomb.png" in r.json()["error"]
    assert "megapixels" in r.json()["error"]


def _saved(fmt: str, rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("path", ["/api/classify", "/api/detect"])
def test_only_the_listed_formats_are_decoded(client, path):
    """Pillow's other plugins are never tried: a DirectDraw surface with unknown pixel
    format flags raised NotImplementedError from Pillow (a 500) before."""
    rgb = skdata.astronaut()[::8, ::8].copy()
    dds = bytearray(_saved("DDS", rgb))
    dds[80:84] = bytes(4)  # the pixel format's flags
    with pytest.raises(NotImplementedError):  # Pillow itself cannot read it
        Image.open(io.BytesIO(bytes(dds))).load()
    for payload in (bytes(dds), _saved("DDS", rgb), _saved("TGA", rgb)):
        r = client.post(path, content=payload, headers={"X-Filename": "odd.img"})
        assert r.status_code == 400 and "odd.img: not an image" in r.json()["error"]
    for fmt in uploads.FORMATS:  # the listed ones are read, as the same pixels
        r = client.post(path, content=_saved(fmt, rgb))
        assert r.status_code == 200, (fmt, r.text)
    ppm = _saved("PPM", rgb)
    np.testing.assert_array_equal(uploads.read_image(ppm), rgb)


@pytest.mark.parametrize(
    ("path", "slots"), [("/api/detect", "detect_slots"), ("/api/classify", "upload_slots")]
)
def test_busy_server_answers_503_then_serves_once_free(client, playground, path, slots):
    png = _png(skdata.astronaut()[::4, ::4])
    held = getattr(playground, slots)
    taken = [held.try_acquire() for _ in range(held.n)]
    assert all(taken)
    wait, playground.busy_wait = playground.busy_wait, 0.1
    try:
        r = client.post(path, content=png)
        assert r.status_code == 503 and r.json()["error"].startswith("busy: the playground runs")
        assert int(r.headers["retry-after"]) >= 1
        playground.busy_wait = 30.0  # a request waiting for its turn gets it
        result: list = []
        t = threading.Thread(target=lambda: result.append(client.post(path, content=png)))
        t.start()
        time.sleep(0.3)
        assert not result  # still waiting
        for _ in taken:
            held.release()
        taken = []
        t.join(30)
        assert result[0].status_code == 200
    finally:
        for _ in taken:
            held.release()
        playground.busy_wait = wait


def test_detections_run_one_at_a_time(client, playground, monkeypatch):
    running, most = 0, 0
    lock = threading.Lock()
    real = uploads.find_faces

    def counting(*args, **kwargs):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(uploads, "find_faces", counting)
    png = _png(skdata.astronaut()[::2, ::2])
    codes: list[int] = []

    def post() -> None:
        codes.append(client.post("/api/detect", content=png).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes == [200] * 4
    assert most == playground.detect_slots.n == 1


# -- 4. concurrent detections through a real server ----------------------------------------
def test_concurrent_detections_match_a_sequential_run():
    """Numba's workqueue threading layer aborts the whole process when two threads run its
    parallel kernels at once; the server runs detections one at a time, so requests sent
    together get the boxes a sequential run finds, and the server lives on."""
    import httpx2

    from vedere.detect.library import resolve_cascade

    astro = skdata.astronaut()
    images = [astro, astro[:, ::-1].copy(), astro[::2, ::2].copy()]
    cascade = resolve_cascade("frontalface")
    expect = [[(b["x"], b["y"], b["w"], b["h"]) for b in uploads.find_faces(cascade, im)["boxes"]]
              for im in images]  # fmt: skip
    assert all(expect)
    env = os.environ | {"NUMBA_THREADING_LAYER": "workqueue"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vedere.cli", "playground", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        m = re.search(r"(http://\S+/)", proc.stdout.readline())
        assert m, proc.stderr.read() if proc.poll() is not None else ""
        url = m.group(1)
        pngs = [_png(im) for im in images]
        got: dict[int, list] = {}

        def post(k: int) -> None:
            with httpx2.Client(timeout=120) as c:
                r = c.post(url + "api/detect", content=pngs[k % 3])
                got[k] = [(b["x"], b["y"], b["w"], b["h"]) for b in r.json()["boxes"]]

        threads = [threading.Thread(target=post, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert proc.poll() is None, proc.stderr.read()
        assert [got.get(k) for k in range(6)] == [expect[k % 3] for k in range(6)]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


# -- 5. fuzzing ----------------------------------------------------------------------------
FIELDS = [f for f in PlaygroundConfig().to_dict()] + ["x", "y", "label", "split"]
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["xor", "relu", "adam", "train", "test", "4, 4", "1e400", "nan"])
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=10,
)
magnitudes = st.builds(lambda k, sign: sign * 10**k, st.integers(0, 45), st.sampled_from([1, -1]))
numbers = st.integers() | magnitudes | st.floats() | st.sampled_from([1.6, -1.6, 0, 2**31])
objects = st.dictionaries(
    st.sampled_from(FIELDS), values | numbers, max_size=5
) | st.fixed_dictionaries(
    {"x": numbers | values, "y": numbers | values, "label": numbers | values},
    optional={"split": values},
)
bodies = st.one_of(
    (values | objects).map(lambda v: json.dumps(v).encode()),  # NaN, Infinity included
    st.binary(max_size=64),
)
COMMANDS = ["start", "pause", "step", "reset", "close", "points", "config", "nope", "%00"]


@settings(
    max_examples=int(os.environ.get("FUZZ_N", 60)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    new=bodies,
    config=bodies,
    point=bodies,
    commands=st.lists(st.tuples(st.sampled_from(COMMANDS), bodies), max_size=4),
)
def test_fuzzed_json_only_ever_gets_2xx_or_4xx(client, new, config, point, commands):
    """Arbitrary JSON values and bytes to the settings, points and command endpoints: the
    server answers 2xx or 4xx with a JSON message (TestClient re-raises any server error)."""
    answers = []
    r = client.post("/api/sessions", content=new)
    answers.append(r)
    sid = r.json()["id"] if r.status_code == 201 else _session(client, n_points=50)
    try:
        answers.append(client.post(f"/api/sessions/{sid}/config", content=config))
        answers.append(client.post(f"/api/sessions/{sid}/points", content=point))
        for name, body in commands:
            answers.append(client.post(f"/api/sessions/{sid}/{name}", content=body))
    finally:
        client.post(f"/api/sessions/{sid}/close")
    for r in answers:
        assert 200 <= r.status_code < 500, r.text
        if r.status_code >= 400 and r.headers["content-type"] == "application/json":
            assert r.json()["error"]
