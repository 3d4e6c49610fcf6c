"""The server's sessions: created per page, found by an unguessable id, freed when gone.

A page holds its session's event stream open; when the last stream of a session closes
(the tab was closed, the browser went away) and none reopens within ``linger`` seconds, the
session is closed: its training thread stops and its network and data are dropped. A session
whose page never opens a stream is freed the same way. A session has at most ``max_streams``
streams open at once (a page needs one; a reload briefly two).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from .params import PlaygroundConfig
from .session import Session


class UnknownSession(LookupError):
    """No session with that id (never was, or already freed; the server answers 404)."""


class RegistryFull(RuntimeError):
    """Too many sessions at once (the server answers 503)."""


class TooManyStreams(RuntimeError):
    """Too many event streams open for one session (the server answers 429)."""


@dataclass
class _Entry:
    session: Session
    streams: int = 0
    idle_since: float = field(default_factory=time.monotonic)


class Registry:
    """Thread-safe map id → :class:`Session`, with at most ``max_sessions`` alive and at
    most ``max_streams`` streams attached to each."""

    def __init__(
        self,
        max_sessions: int = 16,
        linger: float = 5.0,
        frame_interval: float = 0.1,
        max_streams: int = 4,
    ) -> None:
        self.max_sessions, self.linger, self.max_streams = max_sessions, linger, max_streams
        self.frame_interval = frame_interval  # of every session it creates
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def create(self, config: PlaygroundConfig | None = None) -> tuple[str, Session]:
        with self._lock:
            if len(self._entries) >= self.max_sessions:
                raise RegistryFull(
                    f"the playground already has {self.max_sessions} open sessions; "
                    "close a tab or try again later"
                )
            sid = secrets.token_urlsafe(16)
            session = Session(config, frame_interval=self.frame_interval)
            self._entries[sid] = _Entry(session)
            return sid, session

    def get(self, sid: str) -> Session:
        """The session ``sid``; :class:`UnknownSession` if there is none."""
        with self._lock:
            return self._entry(sid).session

    def _entry(self, sid: str) -> _Entry:
        entry = self._entries.get(sid)
        if entry is None:
            raise UnknownSession(sid)
        return entry

    def attach(self, sid: str) -> Session:
        """A stream opened for ``sid`` (:class:`TooManyStreams` if it has ``max_streams``)."""
        with self._lock:
            entry = self._entry(sid)
            if entry.streams >= self.max_streams:
                raise TooManyStreams(
                    f"this session already has {entry.streams} open event streams (at most "
                    f"{self.max_streams}); close a tab showing it"
                )
            entry.streams += 1
            return entry.session

    def detach(self, sid: str) -> None:
        """A stream of ``sid`` closed."""
        with self._lock:
            entry = self._entries.get(sid)
            if entry is not None:
                entry.streams -= 1
                entry.idle_since = time.monotonic()

    def close(self, sid: str) -> bool:
        """Free ``sid`` now; False if it did not exist."""
        with self._lock:
            entry = self._entries.pop(sid, None)
        if entry is None:
            return False
        entry.session.close()
        return True

    def reap(self, now: float | None = None) -> list[str]:
        """Free every session with no open stream for more than ``linger`` seconds."""
        now = time.monotonic() if now is None else now
        with self._lock:
            gone = [
                sid
                for sid, e in self._entries.items()
                if e.streams <= 0 and now - e.idle_since > self.linger
            ]
        for sid in gone:
            self.close(sid)
        return gone

    def close_all(self) -> None:
        with self._lock:
            ids = list(self._entries)
        for sid in ids:
            self.close(sid)

    def stats(self) -> dict[str, int]:
        """{"sessions": open sessions, "training": those whose training thread runs}."""
        with self._lock:
            sessions = [e.session for e in self._entries.values()]
        return {"sessions": len(sessions), "training": sum(s.running for s in sessions)}
