"""Fit the map from a cascade's detection window to the face box it reports, against the boxes
OpenCV's stock ``haarcascade_frontalface_default`` draws around the same faces.

    python bench/calibrate_boxes.py [--cascade frontalface] [--install | --out FILE] [--json F]

vedere's ``frontalface`` was trained on tight 19×19 CBCL crops (brows to mouth), so its
windows are about 0.7× the side of OpenCV's boxes. On each photo both cascades scan
(scale 1.1, minNeighbors 3), windows and OpenCV boxes are paired when each one's centre lies
inside the other (:func:`vedere.detect.facebox.match_boxes`), and the map
(box centre = window centre + (dx·w, dy·h), side = scale·side) is fitted on the pairs of the
FIT photos (:func:`vedere.detect.facebox.fit_face_box`: medians). The IoU with OpenCV's box is
then reported before (raw windows) and after (mapped boxes) on the FIT photos and on the
HELD-OUT photos, which the fit never saw:

- fit:      50 faces of scikit-image's LFW subset (0–49) pasted two to a scene on sample
            photos, tests/detect/photos.py's two_faces_on_coffee and tiled_heads;
- held out: LFW faces 50–99 in scenes of their own, the astronaut and
            flipped_dim_noisy (the astronaut mirrored, darker, smaller, noisy).

``--install`` writes the fitted map into src/vedere/detect/cascades/frontalface.json
(``face_box``); nothing else of the cascade changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.detect.photos import PHOTOS, lfw_scenes  # noqa: E402

from vedere.detect.cascade import load_cascade  # noqa: E402
from vedere.detect.detector import detect  # noqa: E402
from vedere.detect.facebox import FaceBox, fit_face_box, iou, match_boxes  # noqa: E402
from vedere.detect.library import cascade_path  # noqa: E402

INSTALLED = REPO / "src/vedere/detect/cascades/frontalface.json"


def photo_sets() -> dict[str, list[tuple[str, np.ndarray]]]:
    fit = [(f"lfw0-49 #{i}", g) for i, g in enumerate(lfw_scenes(range(0, 50), seed=0))]
    fit += [(n, PHOTOS[n]()) for n in ("two_faces_on_coffee", "tiled_heads")]
    held = [(f"lfw50-99 #{i}", g) for i, g in enumerate(lfw_scenes(range(50, 100), seed=1))]
    held += [(n, PHOTOS[n]()) for n in ("astronaut", "flipped_dim_noisy")]
    return {"fit": fit, "held_out": held}


def opencv_boxes(gray: np.ndarray) -> np.ndarray:
    cv = cv2.CascadeClassifier(
        str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
    )
    return np.asarray(cv.detectMultiScale(gray, 1.1, 3)).reshape(-1, 4)


def pairs(cascade, photos) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windows (K, 4), OpenCV boxes (K, 4), image sizes (K, 2)) of the faces both find."""
    win, ref, sizes = [], [], []
    for _name, g in photos:
        ours = detect(g, cascade, 1.1, 3, raw_window=True).boxes
        theirs = opencv_boxes(g)
        for i, j in match_boxes(ours, theirs):
            win.append(ours[i])
            ref.append(theirs[j])
            sizes.append(g.shape)
    return np.array(win).reshape(-1, 4), np.array(ref).reshape(-1, 4), np.array(sizes)


def ious(boxes: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.array([iou(a, b)[0, 0] for a, b in zip(boxes, ref, strict=True)])


def summary(v: np.ndarray) -> dict[str, float]:
    return {
        "faces": len(v),
        "mean": round(float(v.mean()), 3),
        "median": round(float(np.median(v)), 3),
        "min": round(float(v.min()), 3),
        "share_ge_0.5": round(float((v >= 0.5).mean()), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cascade", default="frontalface")
    ap.add_argument("--install", action="store_true", help="write the map into frontalface")
    ap.add_argument("--out", type=Path, help="write the calibrated cascade here")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args()

    cascade = load_cascade(cascade_path(args.cascade))
    sets = photo_sets()
    data = {k: pairs(cascade, v) for k, v in sets.items()}
    fb = fit_face_box(data["fit"][0], data["fit"][1])
    result: dict = {"face_box": fb.to_dict(), "previous_face_box": cascade.face_box.to_dict()}
    for k, (win, ref, sizes) in data.items():
        mapped = np.concatenate(
            [fb.apply(w[None], (int(s[0]), int(s[1]))) for w, s in zip(win, sizes, strict=True)]
        )
        result[k] = {
            "photos": len(sets[k]),
            "raw_window": summary(ious(win, ref)),
            "calibrated": summary(ious(mapped, ref)),
        }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    cascade.face_box = FaceBox(**fb.to_dict())
    if args.out:
        print(f"wrote {cascade.save(args.out)}")
    if args.install:
        cascade.save(INSTALLED)
        print(f"installed {INSTALLED}")


if __name__ == "__main__":
    main()
