"""``difficulties``: what makes vision hard, measured — accuracy of a trained CIFAR-10 model
as occlusion (cutout size), illumination (brightness, contrast, gamma), deformation (rotation,
elastic) and clutter (another image blended in) grow, with example images at each level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..viz.figure import new_figure, save_png
from .base import Context, Report, figure_path
from .training import predict_proba, train


def occlude(x: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    out = x.copy()
    if size <= 0:
        return out
    h, w = x.shape[1:3]
    size = min(int(size), h, w)  # a square larger than the image (32 px on MNIST) covers it
    for i in range(len(x)):
        r, c = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        out[i, r : r + size, c : c + size] = 127
    return out


def brightness(x: np.ndarray, delta: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(x.astype(np.float32) + delta, 0, 255).astype(np.uint8)


def contrast(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(m + (x - m) * factor, 0, 255).astype(np.uint8)


def gamma(x: np.ndarray, g: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(255 * (x / 255.0) ** g, 0, 255).astype(np.uint8)


def _warp(x: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """Bilinear sampling of each image at rows fy, cols fx (H, W) (edges clamped)."""
    h, w = x.shape[1:3]
    y0 = np.clip(np.floor(fy).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(fx).astype(int), 0, w - 1)
    y1, x1 = np.clip(y0 + 1, 0, h - 1), np.clip(x0 + 1, 0, w - 1)
    wy = np.clip(fy - y0, 0, 1)[..., None]
    wx = np.clip(fx - x0, 0, 1)[..., None]
    xf = x.astype(np.float32)
    out = (
        xf[:, y0, x0] * (1 - wy) * (1 - wx)
        + xf[:, y0, x1] * (1 - wy) * wx
        + xf[:, y1, x0] * wy * (1 - wx)
        + xf[:, y1, x1] * wy * wx
    )
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def rotate(x: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape[1:3]
    t = np.radians(degrees)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    fy = cy + (yy - cy) * np.cos(t) - (xx - cx) * np.sin(t)
    fx = cx + (yy - cy) * np.sin(t) + (xx - cx) * np.cos(t)
    return _warp(x, fy, fx)


def elastic(x: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """One smooth random displacement field (up to about ``alpha`` pixels) for the batch."""
    if alpha <= 0:
        return x.copy()
    h, w = x.shape[1:3]
    coarse = rng.normal(0, alpha, (2, 5, 5))
    ys, xs = np.linspace(0, 4, h), np.linspace(0, 4, w)

    def up(a: np.ndarray) -> np.ndarray:
        rows = np.array([np.interp(xs, np.arange(5), r) for r in a])
        return np.array([np.interp(ys, np.arange(5), rows[:, j]) for j in range(w)]).T

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return _warp(x, yy + up(coarse[0]), xx + up(coarse[1]))


def clutter(x: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Each image blended with *another* image of the batch: (1 − α)·x_i + α·x_j, j ≠ i (the
    batch shifted cyclically by a random offset 1..N−1, so no image meets itself)."""
    n = len(x)
    if n < 2:
        raise ValueError("clutter blends each image with another one: it needs two or more")
    other = np.roll(x, int(rng.integers(1, n)), axis=0)
    return np.clip(
        np.rint((1 - alpha) * x.astype(np.float32) + alpha * other.astype(np.float32)), 0, 255
    ).astype(np.uint8)


FACTORS: dict[str, tuple[Callable, tuple[float, ...], str]] = {
    "occlusion": (occlude, (0, 8, 14, 20, 26, 32), "cutout side (px)"),
    "brightness": (brightness, (0, -60, -100, -140, -180), "added grey level"),
    "contrast": (contrast, (1.0, 0.6, 0.4, 0.25, 0.1), "contrast factor"),
    "gamma": (gamma, (1.0, 1.5, 2.0, 3.0, 4.0), "gamma"),
    "rotation": (rotate, (0, 15, 30, 45, 90), "degrees"),
    "elastic": (elastic, (0, 1, 2, 3, 4), "displacement (px)"),
    "clutter": (clutter, (0, 0.2, 0.35, 0.5, 0.65), "blend weight of another image"),
}


#: the example figure perturbs this many validation images (clutter blends in one of the
#: others) and shows the first
EXAMPLE_BATCH = 8


def example_images(
    x: np.ndarray, rng: Callable[[int], np.random.Generator]
) -> dict[str, list[np.ndarray]]:
    """For each difficulty, the first image of the batch ``x`` (N ≥ 2, H, W, C) at every
    level, perturbed as the accuracy measure does (in a batch, so clutter has another image
    to blend in); ``rng(12)`` draws the random choices."""
    return {
        name: [fn(x, lv, rng(12))[0] for lv in levels] for name, (fn, levels, _) in FACTORS.items()
    }


def run(ctx: Context) -> dict[str, Any]:
    data = ctx.cifar(n_train=None, n_val=300 if ctx.data is None else 5000)
    model = train(
        data,
        hidden=(512,),
        seed=ctx.seed,
        epochs=6 if ctx.quick else 25,
        batch_size=64,
        optimizer="nesterov",
        lr=0.01,
        dropout=0.2,
        keep_model=True,
    )
    xv, yv = data["x_val"], np.asarray(data["y_val"])
    repeats = 4 if ctx.quick else 5
    results: dict[str, Any] = {}
    for name, (fn, levels, _) in FACTORS.items():
        accs = []
        for lv in levels:
            correct = 0
            for rep_i in range(repeats):
                xt = fn(xv, lv, ctx.rng(11, rep_i))
                correct += int((predict_proba(model, xt).argmax(1) == yv).sum())
            accs.append(correct / (repeats * len(yv)))
        results[name] = {"levels": list(levels), "accuracy": accs}
    examples = example_images(xv[:EXAMPLE_BATCH], ctx.rng)
    fig = new_figure(10, 4)
    ax = fig.subplots()
    for name, r in results.items():
        ax.plot(range(len(r["levels"])), r["accuracy"], marker="o", label=name)
    ax.set_xlabel("difficulty level (0 = clean)")
    ax.set_ylabel("validation accuracy")
    ax.axhline(1 / len(data["classes"]), color="grey", ls=":", label="chance")
    ax.legend(fontsize=7)
    p_curves = save_png(fig, figure_path(ctx, "accuracy"))
    n_lv = max(len(v) for v in examples.values())
    fig = new_figure(1.3 * n_lv, 1.3 * len(examples))
    axes = fig.subplots(len(examples), n_lv)
    for i, (name, imgs) in enumerate(examples.items()):
        for j in range(n_lv):
            a = axes[i, j]
            a.axis("off")
            if j < len(imgs):
                a.imshow(imgs[j])
                a.set_title(f"{name} {FACTORS[name][1][j]:g}", fontsize=6)
    p_ex = save_png(fig, figure_path(ctx, "examples"))
    rep = Report(
        ctx,
        "What makes vision hard",
        f"An MLP (3072-512-10) trained on {len(data['y_train'])} images of "
        f"{data['source']} (clean accuracy {results['occlusion']['accuracy'][0]:.1%}), evaluated "
        f"on its {len(yv)} validation images under growing perturbations ({repeats} random "
        "draws each).",
    )
    rows = []
    for name, r in results.items():
        rows.append(
            [
                name,
                FACTORS[name][2],
                " → ".join(f"{lv:g}" for lv in r["levels"]),
                " → ".join(f"{a:.1%}" for a in r["accuracy"]),
            ]
        )
    rep.table(["difficulty", "level", "levels", "accuracy"], rows)
    rep.figure(p_curves, "accuracy against difficulty")
    rep.figure(p_ex, "example images")
    rep.reading(
        "Every difficulty of the course's slide costs accuracy: hiding more of the object, "
        "darkening or flattening the image, turning or bending it, and blending in clutter all "
        "move the pixels the classifier relies on, while a person still sees the same object."
    )
    rep.write()
    return results
