"""Viola–Jones benchmarks: AdaBoost round time, detection speed against OpenCV, accuracy of
vedere's own cascade on held-out windows and synthetic scenes, and the profile question.

    python bench/detection.py [--cascade frontalface] [--only rounds,speed,heldout,scenes,profile]
        [--json out.json]

- rounds:  one AdaBoost round over all 162,336 features of a 24x24 window on 6,400 samples
           (faces24: 2,200 faces + 4,200 non-faces); baseline: scikit-learn's depth-1
           DecisionTreeClassifier (the usual way to fit a weighted stump) on a 4,000-feature
           subset, scaled linearly to 162,336 features.
- speed:   vedere's detector vs cv2.CascadeClassifier.detectMultiScale with OpenCV's stock
           frontal-face cascade on the same grey photos (scale 1.1, minNeighbors 3; median of 5;
           both on every core of the machine). The boxes are also compared.
- heldout: the cascade on the 10 % of faces24 held out from training (220 faces, 420
           non-faces), and OpenCV's stock cascade on the same windows for reference.
- scenes:  40 synthetic 320x240 scenes (held-out faces pasted at 32–96 px on four held-out
           photos); a face counts as found when a box overlaps it with IoU >= 0.5.
- profile: detection rate on held-out faces turned in the image plane and squeezed
           horizontally as a head turning away (yaw), for our cascade, OpenCV's frontal and
           profile cascades, and each with --mirror.
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


def bench_speed(ours_name: str) -> dict:
    import photos  # tests/detect/photos.py

    stock_path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    stock = resolve_cascade("opencv:frontalface_default")
    cv = cv2.CascadeClassifier(stock_path)
    ours = resolve_cascade(ours_name)
    big = np.asarray(Image.fromarray(photos.tiled_heads()).resize((1280, 960)))
    images = {name: fn() for name, fn in photos.PHOTOS.items()} | {"tiled_heads_1280x960": big}
    rows = []
    detect(images["astronaut"], stock)  # compile
    for name, g in images.items():
        tv, tc, to = [], [], []
        for _ in range(5):
            t0 = time.perf_counter()
            d = detect(g, stock, 1.1, 3)
            tv.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            e = cv.detectMultiScale(g, 1.1, 3)
            tc.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            detect(g, ours, 1.1, 3)
            to.append(time.perf_counter() - t0)
        same = sorted(map(tuple, d.boxes.tolist())) == sorted(
            map(tuple, np.asarray(e).reshape(-1, 4).tolist())
        )
        v, c, o = statistics.median(tv), statistics.median(tc), statistics.median(to)
        rows.append(
            {
                "image": name,
                "size": f"{g.shape[1]}x{g.shape[0]}",
                "vedere_stock_s": round(v, 3),
                "opencv_stock_s": round(c, 3),
                "ratio": round(v / c, 2),
                "same_boxes": same,
                "vedere_own_cascade_s": round(o, 3),
            }
        )
    return {"rows": rows, "opencv_threads": cv2.getNumThreads()}


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
    }

    # windows are 24x24; the profile cascade's window is 20x20: resize for it
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
    ap.add_argument("--only", default="rounds,speed,heldout,scenes,profile")
    ap.add_argument("--json", type=str, default=None)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "detect"))
    split = face_data.faces_split()
    result: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, python {sys.version.split()[0]}",
        "cascade": args.cascade,
    }
    benches = {
        "rounds": lambda: bench_rounds(split),
        "speed": lambda: bench_speed(args.cascade),
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
