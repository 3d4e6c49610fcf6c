"""Test photos for the detector: scikit-image's astronaut and synthetic scenes made from it
and from face-free sample photos (deterministic)."""

import numpy as np
from PIL import Image
from skimage import data

from vedere.detect.samples import to_gray


def astronaut() -> np.ndarray:
    return to_gray(data.astronaut())


def _paste(dst: np.ndarray, src: np.ndarray, x: int, y: int, size: tuple[int, int]) -> None:
    im = np.asarray(Image.fromarray(src).resize(size, Image.Resampling.BILINEAR))
    dst[y : y + im.shape[0], x : x + im.shape[1]] = im


def two_faces_on_coffee() -> np.ndarray:
    """The astronaut's head at two sizes on the coffee photo."""
    scene = to_gray(data.coffee()).copy()
    head = astronaut()[20:230, 130:330]
    _paste(scene, head, 20, 40, (150, 158))
    _paste(scene, head, 330, 150, (220, 231))
    return scene


def flipped_dim_noisy() -> np.ndarray:
    """The astronaut mirrored, darker (gamma 1.4), down-scaled to 400x400, with noise."""
    rng = np.random.default_rng(7)
    g = astronaut()[:, ::-1]
    g = np.asarray(Image.fromarray(g).resize((400, 400), Image.Resampling.BILINEAR))
    g = 255 * (g / 255.0) ** 1.4 + rng.normal(0, 4, g.shape)
    return np.clip(np.rint(g), 0, 255).astype(np.uint8)


def tiled_heads() -> np.ndarray:
    """Four copies of the head at different sizes on gravel."""
    scene = np.asarray(Image.fromarray(to_gray(data.gravel())).resize((640, 480))).copy()
    head = astronaut()[20:230, 130:330]
    for x, y, s in ((10, 10, 100), (150, 60, 140), (330, 20, 190), (40, 250, 120)):
        _paste(scene, head, x, y, (s, int(s * 1.05)))
    return scene


PHOTOS = {
    "astronaut": astronaut,
    "two_faces_on_coffee": two_faces_on_coffee,
    "flipped_dim_noisy": flipped_dim_noisy,
    "tiled_heads": tiled_heads,
}


def lfw_scenes(
    faces: range, per_scene: int = 2, seed: int = 0, size: tuple[int, int] = (240, 320)
) -> list[np.ndarray]:
    """Faces ``faces`` of scikit-image's LFW subset (25×25 crops of real photos, brows to
    chin), enlarged to 60–110 px and pasted ``per_scene`` to a scene on crops of face-free
    sample photos; one grey (H, W) scene per ``per_scene`` faces (deterministic)."""
    return [scene for scene, _ in lfw_scenes_with_boxes(faces, per_scene, seed, size)]


def lfw_scenes_with_boxes(
    faces: range, per_scene: int = 2, seed: int = 0, size: tuple[int, int] = (240, 320)
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`lfw_scenes` with the squares (k, 4) x, y, w, h the faces were pasted into."""
    rng = np.random.default_rng(seed)
    lfw = np.clip(np.rint(data.lfw_subset()[: max(faces) + 1] * 255), 0, 255).astype(np.uint8)
    backs = [to_gray(getattr(data, n)()) for n in ("coffee", "rocket", "brick", "grass")]
    h, w = size
    scenes = []
    idx = list(faces)
    for k in range(0, len(idx), per_scene):
        b = backs[rng.integers(len(backs))]
        y0, x0 = rng.integers(0, b.shape[0] - h + 1), rng.integers(0, b.shape[1] - w + 1)
        scene = b[y0 : y0 + h, x0 : x0 + w].copy()
        slot = w // per_scene
        boxes = []
        for n, i in enumerate(idx[k : k + per_scene]):
            s = int(rng.integers(60, 111))
            x = n * slot + int(rng.integers(0, max(1, slot - s)))
            y = int(rng.integers(0, h - s))
            _paste(scene, lfw[i], x, y, (s, s))
            boxes.append([x, y, s, s])
        scenes.append((scene, np.array(boxes, dtype=np.int64).reshape(-1, 4)))
    return scenes
