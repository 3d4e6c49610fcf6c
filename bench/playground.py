"""How live the playground is: training speed of a session against PyTorch, frame cost,
frames per second in a real browser (one and two pages), upload round trips.

    python bench/playground.py [--seconds 8]

1. Epochs per second of the page's default network (spirals, 280 training points, 2-8-8-2
   tanh, Adam 0.03, batches of 10), vedere's ``Session`` against the same network, batches
   and optimiser in PyTorch (CPU, one thread each), in 4 alternating rounds; medians.
2. Milliseconds to compute one frame (64×64 decision regions, 32×32 per hidden unit, losses).
3. ``vedere playground`` in headless Chromium (Playwright, as the tests): frames and epochs
   per second the page receives while training, with one page and with two pages training
   at once; round trip of /api/classify (a CIFAR-10 sample) and /api/detect (scikit-image's
   512×512 astronaut) from the page, median of 5.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vedere.web.session import Session  # noqa: E402


def session_epochs_per_second(seconds: float) -> tuple[float, float]:
    s = Session()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        with s.lock:
            s._epoch()
        n += 1
    rate = n / (time.perf_counter() - t0)
    times = []
    for _ in range(50):
        t = time.perf_counter()
        with s.lock:
            s._publish()
        times.append(time.perf_counter() - t)
    return rate, 1000 * statistics.median(times)


def torch_epochs_per_second(seconds: float) -> float:
    import torch

    torch.set_num_threads(1)
    s = Session()
    x, y = torch.from_numpy(s.x_train), torch.from_numpy(s.y_train)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
        torch.nn.Linear(8, 2),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    rng = np.random.default_rng(0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        order = torch.from_numpy(rng.permutation(len(y)))
        for i in range(0, len(y), 10):
            idx = order[i : i + 10]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        n += 1
    return n / (time.perf_counter() - t0)


RATE_JS = """async (seconds) => {
  const f0 = window.vedere.frames, e0 = window.vedere.frame.epoch, t0 = performance.now();
  await new Promise(r => setTimeout(r, seconds * 1000));
  const dt = (performance.now() - t0) / 1000;
  return [(window.vedere.frames - f0) / dt, (window.vedere.frame.epoch - e0) / dt];
}"""

ROUND_TRIP_JS = """async ([path, bytes]) => {
  const body = new Uint8Array(bytes), times = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const res = await fetch(path, {method: "POST", body});
    await res.json();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[2];
}"""


def browser_measures(seconds: float) -> dict[str, float]:
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from skimage import data as skdata
    from tests.web.browser import launch_chromium, playground_server

    out: dict[str, float] = {}
    with playground_server() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        pages = []
        for _ in range(2):
            pg = browser.new_context().new_page()
            pg.goto(url)
            pg.wait_for_function("window.vedere.frames > 0 && window.vedere.points !== null")
            pages.append(pg)
        a, b = pages
        a.click("#start")
        time.sleep(1)
        out["1 page: frames/s"], out["1 page: epochs/s"] = a.evaluate(RATE_JS, seconds)
        b.click("#start")
        time.sleep(1)
        ra, rb = a.evaluate(RATE_JS, seconds), b.evaluate(RATE_JS, seconds)
        out["2 pages: frames/s each"] = (ra[0] + rb[0]) / 2
        out["2 pages: epochs/s each"] = (ra[1] + rb[1]) / 2
        for pg in pages:
            pg.click("#start")
        buf = io.BytesIO()
        Image.fromarray(skdata.astronaut()).save(buf, format="PNG")
        sample = a.evaluate("fetch('/api/samples/8.png').then(r => r.arrayBuffer())"
                            ".then(b => Array.from(new Uint8Array(b)))")  # fmt: skip
        out["classify round trip (ms)"] = a.evaluate(ROUND_TRIP_JS, ["/api/classify", sample])
        out["detect round trip, 512x512 (ms)"] = a.evaluate(
            ROUND_TRIP_JS, ["/api/detect", list(buf.getvalue())]
        )
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    rounds = [
        (session_epochs_per_second(args.seconds / 4), torch_epochs_per_second(args.seconds / 4))
        for _ in range(4)
    ]  # the engines take turns, so drifts of a shared machine hit both
    ours = statistics.median(r[0][0] for r in rounds)
    frame_ms = statistics.median(r[0][1] for r in rounds)
    theirs = statistics.median(r[1] for r in rounds)
    ratios = ", ".join(f"{a / b:.2f}" for (a, _), b in rounds)
    print(f"epochs/s, default network: vedere {ours:.0f}, PyTorch {theirs:.0f} "
          f"(ratio of medians {ours / theirs:.2f}; per round {ratios})")  # fmt: skip
    print(f"one frame: {frame_ms:.1f} ms")
    for k, v in browser_measures(args.seconds).items():
        print(f"{k}: {v:.1f}")


if __name__ == "__main__":
    main()
