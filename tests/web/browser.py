"""Start the playground as a user does (``vedere playground``) and Debian's Chromium through
Playwright (no browser download: ``executable_path`` is the system's chromium)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path(os.environ.get("VEDERE_CHROMIUM", "/usr/bin/chromium"))
# flags for a machine without a display, GPU or outside network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def playground_server(*args: str) -> Iterator[str]:
    """Run ``vedere playground --port 0 --no-browser ARGS`` and yield its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vedere.cli", "playground", "--port", "0", "--no-browser", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        m = re.search(r"(http://\S+/)", line)
        if not m:
            proc.kill()
            raise RuntimeError(f"the playground did not start: {line}{proc.stderr.read()}")
        yield m.group(1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def launch_chromium(playwright, extra_args: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), "
            "as .ci/run does, or point VEDERE_CHROMIUM at a Chromium binary"
        )
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args]
    )
