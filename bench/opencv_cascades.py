"""Every cascade OpenCV ships (issue 23): vedere against cv2.CascadeClassifier.

    python bench/opencv_cascades.py [--rounds 5] [--threads 2] [--only NAME,...] [--json out]
        [--markdown]

For each stock cascade found (Debian's /usr/share/opencv4/{haarcascades,lbpcascades}, else
opencv-python's data folder) and each test photo (the four of tests/detect/photos.py and
scikit-image's astronaut, chelsea, coffee, camera and rocket, grey): whether vedere's raw
windows (minNeighbors 0) and grouped boxes (scale 1.1, minNeighbors 3) equal cv2's, and the
time of ``detect`` against ``detectMultiScale`` — medians of --rounds interleaved rounds
(both on --threads threads), summed over the photos, as a ratio; with --cpu, one thread
each and the best CPU seconds (time.process_time) of --rounds, which a busy machine
changes much less. Also vedere's LBP frontal
face against vedere's Haar frontal face (frontalface_default) on the same photos.

Prints the machine (``lscpu`` model name, NumPy's float32 matmul peak) with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numba
import numpy as np

from vedere.detect.cascade import load_cascade
from vedere.detect.detector import detect, detect_raw
from vedere.detect.opencv_xml import SYSTEM_DIRS, opencv_cascades
from vedere.detect.samples import to_gray


def photos() -> dict[str, np.ndarray]:
    from skimage import data

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "detect"))
    import photos as test_photos  # tests/detect/photos.py

    out = {name: fn() for name, fn in test_photos.PHOTOS.items()}
    for name in ("chelsea", "coffee", "camera", "rocket"):
        out[name] = np.ascontiguousarray(to_gray(getattr(data, name)()))
    return out


def stock_paths() -> dict[str, Path]:
    debian = {p.stem: p for d in SYSTEM_DIRS[:2] if d.is_dir() for p in sorted(d.glob("*.xml"))}
    return debian or opencv_cascades()


def machine() -> dict:
    """The fields bench/machine.py records (CPU model, cores, BLAS, matmul peak, …)."""
    sys.path.insert(0, os.path.dirname(__file__))
    import machine as machine_info  # bench/machine.py

    return dict(machine_info.describe()) | {"opencv": cv2.__version__}


CLOCK = time.perf_counter


def _timed(fn) -> float:
    t0 = CLOCK()
    fn()
    return CLOCK() - t0


def as_set(boxes) -> set:
    return {tuple(map(int, b)) for b in np.asarray(boxes).reshape(-1, 4)}


def bench_cascade(path: Path, images: dict[str, np.ndarray], rounds: int) -> dict:
    ours = load_cascade(path)
    cv = cv2.CascadeClassifier(str(path))
    same_raw = same_boxes = 0
    t_v = t_c = 0.0
    boxes = 0
    detect(next(iter(images.values())), ours)  # compile
    for g in images.values():
        raw, _ = detect_raw(g, ours, 1.1)
        same_raw += as_set(raw) == as_set(cv.detectMultiScale(g, 1.1, 0))
        found = detect(g, ours, 1.1, 3)
        expect = cv.detectMultiScale(g, 1.1, 3)
        same_boxes += as_set(found.boxes) == as_set(expect)
        boxes += len(found)
        tv, tc = [], []
        for _ in range(rounds):
            tv.append(_timed(lambda g=g: detect(g, ours, 1.1, 3)))
            tc.append(_timed(lambda g=g: cv.detectMultiScale(g, 1.1, 3)))
        pick = min if CLOCK is time.process_time else statistics.median
        t_v += pick(tv)
        t_c += pick(tc)
    kind = "lbp" if ours.is_lbp else ("haar+tilted" if ours.tilted else "haar")
    h, w = ours.window
    return {
        "cascade": path.stem,
        "window": f"{w}x{h}",
        "features": kind,
        "weak": "stumps" if ours.is_stumps else "trees",
        "photos": len(images),
        "same_raw_windows": same_raw,
        "same_boxes": same_boxes,
        "boxes": boxes,
        "vedere_s": round(t_v, 4),
        "opencv_s": round(t_c, 4),
        "ratio": round(t_v / t_c, 2),
    }


def markdown(rows: list[dict]) -> str:
    out = [
        "| cascade | window | features | weak | raw windows identical | boxes identical | "
        "vedere / OpenCV time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['cascade']} | {r['window']} | {r['features']} | {r['weak']} | "
            f"{r['same_raw_windows']}/{r['photos']} | {r['same_boxes']}/{r['photos']} | "
            f"{r['ratio']:.2f}× |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated cascade stems")
    ap.add_argument("--photos", default="", help="comma-separated photo names (default: all)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument(
        "--cpu",
        action="store_true",
        help="one thread each and CPU seconds of the process (time.process_time), best of "
        "--rounds: robust on a busy machine",
    )
    args = ap.parse_args()
    global CLOCK
    if args.cpu:
        args.threads = 1
        CLOCK = time.process_time
    cv2.setNumThreads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    images = photos()
    if args.photos:
        images = {k: v for k, v in images.items() if k in args.photos.split(",")}
    paths = stock_paths()
    if args.only:
        paths = {k: v for k, v in paths.items() if k in args.only.split(",")}
    result: dict = {
        "machine": machine() | {"platform": platform.platform()},
        "threads": {"opencv": cv2.getNumThreads(), "numba": numba.get_num_threads()},
        "rows": [],
    }
    print(json.dumps(result["machine"]), flush=True)
    for path in paths.values():
        row = bench_cascade(path, images, args.rounds)
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
    rows = {r["cascade"]: r for r in result["rows"]}
    if "lbpcascade_frontalface" in rows and "haarcascade_frontalface_default" in rows:
        lbp, haar = rows["lbpcascade_frontalface"], rows["haarcascade_frontalface_default"]
        result["lbp_vs_haar_frontalface"] = round(lbp["vedere_s"] / haar["vedere_s"], 3)
        ratio = result["lbp_vs_haar_frontalface"]
        print(f"vedere LBP frontal face / vedere Haar frontal face: {ratio}")
    if args.markdown:
        print(markdown(result["rows"]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
