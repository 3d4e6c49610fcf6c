"""Viola–Jones benchmarks: AdaBoost round time, detection speed against OpenCV, accuracy of
vedere's own cascade on held-out windows and synthetic scenes, and the profile question.

    python bench/detection.py [--cascade frontalface] [--threads 2] [--json out.json]
        [--only rounds,speed,fps,breakdown,cpu,heldout,scenes,profile | --speed]

- rounds:  one AdaBoost round over all 162,336 features of a 24x24 window on 6,400 samples
           (faces24: 2,200 faces + 4,200 non-faces); baseline: scikit-learn's depth-1
           DecisionTreeClassifier (the usual way to fit a weighted stump) on a 4,000-feature
           subset, scaled linearly to 162,336 features.
- speed:   vedere's detector vs cv2.CascadeClassifier.detectMultiScale with OpenCV's stock
           frontal-face cascade on the same grey photos (scale 1.1, minNeighbors 3; median of 5
           interleaved rounds; both on --threads threads). The boxes are also compared.
- fps:     frames per second on a 640x480 photo at scale 1.2 and 1.1 (own cascade, stock
           cascade in vedere and OpenCV), and the time for a 96x96 crop.
- breakdown: where the time goes on the 640x480 photo (levels built, scan, first stages,
           grouping, Python).
- cpu:     the stock cascade on one thread each, CPU seconds (robust on a busy machine).
           --speed runs speed, fps, breakdown and cpu only (about a minute on 2 idle cores).
- heldout: the cascade on the 10 % of faces24 held out from training (220 faces, 420
           non-faces), and OpenCV's stock cascade on the same windows for reference.
- scenes:  40 synthetic 320x240 scenes (held-out faces pasted at 32–96 px on four held-out
           photos); a face counts as found when a box overlaps it with IoU >= 0.5.
- profile: detection rate on held-out faces turned in the image plane and squeezed
           horizontally as a head turning away (yaw), for our cascade, OpenCV's frontal and
           profile cascades (Haar and LBP), and each with --mirror.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import cv2
import numba
import numpy as np
from PIL import Image

import face_data
from vedere.detect import adaboost
from vedere.detect.detector import detect
from vedere.detect.haar import enumerate_features
from vedere.detect.library import resolve_cascade
from vedere.detect.normalize import window_integrals
from vedere.detect.rect_features import from_haar


def bench_rounds(split: dict) -> dict:
    from sklearn.tree import DecisionTreeClassifier

    faces = np.concatenate([split["faces"], split["test_faces"]])
    nonfaces = np.concatenate([split["nonfaces"], split["test_nonfaces"]])
    X = np.concatenate([faces, nonfaces])
    y = np.r_[np.ones(len(faces), np.int8), np.zeros(len(nonfaces), np.int8)]
    pool = from_haar(enumerate_features(24, 24))
    dense = pool.dense(24, 24)
    ii, inv, _ = window_integrals(X)
    flat = ii.reshape(len(X), -1).astype(np.float32)

    def values(idx: np.ndarray) -> np.ndarray:
        return (dense[idx] @ flat.T) * inv

    t0 = time.perf_counter()
    order = adaboost.presort(values, len(pool))
    presort_s = time.perf_counter() - t0
    boost = adaboost.AdaBoost(values, len(pool), y, order)
    boost.step()  # compiles the kernel
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        boost.step()
        times.append(time.perf_counter() - t0)
    # baseline: a weighted depth-1 tree per round on a feature subset
    sub = np.random.default_rng(0).choice(len(pool), 4000, replace=False)
    Xs = values(np.sort(sub)).T.copy()
    w = boost.weights / boost.weights.sum()
    t0 = time.perf_counter()
    DecisionTreeClassifier(max_depth=1).fit(Xs, y, sample_weight=w)
    sk_sub = time.perf_counter() - t0
    sk_full = sk_sub * len(pool) / len(sub)
    r = statistics.median(times)
    return {
        "features": len(pool),
        "samples": len(X),
        "presort_s": round(presort_s, 1),
        "order_bytes": int(order.nbytes),
        "round_s_median": round(r, 3),
        "round_s_all": [round(t, 3) for t in times],
        "sklearn_stump_s_scaled": round(sk_full, 1),
        "speedup_vs_sklearn": round(sk_full / r, 1),
    }


def _interleaved(fns: dict, rounds: int) -> dict[str, float]:
    """Median seconds of each function, the functions run in turn in every round (so a busy
    machine slows them alike)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _speed_images() -> dict[str, np.ndarray]:
    import photos  # tests/detect/photos.py

    big = np.asarray(Image.fromarray(photos.tiled_heads()).resize((1280, 960)))
    return {name: fn() for name, fn in photos.PHOTOS.items()} | {"tiled_heads_1280x960": big}


def bench_speed(ours_name: str, rounds: int = 5) -> dict:
    """vedere and OpenCV with the stock cascade (scale 1.1, minNeighbors 3) on each photo,
    interleaved, and vedere's own cascade; ratio of medians; boxes compared."""
    stock_path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    stock = resolve_cascade("opencv:frontalface_default")
    cv = cv2.CascadeClassifier(stock_path)
    ours = resolve_cascade(ours_name)
    images = _speed_images()
    rows = []
    detect(images["astronaut"], stock)  # compile
    for name, g in images.items():
        t = _interleaved(
            {
                "v": lambda g=g: detect(g, stock, 1.1, 3),
                "c": lambda g=g: cv.detectMultiScale(g, 1.1, 3),
                "o": lambda g=g: detect(g, ours, 1.1, 3),
            },
            rounds,
        )
        same = sorted(map(tuple, detect(g, stock, 1.1, 3).boxes.tolist())) == sorted(
            map(tuple, np.asarray(cv.detectMultiScale(g, 1.1, 3)).reshape(-1, 4).tolist())
        )
        rows.append(
            {
                "image": name,
                "size": f"{g.shape[1]}x{g.shape[0]}",
                "vedere_stock_s": round(t["v"], 4),
                "opencv_stock_s": round(t["c"], 4),
                "ratio": round(t["v"] / t["c"], 2),
                "same_boxes": same,
                "vedere_own_cascade_s": round(t["o"], 4),
            }
        )
    return {"rows": rows, "opencv_threads": cv2.getNumThreads(), "rounds": rounds}


def bench_cpu(ours_name: str, rounds: int = 5) -> dict:
    """The stock cascade on each photo on ONE thread each (vedere's serial kernels, OpenCV
    with setNumThreads(1)), CPU seconds of the process (time.process_time): a busy machine
    changes these much less than wall-clock times. Also vedere's own cascade on the 640x480
    photo at scale 1.2 and 1.1, one thread."""
    import photos

    stock = resolve_cascade("opencv:frontalface_default")
    ours = resolve_cascade(ours_name)
    cv = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    threads = (cv2.getNumThreads(), numba.get_num_threads())
    cv2.setNumThreads(1)
    numba.set_num_threads(1)
    rows = []
    try:
        for name, g in _speed_images().items():
            times: dict[str, list[float]] = {"v": [], "c": []}
            for _ in range(rounds):
                for k, fn in (
                    ("v", lambda g=g: detect(g, stock, 1.1, 3)),
                    ("c", lambda g=g: cv.detectMultiScale(g, 1.1, 3)),
                ):
                    t0 = time.process_time()
                    fn()
                    times[k].append(time.process_time() - t0)
            v, c = statistics.median(times["v"]), statistics.median(times["c"])
            rows.append(
                {
                    "image": name,
                    "vedere_cpu_s": round(v, 4),
                    "opencv_cpu_s": round(c, 4),
                    "ratio": round(v / c, 2),
                }
            )
        g = photos.tiled_heads()
        own = {}
        for sf in (1.2, 1.1):
            times = []
            for _ in range(3 * rounds):
                t0 = time.process_time()
                detect(g, ours, sf, 3)
                times.append(time.process_time() - t0)
            own[f"scale_{sf}_cpu_s"] = round(statistics.median(times), 4)
    finally:
        cv2.setNumThreads(threads[0])
        numba.set_num_threads(threads[1])
    return {"rows": rows, "own_cascade_640x480_one_thread": own}


def bench_fps(ours_name: str, rounds: int = 15) -> dict:
    """Frames per second on the 640x480 photo at scale factors 1.2 and 1.1: vedere's own
    cascade, the stock cascade in vedere and in OpenCV (interleaved), and vedere with the
    features scaled instead of the image (scan="features"); and a 96x96 crop (what a
    per-call overhead costs)."""
    import photos

    stock_path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    stock = resolve_cascade("opencv:frontalface_default")
    cv = cv2.CascadeClassifier(stock_path)
    ours = resolve_cascade(ours_name)
    g = photos.tiled_heads()
    small = np.ascontiguousarray(photos.astronaut()[60:156, 190:286])
    detect(g, ours)
    out = {}
    for sf in (1.2, 1.1):
        t = _interleaved(
            {
                "own": lambda sf=sf: detect(g, ours, sf, 3),
                "own_scaled_features": lambda sf=sf: detect(g, ours, sf, 3, scan="features"),
                "vedere_stock": lambda sf=sf: detect(g, stock, sf, 3),
                "stock_scaled_features": lambda sf=sf: detect(g, stock, sf, 3, scan="features"),
                "opencv_stock": lambda sf=sf: cv.detectMultiScale(g, sf, 3),
            },
            rounds,
        )
        out[f"scale_{sf}"] = {k: {"s": round(v, 4), "fps": round(1 / v, 1)} for k, v in t.items()}
    t = _interleaved(
        {
            "vedere_stock": lambda: detect(small, stock, 1.1, 3),
            "opencv_stock": lambda: cv.detectMultiScale(small, 1.1, 3),
        },
        rounds,
    )
    out["crop_96x96_scale_1.1_s"] = {k: round(v, 5) for k, v in t.items()}
    return out


def bench_breakdown(ours_name: str, rounds: int = 9) -> dict:
    """Where a detection's time goes on the 640x480 photo: building the levels (resize and
    both integral images, one compiled pass), the scan (and of it, the first stage and the
    first two stages alone: the cascade truncated), grouping, and the rest (Python)."""
    import photos

    from vedere.detect import haar_row_kernels, pyramid_kernels, scan
    from vedere.detect.detector import CompiledCascade, detect_raw
    from vedere.detect.grouping import group_rectangles

    g = photos.tiled_heads()
    spent: dict[str, float] = {}

    def timed(name, fn):
        def run(*args):
            t0 = time.perf_counter()
            fn(*args)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0

        return run

    real_build, real_scan = pyramid_kernels.build_levels, haar_row_kernels.scan_haar_rows
    out = {}
    try:
        scan.pyramid_kernels.build_levels = timed("build", real_build)
        scan.haar_row_kernels.scan_haar_rows = timed("scan", real_scan)
        for label, name, sf in (
            ("own_scale_1.2", ours_name, 1.2),
            ("own_scale_1.1", ours_name, 1.1),
            ("stock_scale_1.1", "opencv:frontalface_default", 1.1),
        ):
            cascade = resolve_cascade(name)
            detect(g, cascade, sf)
            stages = {k: CompiledCascade(cascade.truncated(k)) for k in (1, 2)}
            rec: dict[str, list[float]] = {}
            for _ in range(rounds):
                spent.clear()
                t0 = time.perf_counter()
                raw, _ = detect_raw(g, cascade, sf)
                t1 = time.perf_counter()
                group_rectangles(raw, 3)
                t2 = time.perf_counter()
                for k in ("build", "scan"):
                    rec.setdefault(k, []).append(spent[k])
                rec.setdefault("grouping", []).append(t2 - t1)
                rec.setdefault("total", []).append(t2 - t0)
                rec.setdefault("rest", []).append(t1 - t0 - spent["build"] - spent["scan"])
                for k, c in stages.items():
                    spent.clear()
                    detect_raw(g, c, sf)
                    rec.setdefault(f"scan_first_{k}_stages", []).append(spent["scan"])
            out[label] = {k: round(statistics.median(v) * 1e3, 2) for k, v in rec.items()}
            out[label]["unit"] = "ms"
    finally:
        scan.pyramid_kernels.build_levels = real_build
        scan.haar_row_kernels.scan_haar_rows = real_scan
    return out


def window_rates(cascade, faces: np.ndarray, nonfaces: np.ndarray) -> dict:
    return {
        "detection": round(float(cascade.accepts(faces).mean()), 4),
        "false_positive": round(float(cascade.accepts(nonfaces).mean()), 4),
    }


def bench_heldout(split: dict, ours_name: str) -> dict:
    ours = resolve_cascade(ours_name)
    stock = resolve_cascade("opencv:frontalface_default")
    tf, tn = split["test_faces"], split["test_nonfaces"]
    return {
        "faces": len(tf),
        "nonfaces": len(tn),
        "vedere": window_rates(ours, tf, tn),
        "opencv_stock": window_rates(stock, tf, tn),
    }


def bench_scenes(split: dict, ours_name: str) -> dict:
    scenes = face_data.scenes(split["test_faces"])
    out = {}
    for label, spec in (("vedere", ours_name), ("opencv_stock", "opencv:frontalface_default")):
        c = resolve_cascade(spec)
        # the pasted faces are tight faces24 crops, the windows' own convention: compare the
        # raw windows (the face-box map of frontalface widens them to OpenCV's whole face)
        found = [detect(g, c, 1.1, 3, raw_window=True).boxes for g, _ in scenes]
        out[label] = face_data.score_scenes(found, [t for _, t in scenes])
    out["scenes"] = len(scenes)
    return out


def _turn(face: np.ndarray, angle: float) -> np.ndarray:
    im = Image.fromarray(face).rotate(
        angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=int(np.median(face))
    )
    return np.asarray(im)


def _yaw(face: np.ndarray, deg: float) -> np.ndarray:
    """Squeeze the face horizontally by cos(yaw) towards one side; the freed strip repeats the
    edge column (a crude stand-in for a head turning away)."""
    k = max(4, round(24 * np.cos(np.radians(deg))))
    squeezed = np.asarray(Image.fromarray(face).resize((k, 24), Image.Resampling.BILINEAR))
    pad = np.repeat(squeezed[:, -1:], 24 - k, axis=1)
    return np.concatenate([squeezed, pad], axis=1)


def bench_profile(split: dict, ours_name: str) -> dict:
    faces = split["test_faces"]
    cascades = {
        "vedere": resolve_cascade(ours_name),
        "opencv_frontal": resolve_cascade("opencv:frontalface_default"),
        "opencv_profile": resolve_cascade("opencv:profileface"),
        "opencv_lbp_profile": resolve_cascade("opencv:lbpcascade_profileface"),
    }

    # windows are 24x24; the profile cascades' windows are 20x20 (Haar) and 20 wide x 34 high
    # (LBP): resize for them
    def rate(c, wins: np.ndarray, mirror: bool) -> float:
        if c.window != (24, 24):
            wins = np.stack([np.asarray(Image.fromarray(w).resize(c.window[::-1])) for w in wins])
        ok = c.accepts(wins)
        if mirror:
            ok |= c.accepts(np.ascontiguousarray(wins[:, :, ::-1]))
        return round(float(ok.mean()), 3)

    rows = []
    for kind, fn, values in (
        ("in-plane turn (deg)", _turn, (0, 10, 20, 30, 45, 90)),
        ("yaw, squeezed (deg)", _yaw, (0, 30, 45, 60, 75)),
    ):
        for v in values:
            wins = np.stack([fn(f, v) for f in faces])
            row = {"transform": kind, "value": v}
            for name, c in cascades.items():
                row[name] = rate(c, wins, False)
                row[name + "+mirror"] = rate(c, wins, True)
            rows.append(row)
    return {"rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cascade", default="frontalface")
    ap.add_argument("--only", default="rounds,speed,fps,breakdown,cpu,heldout,scenes,profile")
    ap.add_argument("--json", type=str, default=None)
    ap.add_argument(
        "--speed",
        action="store_true",
        help="only the speed benchmarks (speed, fps, breakdown, cpu)",
    )
    ap.add_argument("--threads", type=int, default=2, help="threads for OpenCV and vedere")
    args = ap.parse_args()
    if args.speed:
        args.only = "speed,fps,breakdown,cpu"
    cv2.setNumThreads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "detect"))
    need_split = {"rounds", "heldout", "scenes", "profile"} & set(args.only.split(","))
    split = face_data.faces_split() if need_split else {}
    result: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, python {sys.version.split()[0]}",
        "threads": {"opencv": cv2.getNumThreads(), "numba": numba.get_num_threads()},
        "cascade": args.cascade,
    }
    benches = {
        "rounds": lambda: bench_rounds(split),
        "speed": lambda: bench_speed(args.cascade),
        "fps": lambda: bench_fps(args.cascade),
        "cpu": lambda: bench_cpu(args.cascade),
        "breakdown": lambda: bench_breakdown(args.cascade),
        "heldout": lambda: bench_heldout(split, args.cascade),
        "scenes": lambda: bench_scenes(split, args.cascade),
        "profile": lambda: bench_profile(split, args.cascade),
    }
    for name in args.only.split(","):
        t0 = time.perf_counter()
        result[name] = benches[name]()
        print(f"== {name} ({time.perf_counter() - t0:.1f} s)")
        print(json.dumps(result[name], indent=1), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
