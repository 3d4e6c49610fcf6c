"""The README's screenshot of the playground training on spirals (docs/playground.png).

    python bench/playground_screenshot.py [--seconds 6] [--out docs/playground.png]

Starts ``vedere playground`` as a user would, opens the page in Debian's headless Chromium
(through Playwright, with the tests' launch settings), presses Start, lets the network train
for ``--seconds``, pauses and saves a screenshot of the page.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.web.browser import launch_chromium, playground_server  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--out", default=str(REPO / "docs" / "playground.png"))
    args = ap.parse_args()
    with playground_server() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1180, "height": 830})
        page.goto(url)
        page.wait_for_function("window.vedere.frames > 0 && window.vedere.points !== null")
        page.click("#start")
        time.sleep(args.seconds)
        page.click("#start")
        page.wait_for_function("!window.vedere.running")
        time.sleep(0.5)
        page.screenshot(path=args.out)
        epoch = page.evaluate("window.vedere.frame.epoch")
        loss = page.evaluate("window.vedere.frame.test_loss")
        browser.close()
    print(f"{args.out}: spirals after {epoch} epochs, test loss {loss:.3f}")


if __name__ == "__main__":
    main()
