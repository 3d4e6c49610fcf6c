"""Benchmarks of issue 15: the executor's overhead, a real learning-rate × L2 sweep, and batch
detection on one and two workers.

    python bench/sweep.py overhead               # 8 short trials on 2 workers vs sum of times / 2
    python bench/sweep.py real --data-dir ../shared/datasets/cifar10-train.tar.gz
    python bench/sweep.py detect                 # images/s of batch detection, 1 and 2 workers

Every number is measured in the same run against its own baseline; results go to stdout as
Markdown rows for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vedere.batch import detect_chunk, run_batch  # noqa: E402
from vedere.executor import DaskExecutor, InProcessExecutor  # noqa: E402
from vedere.sweep import run_sweep  # noqa: E402
from vedere.sweep.spec import parse  # noqa: E402


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def overhead(tmp: Path) -> None:
    """8 trials of a small MLP on the embedded sample: wall time of the sweep on a 2-process
    LocalCluster against the sum of the trials' own times / 2 (perfect parallelism)."""
    spec = parse(
        {
            "model": "mlp",
            "sampler": "grid",
            "train": {"epochs": 12, "hidden": "64", "batch_size": 64},
            "search": {
                "lr": {"type": "choice", "values": [0.01, 0.02, 0.04, 0.08]},
                "l2": {"type": "choice", "values": [0.0, 0.001]},
            },
        }
    )
    t0 = time.perf_counter()
    with DaskExecutor(workers=2) as ex:
        t_start = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = run_sweep(spec, tmp / "overhead", ex, progress=False)
        wall = time.perf_counter() - t1
    trial_sum = sum(r["seconds"] for r in result.rows)
    ideal = trial_sum / 2
    print("| measure | seconds |")
    print("|---|---|")
    print(f"| cluster start (2 worker processes) | {t_start:.1f} |")
    print(f"| sweep wall time, 8 trials on 2 workers | {wall:.1f} |")
    print(f"| sum of the trials' own times / 2 | {ideal:.1f} |")
    print(f"| overhead (wall / ideal) | {wall / ideal:.2f}× |")


def real(tmp: Path, data_dir: str, epochs: int) -> None:
    """A learning-rate × L2 grid of the default MLP on the real data, 2 workers."""
    spec = parse(
        {
            "model": "mlp",
            "data": str(Path(data_dir).resolve()),
            "sampler": "grid",
            "train": {"epochs": epochs},
            "search": {
                "lr": {"type": "choice", "values": [0.01, 0.03, 0.1]},
                "l2": {"type": "choice", "values": [0.0, 0.0005]},
            },
        }
    )
    out = ROOT / "docs" / "sweep-real"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    with DaskExecutor(workers=2) as ex:
        result = run_sweep(spec, out, ex, progress=True)
    wall = time.perf_counter() - t0
    print(f"sweep of {len(result.rows)} trials in {wall / 60:.1f} min; best: {result.best}")
    with open(out / "trials.csv") as f:
        for row in csv.DictReader(f):
            print(
                f"| {row['lr']} | {row['l2']} | {float(row['val_accuracy']):.3f} | "
                f"{float(row['seconds']):.0f} |"
            )
    # keep the report and figures, not the 6 models
    shutil.rmtree(out / "trials", ignore_errors=True)
    for name in ("study.journal", "best"):
        (out / name).unlink(missing_ok=True)


def detect_speed(tmp: Path) -> None:
    """Batch detection of 400 640×480 photos on 1 and 2 workers (images/s)."""
    from PIL import Image
    from skimage import data

    folder = tmp / "photos"
    folder.mkdir()
    base = np.asarray(Image.fromarray(data.astronaut()).resize((640, 480)))
    rng = np.random.default_rng(0)
    for i in range(400):
        noisy = np.clip(base.astype(np.int16) + rng.integers(-8, 9, base.shape), 0, 255)
        Image.fromarray(noisy.astype(np.uint8)).save(folder / f"{i:04d}.png")
    opts = {"scale_factor": 1.2, "min_neighbors": 3}
    rates = {}
    for name, make in (
        ("1 worker (in process)", InProcessExecutor),
        ("2 workers", lambda: DaskExecutor(2)),
    ):
        out = tmp / f"{name[0]}.jsonl"
        with make() as ex:
            run_batch(
                [str(folder / "000*.png")],
                detect_chunk,
                ("frontalface", opts),
                tmp / "warm.jsonl",
                ex,
                progress=False,
            )
            (tmp / "warm.jsonl").unlink()
            stats = run_batch(
                [str(folder)], detect_chunk, ("frontalface", opts), out, ex, progress=False
            )
        rates[name] = stats.written / stats.seconds
    print("| executor | images/s |")
    print("|---|---|")
    for name, r in rates.items():
        print(f"| {name} | {r:.1f} |")
    first = next(iter(rates.values()))
    print(f"| speed-up | {rates['2 workers'] / first:.2f}× |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["overhead", "real", "detect"])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared/datasets/cifar10-train.tar.gz"))
    ap.add_argument("--epochs", type=int, default=5)
    a = ap.parse_args()
    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="vedere-bench-"))
    try:
        if a.what == "overhead":
            overhead(tmp)
        elif a.what == "real":
            real(tmp, a.data_dir, a.epochs)
        else:
            detect_speed(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
