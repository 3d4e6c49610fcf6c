"""A small network's training step while another process holds a core, with OpenBLAS's
idle threads spinning (its default) or sleeping soon (vedere's ``OPENBLAS_THREAD_TIMEOUT``).

    python bench/busy_core.py [--steps 600] [--rounds 3]

The step is notebook 10's (an MLP 2-128-128-2 with tanh, Adam, 60 training points, then a
forward pass over 500 validation points): many small matrix products with Python work
between them. Each setting runs in a fresh process (OpenBLAS reads the variable once, when
NumPy loads it), alone and beside a process that spins on one core; reported is the best
of ``--rounds`` mean milliseconds per step, and the ratio to the same setting alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

STEP = r"""
import time, vedere, numpy as np
from vedere import nn
from vedere.data import toy
X, y = toy.moons(n=560, noise=0.35, seed=0)
Xt, yt, Xv, yv = X[:60], y[:60], X[60:], y[60:]
model = nn.mlp([2, 128, 128, 2], activation="tanh", init="lecun", rng=0)
loss, val = nn.SoftmaxCrossEntropy(), nn.SoftmaxCrossEntropy()
opt = nn.optim.Adam(model.parameters(), lr=0.01)
def step():
    model.train(); opt.zero_grad()
    loss.forward(model.forward(Xt), yt); model.backward(loss.backward()); opt.step()
    model.eval(); val.forward(model.forward(Xv), yv)
for _ in range(20): step()
best = float("inf")
for _ in range(ROUNDS):
    t0 = time.perf_counter()
    for _ in range(STEPS): step()
    best = min(best, (time.perf_counter() - t0) / STEPS * 1e3)
print(best)
"""


def run(timeout: str | None, steps: int, rounds: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if timeout is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = timeout
    code = STEP.replace("ROUNDS", str(rounds)).replace("STEPS", str(steps))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(__file__))
    import machine
    import vedere

    settings = {
        "OpenBLAS default (2^28 cycles)": "28",
        "vedere (2^16)": vedere.OPENBLAS_THREAD_TIMEOUT,
    }
    rows = {}
    for busy in (False, True):
        hog = None
        if busy:
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)
        try:
            for name, value in settings.items():
                rows[name, busy] = run(value, args.steps, args.rounds)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    print(json.dumps(machine.describe(), indent=None))
    print("| OPENBLAS_THREAD_TIMEOUT | ms/step alone | ms/step beside a busy core | ratio |")
    print("|---|---|---|---|")
    for name in settings:
        a, b = rows[name, False], rows[name, True]
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f}× |")


if __name__ == "__main__":
    main()
