"""Training with ``vedere train-detector``'s defaults and a dozen face-free photos as
backgrounds: before (the photos alone) and after (plus the embedded CIFAR-10 sample, today's
default below 1,000 background images), against the shipped cascade (mined on 50,000 CIFAR-10
images).

    python bench/train_defaults.py [--max-features 10000] [--json out.json]

- faces and non-faces: faces24 minus its 10 % held-out split (bench/face_data.py), as
  ``--faces`` / ``--nonfaces``;
- backgrounds: the first 12 of face_data.TRAIN_PHOTOS (scikit-image photos without faces);
- every other setting: TrainParams' defaults (the CLI's), except ``--max-features``: a random
  subset of the 162,336 Haar features, the same for both runs, so that each run stays within
  a few minutes on a small machine (0: all of them);
- held-out group photos: the 40 synthetic scenes of face_data.scenes (held-out faces24 faces
  on four held-out photos) and 50 scenes of two real faces each (scikit-image's LFW subset,
  tests/detect/photos.py's lfw_scenes). A face is found when a box and the face's square
  each hold the other's centre (box-size conventions aside); a box that holds no face is a
  false box. Raw windows, scale 1.1, minNeighbors 3.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tests.detect.photos import lfw_scenes_with_boxes  # noqa: E402

import face_data  # noqa: E402
from vedere.detect.detector import detect  # noqa: E402
from vedere.detect.facebox import match_boxes  # noqa: E402
from vedere.detect.library import resolve_cascade  # noqa: E402
from vedere.detect.samples import with_sample_backgrounds  # noqa: E402
from vedere.detect.training import TrainParams, train_cascade  # noqa: E402


def score(cascade, scenes) -> dict[str, float]:
    found = faces = false = 0
    for g, truth in scenes:
        boxes = detect(g, cascade, 1.1, 3, raw_window=True).boxes
        pairs = match_boxes(boxes, truth)
        found += len(pairs)
        faces += len(truth)
        false += len(boxes) - len(pairs)
    return {"faces": faces, "detection_rate": round(found / faces, 3), "false_boxes": false}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--max-features", type=int, default=10000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    split = face_data.faces_split()
    photos = [face_data.skimage_photo(n) for n in face_data.TRAIN_PHOTOS[:12]]
    held_out = {
        "synthetic (40 scenes)": face_data.scenes(split["test_faces"]),
        "lfw (50 scenes)": lfw_scenes_with_boxes(range(100), seed=7),
    }
    result: dict = {"max_features": args.max_features or None}
    result["shipped"] = {k: score(resolve_cascade("frontalface"), v) for k, v in held_out.items()}
    print(json.dumps(result["shipped"]), flush=True)
    for label, use_sample in (("photos only (before)", False), ("photos + sample (after)", True)):
        bgs, added = with_sample_backgrounds(photos, use_sample)
        params = TrainParams(max_features=args.max_features or None)
        t0 = time.perf_counter()
        cascade, reports = train_cascade(
            split["faces"], split["nonfaces"], bgs, params, log=lambda s: print(s, flush=True)
        )
        seconds = time.perf_counter() - t0
        result[label] = {
            "backgrounds": len(bgs),
            "sample_images": added,
            "stages": cascade.n_stages,
            "stumps": len(cascade.feature),
            "train_seconds": round(seconds, 1),
            "estimated_false_positive_rate": reports[-1].cascade_false_positive_rate,
            **{k: score(cascade, v) for k, v in held_out.items()},
        }
        print(label, json.dumps(result[label]), flush=True)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
