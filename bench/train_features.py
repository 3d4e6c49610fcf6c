"""Training with each feature pool on faces24 (issue 23): haar vs haar-extended vs lbp
(and optionally trees), same data, same settings, same seed.

    python bench/train_features.py [--stages 4] [--max-features 4000] [--cifar N]
        [--sets haar,haar-extended,lbp] [--weak stump] [--json out.json]

Trains on the training part of bench/face_data.py's faces24 split (mining negatives from
the training photos and, with --cifar N, the first N CIFAR-10 images in grey), then reports
per feature set: training seconds, stages and weak classifiers, and the held-out window
rates (detection rate on the 220 held-out faces, false-positive rate on the 420 held-out
non-faces). ``--max-features`` draws the same number of candidates from each pool (LBP's
pool for 24×24 has 8,464 features; Haar's 162,336; extended adds 40,700 tilted ones).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numba

import face_data
from vedere.detect.training import TrainParams, train_cascade


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--stages", type=int, default=4)
    ap.add_argument("--max-features", type=int, default=4000)
    ap.add_argument("--max-weak", type=int, default=100)
    ap.add_argument("--cifar", type=int, default=0, help="CIFAR-10 backgrounds to mine")
    ap.add_argument("--sets", default="haar,haar-extended,lbp")
    ap.add_argument("--weak", default="stump")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    sys.path.insert(0, os.path.dirname(__file__))
    import machine

    split = face_data.faces_split()
    bgs = [face_data.skimage_photo(n) for n in face_data.TRAIN_PHOTOS]
    if args.cifar:
        bgs += face_data.backgrounds(cifar=True)[len(bgs) : len(bgs) + args.cifar]
    result: dict = {"machine": machine.describe(), "args": vars(args), "rows": []}
    for features in args.sets.split(","):
        params = TrainParams(
            stages=args.stages,
            max_features=args.max_features,
            max_weak=args.max_weak,
            features=features,
            weak=args.weak,
            seed=0,
        )
        t0 = time.perf_counter()
        cascade, reports = train_cascade(
            split["faces"], split["nonfaces"], bgs, params, log=lambda s: print(s, flush=True)
        )
        seconds = time.perf_counter() - t0
        det = float(cascade.accepts(split["test_faces"]).mean())
        fpr = float(cascade.accepts(split["test_nonfaces"]).mean())
        row = {
            "features": features,
            "weak": args.weak,
            "seconds": round(seconds, 1),
            "stages": cascade.n_stages,
            "weak_classifiers": cascade.n_weak,
            "heldout_detection": round(det, 4),
            "heldout_false_positive": round(fpr, 4),
            "stage_seconds": [round(r.seconds, 1) for r in reports],
        }
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
