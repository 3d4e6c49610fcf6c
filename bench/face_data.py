"""Data for the face-detector benchmarks: fixed, seeded splits of ../shared/datasets.

- faces24: 2,200 faces and 4,200 non-faces (24×24). 10 % of each (seed 0) is held out for
  the held-out measurement and never seen in training.
- Backgrounds for mining: the 50,000 CIFAR-10 training images (no class shows people), in grey,
  and scikit-image's face-free sample photos except four kept for the synthetic scenes.
- Synthetic scenes: held-out faces pasted at random sizes onto crops of the four held-out
  photos (coffee, rocket, hubble_deep_field, immunohistochemistry).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from vedere.detect.samples import load_windows, to_gray

SHARED = Path(os.environ.get("VEDERE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FACES = SHARED / "datasets" / "faces24-train.tar.gz"
CIFAR = SHARED / "datasets" / "cifar10-train.tar.gz"
TRAIN_PHOTOS = (
    "coins brick grass gravel moon page text logo colorwheel cell retina clock checkerboard "
    "microaneurysms horse chelsea"
).split()
SCENE_PHOTOS = ("coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def faces_split(seed: int = 0) -> dict[str, np.ndarray]:
    faces = load_windows(FACES, "face")
    nonfaces = load_windows(FACES, "nonface")
    rng = np.random.default_rng(seed)
    pf, pn = rng.permutation(len(faces)), rng.permutation(len(nonfaces))
    kf, kn = len(faces) // 10, len(nonfaces) // 10
    return {
        "faces": faces[pf[kf:]],
        "nonfaces": nonfaces[pn[kn:]],
        "test_faces": faces[pf[:kf]],
        "test_nonfaces": nonfaces[pn[:kn]],
    }


def skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    a = getattr(skimage.data, name)()
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    return to_gray(a)


def backgrounds(cifar: bool = True) -> list[np.ndarray]:
    out = [skimage_photo(n) for n in TRAIN_PHOTOS]
    if cifar:
        from vedere.data.dataset import load_split

        imgs = np.asarray(load_split(CIFAR, "train", progress=False).images)
        gray = np.rint(imgs.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
        out += list(np.clip(gray, 0, 255).astype(np.uint8))
    return out


def scenes(
    test_faces: np.ndarray, n: int = 40, seed: int = 1, size: tuple[int, int] = (240, 320)
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(grey scene, true boxes (k, 4) x, y, w, h) with 1–3 held-out faces of 32–96 px."""
    rng = np.random.default_rng(seed)
    photos = [skimage_photo(n) for n in SCENE_PHOTOS]
    out = []
    h, w = size
    for _ in range(n):
        p = photos[rng.integers(len(photos))]
        y0, x0 = rng.integers(0, p.shape[0] - h + 1), rng.integers(0, p.shape[1] - w + 1)
        scene = p[y0 : y0 + h, x0 : x0 + w].copy()
        boxes: list[list[int]] = []
        for _ in range(rng.integers(1, 4)):
            s = int(rng.integers(32, 97))
            for _try in range(50):
                x, y = int(rng.integers(0, w - s)), int(rng.integers(0, h - s))
                if all(
                    x + s <= bx or bx + bw <= x or y + s <= by or by + bh <= y
                    for bx, by, bw, bh in boxes
                ):
                    face = test_faces[rng.integers(len(test_faces))]
                    big = Image.fromarray(face).resize((s, s), Image.Resampling.BILINEAR)
                    scene[y : y + s, x : x + s] = np.asarray(big)
                    boxes.append([x, y, s, s])
                    break
        out.append((scene, np.array(boxes, dtype=np.int64).reshape(-1, 4)))
    return out


def score_scenes(
    found: list[np.ndarray], truth: list[np.ndarray], iou_min: float = 0.5
) -> dict[str, float]:
    """Detection rate (a true face matched by a box with IoU ≥ iou_min) and false positives
    per image (boxes matching no face)."""
    from vedere.detect.grouping import iou

    hits = total = fp = 0
    for f, t in zip(found, truth, strict=True):
        total += len(t)
        if len(f) == 0:
            continue
        m = iou(t, f) if len(t) else np.zeros((0, len(f)))
        hits += int((m.max(axis=1) >= iou_min).sum()) if len(t) else 0
        fp += int((m.max(axis=0) < iou_min).sum()) if len(t) else len(f)
    return {
        "detection_rate": hits / max(total, 1),
        "fp_per_image": fp / max(len(truth), 1),
        "faces": total,
    }
