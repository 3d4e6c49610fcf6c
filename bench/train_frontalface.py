"""Train vedere's own frontal-face cascade (the one ``--cascade frontalface`` uses).

    python bench/train_frontalface.py [--out cascade.json] [--install] [--stages 25]
        [--max-features N] [--negatives N] [--min-detection 0.995] [--seed 0]

Data: see bench/face_data.py (faces24 minus a 10 % held-out split; CIFAR-10 training images
and face-free scikit-image photos as backgrounds). Prints one line per stage, the total
training time and the held-out detection / false-positive rates; ``--install`` writes the
cascade to src/vedere/detect/cascades/frontalface.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

import face_data
from vedere.detect.training import TrainParams, train_cascade

INSTALLED = Path(__file__).resolve().parents[1] / "src/vedere/detect/cascades/frontalface.json"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=Path("bench/results/frontalface.json"))
    ap.add_argument("--install", action="store_true")
    ap.add_argument("--stages", type=int, default=25)
    ap.add_argument("--max-features", type=int, default=None)
    ap.add_argument("--negatives", type=int, default=None)
    ap.add_argument("--max-weak", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-detection", type=float, default=0.995)
    args = ap.parse_args()

    t0 = time.perf_counter()
    split = face_data.faces_split()
    bgs = face_data.backgrounds()
    t_data = time.perf_counter() - t0
    print(
        f"data: {len(split['faces'])} faces, {len(split['nonfaces'])} non-faces, "
        f"{len(bgs)} backgrounds ({t_data:.1f} s)",
        flush=True,
    )
    params = TrainParams(
        stages=args.stages,
        max_features=args.max_features,
        negatives=args.negatives,
        max_weak=args.max_weak,
        seed=args.seed,
        min_detection=args.min_detection,
    )
    t0 = time.perf_counter()
    cascade, _reports = train_cascade(
        split["faces"], split["nonfaces"], bgs, params, log=lambda s: print(s, flush=True)
    )
    seconds = time.perf_counter() - t0
    det = float(cascade.accepts(split["test_faces"]).mean())
    fpr = float(cascade.accepts(split["test_nonfaces"]).mean())
    summary = {
        "stages": cascade.n_stages,
        "stumps": len(cascade.feature),
        "train_seconds": round(seconds, 1),
        "held_out_detection": det,
        "held_out_false_positive": fpr,
        "held_out_faces": len(split["test_faces"]),
        "held_out_nonfaces": len(split["test_nonfaces"]),
        "machine": f"{platform.processor() or platform.machine()}, python {sys.version.split()[0]}",
    }
    cascade.meta["benchmark"] = summary
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cascade.save(args.out)
    print(f"wrote {args.out}")
    if args.install:
        INSTALLED.parent.mkdir(parents=True, exist_ok=True)
        cascade.save(INSTALLED)
        print(f"installed {INSTALLED}")
    _ = np  # numpy imported for face_data's arrays


if __name__ == "__main__":
    main()
