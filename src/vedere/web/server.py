"""The playground's web server: the page, its static files, and a small JSON + SSE API.

Routes (every error is JSON ``{"error": message, "field": name?}`` with a 4xx status):

- ``GET /`` the page; ``GET /static/…`` its script and style (no CDN: all served from here)
- ``GET /api/info`` choices and defaults for the page's controls, the image model's name
- ``POST /api/sessions`` a new session → ``{"id", "config"}`` (503 when too many are open)
- ``GET /api/sessions/{id}/events`` server-sent events: ``data`` (the points), ``frame``
  (decision regions, neurons, losses; at most ``1/frame_interval`` a second) and ``closed``
- ``POST /api/sessions/{id}/config`` new settings (400 naming the field when invalid)
- ``POST /api/sessions/{id}/start|pause|step|reset|close`` and ``…/points`` (add a point)
- ``GET /api/samples``, ``GET /api/samples/{i}.png`` CIFAR-10 sample images
- ``POST /api/classify`` image bytes → top-5 classes; ``POST /api/detect`` → face boxes
- ``GET /api/health`` open and training session counts

Limits (:mod:`vedere.web.limits`): JSON bodies of at most 64 KiB, parsed by
:mod:`vedere.safejson` (400 naming "body" when malformed, too deep or holding an over-long
integer); uploads of at most ``uploads.MAX_BYTES`` (413) and ``uploads.MAX_PIXELS`` (413,
checked from the header before decoding); at most ``max_uploads`` uploads processed and
``max_detections`` face detections running at once, others waiting up to ``busy_wait``
seconds and then answered 503 "busy, retry"; at most ``Registry.max_streams`` event streams
per session (429); bodies that take longer than ``limits.BODY_SECONDS`` to arrive (408).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..classify.prediction import load_image_classifier
from ..data.dataset import load_split
from ..data.toy import DATASETS
from ..detect.library import resolve_cascade
from ..nn.activations import ACTIVATIONS
from ..nn.init import SCHEMES
from ..nn.optim import OPTIMIZERS
from . import uploads
from .limits import LimitError, Slots, json_body, read_body
from .params import MAX_LAYERS, MAX_POINTS, MAX_UNITS, ParamError, PlaygroundConfig, parse_config
from .registry import Registry, RegistryFull, TooManyStreams, UnknownSession
from .session import EXTENT, SessionError

STATIC = Path(__file__).resolve().parent / "static"
N_SAMPLES = 10


def _finite(obj: Any) -> Any:
    """JSON cannot carry NaN/inf: replace them by null, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _error(
    message: str, status: int = 400, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": message} | ({"field": field} if field else {})
    return JSONResponse(body, status_code=status, headers=headers)


def _sse(event: str, payload: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(_finite(payload), allow_nan=False)}\n\n"


class Playground:
    """The server's state: sessions, the image classifier and the face cascade.

    At most ``max_uploads`` uploads are read, decoded and classified or scanned at once, and
    at most ``max_detections`` of them detect faces (each can take a few hundred MB, and
    the detector's parallel kernels run one call at a time); a request waits up to
    ``busy_wait`` seconds for its turn, then gets 503."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        max_sessions: int = 16,
        linger: float = 5.0,
        frame_interval: float = 0.1,
        max_uploads: int = 2,
        max_detections: int = 1,
        busy_wait: float = 10.0,
    ) -> None:
        self.model_path, self.classifier = load_image_classifier(model or uploads.SHIPPED_MODEL)
        self.cascade = resolve_cascade("frontalface")
        self.registry = Registry(max_sessions, linger, frame_interval)
        self.frame_interval = frame_interval
        self.upload_slots = Slots(max_uploads, "uploads")
        self.detect_slots = Slots(max_detections, "face detections")
        self.busy_wait = busy_wait
        self._samples: list[tuple[str, bytes]] | None = None

    def samples(self) -> list[tuple[str, bytes]]:
        """The first test image of each class in the embedded CIFAR-10 sample, as PNG."""
        if self._samples is None:
            data = load_split(None, "test", progress=False)
            out = []
            for c, name in enumerate(data.classes[:N_SAMPLES]):
                i = int(np.flatnonzero(data.labels == c)[0])
                buf = io.BytesIO()
                Image.fromarray(data.images[i]).save(buf, format="PNG")
                out.append((name, buf.getvalue()))
            self._samples = out
        return self._samples

    def info(self) -> dict[str, Any]:
        return {
            "defaults": PlaygroundConfig().to_dict(),
            "datasets": list(DATASETS),
            "activations": list(ACTIVATIONS),
            "inits": list(SCHEMES),
            "optimizers": list(OPTIMIZERS),
            "max_layers": MAX_LAYERS,
            "max_units": MAX_UNITS,
            "max_points": MAX_POINTS,
            "extent": EXTENT,
            "model": uploads.model_name(self.model_path),
            "classes": [str(c) for c in self.classifier.classes_],
            "max_upload_bytes": uploads.MAX_BYTES,
        }


def _filename(request: Request) -> str:
    """The uploaded file's name, as the page sends it (URI-encoded ``X-Filename``), for messages."""
    return unquote(request.headers.get("x-filename", "upload"))[:200]


class EventStream:
    """The server-sent events of one session: its points when they change, each new frame
    (with the history rows the client has not seen), a keep-alive comment every 15 s of
    quiet, ``closed`` when the session ends. State: what was sent last."""

    def __init__(self, playground: Playground, sid: str, session: Any) -> None:
        self.pg, self.sid, self.session = playground, sid, session
        self.sent_data, self.sent_version, self.sent_hist = -1, -1, 0
        self.run: Any = None  # the history the client is drawing (a new one: a new network)
        self.idle = 0.0
        self.done = False  # the "closed" event was sent

    async def events(self) -> AsyncIterator[str]:
        """The event stream, until the session closes (or the client leaves)."""
        try:
            yield "retry: 2000\n\n"
            while True:
                async for event in self._changes():
                    yield event
                if self.done:
                    return
                await asyncio.sleep(self.pg.frame_interval / 2)
                self.idle += self.pg.frame_interval / 2
        finally:
            self.pg.registry.detach(self.sid)

    async def _changes(self) -> AsyncIterator[str]:
        """The events since the last look (none, or a keep-alive after 15 s of quiet)."""
        session = self.session
        if session.data_version != self.sent_data and not session.closed:
            points = await run_in_threadpool(session.points)
            self.sent_data = points["version"]
            yield _sse("data", points)
        frame = session.frame  # read once: a frame and its own version
        if frame.get("closed"):
            self.done = True
            yield _sse("closed", {"message": "this session was closed"})
            return
        if frame["version"] != self.sent_version:
            self.sent_version = frame["version"]
            history = session.history
            if self.run is not history:  # a new network: the curves start again
                self.run, self.sent_hist = history, 0
                frame = frame | {"new_run": True}
            new = history[self.sent_hist :]
            self.sent_hist += len(new)
            yield _sse("frame", frame | {"history": new})
            self.idle = 0.0
        elif self.idle >= 15.0:
            yield ": keep-alive\n\n"
            self.idle = 0.0


class Handlers:
    """The playground's HTTP endpoints, one method each (see :func:`create_app`'s routes)."""

    def __init__(self, playground: Playground) -> None:
        self.pg = playground
        self.reg = playground.registry

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def info(self, request: Request) -> Response:
        return JSONResponse(self.pg.info())

    async def health(self, request: Request) -> Response:
        return JSONResponse(self.reg.stats())

    async def new_session(self, request: Request) -> Response:
        config = parse_config(await json_body(request))
        sid, session = await run_in_threadpool(self.reg.create, config)
        return JSONResponse({"id": sid, "config": session.config.to_dict()}, status_code=201)

    async def events(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        stream = EventStream(self.pg, sid, self.reg.attach(sid))
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream.events(), media_type="text/event-stream", headers=headers)

    async def configure(self, request: Request) -> Response:
        session = self.reg.get(request.path_params["sid"])
        config = await run_in_threadpool(session.update, await json_body(request))
        return JSONResponse({"config": config.to_dict()})

    async def command(self, request: Request) -> Response:
        sid, name = request.path_params["sid"], request.path_params["command"]
        if name == "close":
            await run_in_threadpool(self.reg.close, sid)
            return JSONResponse({"closed": True})
        session = self.reg.get(sid)
        actions = {
            "start": session.start,
            "pause": session.pause,
            "step": session.step,
            "reset": session.reset,
        }
        if name not in actions:
            return _error(f"unknown command {name!r}; use start, pause, step, reset or close", 404)
        await run_in_threadpool(actions[name])
        return JSONResponse({"epoch": session.epoch, "running": session.running})

    async def add_point(self, request: Request) -> Response:
        session = self.reg.get(request.path_params["sid"])
        body = await json_body(request)
        if not isinstance(body, dict) or not {"x", "y", "label"} <= set(body):
            raise ParamError("point", 'needs "x", "y" and "label" (one point per request)')
        unknown = sorted(set(body) - {"x", "y", "label", "split"})
        if unknown:
            known = '"x", "y", "label", "split"'
            raise ParamError(unknown[0][:60], f"unknown field; a point has {known}")
        await run_in_threadpool(
            session.add_point, body["x"], body["y"], body["label"], body.get("split", "train")
        )
        return JSONResponse({"points": len(session.y_train) + len(session.y_test)})

    async def samples(self, request: Request) -> Response:
        items = await run_in_threadpool(self.pg.samples)
        return JSONResponse([{"index": i, "class": c} for i, (c, _) in enumerate(items)])

    async def sample_png(self, request: Request) -> Response:
        items = await run_in_threadpool(self.pg.samples)
        i = request.path_params["index"]
        if not 0 <= i < len(items):
            return _error(f"no sample {i}; there are {len(items)}", 404)
        return Response(items[i][1], media_type="image/png")

    async def _image(self, request: Request) -> Any:
        data = await read_body(request, uploads.MAX_BYTES, "the upload")
        return await run_in_threadpool(uploads.read_image, data, _filename(request))

    async def classify(self, request: Request) -> Response:
        pg = self.pg
        async with pg.upload_slots.hold(pg.busy_wait):
            rgb = await self._image(request)
            top = await run_in_threadpool(uploads.classify, pg.classifier, rgb)
        return JSONResponse({"top": top, "model": uploads.model_name(pg.model_path)})

    async def detect(self, request: Request) -> Response:
        pg = self.pg
        async with pg.upload_slots.hold(pg.busy_wait):
            rgb = await self._image(request)
            async with pg.detect_slots.hold(pg.busy_wait):
                found = await run_in_threadpool(uploads.find_faces, pg.cascade, rgb)
        return JSONResponse(found)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Reap idle sessions twice a second while serving; close them all at the end."""

        async def reaper() -> None:
            while True:
                await asyncio.sleep(0.5)
                await run_in_threadpool(self.reg.reap)

        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(self.reg.close_all)


async def _on_param_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ParamError)
    return _error(str(exc), 400, exc.field)


async def _on_missing(request: Request, exc: Exception) -> Response:
    return _error("no such session (it was closed or the server restarted): reload", 404)


async def _on_conflict(request: Request, exc: Exception) -> Response:
    return _error(str(exc), 409)


async def _on_full(request: Request, exc: Exception) -> Response:
    return _error(str(exc), 503)


async def _on_upload(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, uploads.UploadError)
    return _error(str(exc), exc.status)


async def _on_limit(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LimitError)
    retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return _error(str(exc), exc.status, headers=retry)


async def _on_streams(request: Request, exc: Exception) -> Response:
    return _error(str(exc), 429)


def create_app(playground: Playground) -> Starlette:
    """The ASGI application serving ``playground``: the routes of :class:`Handlers` and an
    HTTP status for each expected error."""
    h = Handlers(playground)
    sid = "/api/sessions/{sid}"
    routes = [
        Route("/", h.index),
        Route("/api/info", h.info),
        Route("/api/health", h.health),
        Route("/api/sessions", h.new_session, methods=["POST"]),
        Route(f"{sid}/events", h.events),
        Route(f"{sid}/config", h.configure, methods=["POST"]),
        Route(f"{sid}/points", h.add_point, methods=["POST"]),
        Route(f"{sid}/{{command}}", h.command, methods=["POST"]),
        Route("/api/samples", h.samples),
        Route("/api/samples/{index:int}.png", h.sample_png),
        Route("/api/classify", h.classify, methods=["POST"]),
        Route("/api/detect", h.detect, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        lifespan=h.lifespan,
        exception_handlers={
            ParamError: _on_param_error,
            UnknownSession: _on_missing,
            SessionError: _on_conflict,
            RegistryFull: _on_full,
            uploads.UploadError: _on_upload,
            LimitError: _on_limit,
            TooManyStreams: _on_streams,
        },
    )


def serve(
    playground: Playground, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True
) -> None:
    """Serve ``playground`` on ``host:port`` (port 0: any free one) until interrupted; print
    the address, warn when it is reachable from other machines, open a browser if asked."""
    import ipaddress
    import socket
    import sys
    import threading
    import webbrowser

    import uvicorn

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise ValueError(f"--host {host!r}: cannot resolve it ({e})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    bound, real_port = sock.getsockname()[:2]
    shown = f"[{bound}]" if family == socket.AF_INET6 else bound
    url = f"http://{shown}:{real_port}/"
    if not ipaddress.ip_address(bound).is_loopback:
        print(
            f"warning: listening on {bound}, reachable from other machines; "
            "use --host 127.0.0.1 to keep the playground to this one",
            file=sys.stderr,
        )
    print(f"vedere playground: {url}  (Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(
        create_app(playground), log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    if open_browser:
        threading.Timer(0.5, webbrowser.open, [url]).start()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down cleanly
        pass
    print("vedere playground: stopped", flush=True)
