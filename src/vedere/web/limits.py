"""What one request may cost the playground's server: body sizes, read time, image work.

- :func:`read_body` reads a request's body as it streams in and refuses it with 413 as soon
  as it passes ``max_bytes`` (a declared ``Content-Length`` over the limit is refused before
  reading anything), and with 408 when the client takes longer than ``seconds`` to send it.
- :func:`json_body` is :func:`read_body` capped at :data:`MAX_JSON_BYTES`, parsed with
  :func:`vedere.safejson.loads` (nesting, integer digits and non-finite numbers refused).
- :class:`Slots` bounds concurrent work (decoding uploads, face detection): a request waits
  at most ``wait`` seconds for a slot and is then answered 503 "busy, retry".

Every refusal is a :class:`LimitError` carrying the HTTP status the server answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from ..errors import VedereError
from ..safejson import JSONError, loads
from .params import ParamError

#: the largest JSON body accepted (settings and points are well under 1 KiB)
MAX_JSON_BYTES = 64 * 1024
#: the deepest nesting accepted in a JSON body (settings need 2: an object holding a list)
MAX_JSON_DEPTH = 8
#: seconds a client may take to send a request body
BODY_SECONDS = 60.0


class LimitError(VedereError):
    """A request over one of the server's limits; ``status`` is the HTTP status to answer,
    ``retry_after`` (seconds) is sent as ``Retry-After`` when set."""

    def __init__(self, message: str, status: int, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


async def read_body(
    request: Request, max_bytes: int, what: str = "the request body", seconds: float | None = None
) -> bytes:
    """The body of ``request`` (at most ``max_bytes``), read chunk by chunk: LimitError 413
    once it is longer (before reading when ``Content-Length`` says so), 408 after ``seconds``
    (default :data:`BODY_SECONDS`)."""
    seconds = BODY_SECONDS if seconds is None else seconds
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and len(declared) < 30 and int(declared) > max_bytes:
        raise LimitError(
            f"{what} ({_size(int(declared))}) is larger than the {_size(max_bytes)} allowed", 413
        )
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise LimitError(f"{what} is larger than the {_size(max_bytes)} allowed", 413)
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), seconds)
    except asyncio.TimeoutError:
        raise LimitError(
            f"{what} took more than {seconds:g} s to arrive ({_size(size)} so far)", 408
        ) from None
    return b"".join(chunks)


async def json_body(request: Request) -> Any:
    """The request's JSON body (``{}`` when empty), through :func:`vedere.safejson.loads`:
    LimitError 413 over :data:`MAX_JSON_BYTES`, ParamError (field "body") when malformed,
    too deep, or holding an over-long integer or a non-finite number."""
    data = await read_body(request, MAX_JSON_BYTES, "the JSON body")
    if not data.strip():
        return {}
    try:
        return loads(data, max_bytes=MAX_JSON_BYTES, max_depth=MAX_JSON_DEPTH)
    except JSONError as e:
        raise ParamError("body", f"is not acceptable JSON: {e}") from None


class Slots:
    """At most ``n`` holders at once, across threads and event loops (a non-blocking
    semaphore polled from the event loop, so a waiting request holds no worker thread)."""

    def __init__(self, n: int, what: str) -> None:
        if n < 1:
            raise ValueError(f"{what}: need at least 1 slot, got {n}")
        self.n, self.what = n, what
        self._sem = threading.BoundedSemaphore(n)

    def try_acquire(self) -> bool:
        return self._sem.acquire(blocking=False)

    def release(self) -> None:
        self._sem.release()

    @contextlib.asynccontextmanager
    async def hold(self, wait: float) -> AsyncIterator[None]:
        """Hold a slot for the ``async with`` block, waiting at most ``wait`` seconds for one
        (LimitError 503 "busy, retry" after that)."""
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise LimitError(
                    f"busy: the playground runs at most {self.n} {self.what} at once; "
                    "retry in a few seconds",
                    503,
                    retry_after=max(1, round(wait)),
                )
            await asyncio.sleep(0.02)
        try:
            yield
        finally:
            self.release()
