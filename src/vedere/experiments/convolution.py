"""``convolution``: what a convolutional network learns, and what it buys over an MLP.

- the first layer's learned filters as pictures (each K×K×3 kernel, min-max scaled);
- the feature maps of one validation image through the layers (the first channels of every
  activation and pooling output: edges and colours first, coarse parts later);
- a CNN against an MLP on the same split: validation accuracy, parameters and training
  seconds (the CNN shares each K×K kernel over every position: far fewer parameters).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..classify.cnn import CNNClassifier
from ..classify.cnn_arch import plan
from ..classify.estimators import MLPClassifier
from .base import Context, Report, figure_path, plot_runs

N_CHANNELS = 8  # feature maps shown per layer
SHOWN = ("ReLU", "GELU", "MaxPool2d", "AvgPool2d")  # layers whose outputs are pictured


def _settings(quick: bool) -> dict[str, dict[str, Any]]:
    if quick:
        return {
            "cnn": {"arch": "c8-p-c16-p-c32-g", "epochs": 4, "batch_size": 64, "lr": 0.05},
            "mlp": {"hidden_sizes": (64,), "epochs": 4},
        }
    return {"cnn": {}, "mlp": {}}  # the defaults of `vedere train`


def _curves(est: Any) -> dict[str, list[float]]:
    rows = est.history_.rows
    return {k: [r[k] for r in rows] for k in ("epoch", "train_loss", "val_acc")}


def _fit(kind: str, data: dict[str, Any], quick: bool, seed: int) -> dict[str, Any]:
    kw = _settings(quick)[kind]
    est = (CNNClassifier if kind == "cnn" else MLPClassifier)(seed=seed, **kw)
    y, yv = np.asarray(data["y_train"]), np.asarray(data["y_val"])
    t0 = time.perf_counter()
    est.fit(data["x_train"], y, data["x_val"], yv)
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {
        **_curves(est),  # per epoch: epoch, train_loss, val_acc
        "seconds": seconds,
        "params": int(sum(p.data.size for p in est.network_.parameters())),
        "accuracy": float(est.score(data["x_val"], yv)),
    }
    if kind == "cnn":
        out["arch"] = plan(est.arch, data["x_train"].shape[1:], len(data["classes"])).spec
        out["filters"] = est.network_.layers[0].weight.data  # (C_out, C_in, K, K)
        maps = est.feature_maps(data["x_val"][0])
        out["input"] = data["x_val"][0]
        out["maps"] = [(n, m[:N_CHANNELS]) for n, m in maps[1:] if n in SHOWN and m.ndim == 3]
        out["input_x"] = maps[0][1]  # the network's input (C, H, W), normalised
        out["first_map"] = maps[1][1]  # the first layer's output, whole (for the tests)
    return out


def plot_filters(filters: np.ndarray, path: Any, title: str) -> Any:
    """Each kernel (C_in, K, K) as a small RGB (or grey) picture, min-max scaled on its own."""
    from ..viz.figure import new_figure, save_png

    w = np.asarray(filters, dtype=np.float64).transpose(0, 2, 3, 1)  # (C_out, K, K, C_in)
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    hi = w.max(axis=(1, 2, 3), keepdims=True)
    imgs = (w - lo) / np.where(hi > lo, hi - lo, 1.0)
    cols = min(len(imgs), 8)
    rows = -(-len(imgs) // cols)
    fig = new_figure(1.0 * cols, 1.0 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, img in zip(axes, imgs, strict=False):
        rgb = img.shape[-1] == 3
        ax.imshow(
            img if rgb else img[..., 0], cmap=None if rgb else "gray", interpolation="nearest"
        )
    fig.suptitle(title)
    return save_png(fig, path)


def plot_maps(image: np.ndarray, maps: list[tuple[str, np.ndarray]], path: Any) -> Any:
    """The input, then one row per layer: its first channels as grey pictures."""
    from ..viz.figure import new_figure, save_png

    rows = len(maps) + 1
    fig = new_figure(1.1 * (N_CHANNELS + 1), 1.1 * rows)
    axes = np.atleast_2d(fig.subplots(rows, N_CHANNELS + 1))
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(np.asarray(image, dtype=np.uint8), interpolation="nearest")
    axes[0, 0].set_title("input", fontsize=7)
    for r, (name, m) in enumerate(maps, start=1):
        m = np.asarray(m, dtype=np.float64)
        axes[r, 0].text(0, 0.5, f"{r}: {name}\n{m.shape[1]}×{m.shape[2]}", fontsize=7)
        for ch in range(min(len(m), N_CHANNELS)):
            axes[r, ch + 1].imshow(m[ch], cmap="gray", interpolation="nearest")
    return save_png(fig, path)


def run(ctx: Context) -> dict[str, Any]:
    data = ctx.cifar(n_train=None if not ctx.quick else 1080)
    res = {k: ctx.cached(k, lambda k=k: _fit(k, data, ctx.quick, ctx.seed)) for k in ("cnn", "mlp")}
    cnn, mlp = res["cnn"], res["mlp"]
    rep = Report(
        ctx,
        "Convolutional networks: learned filters, feature maps, CNN against MLP",
        f"{len(data['y_train'])} training images of {data['source']}, "
        f"{len(data['y_val'])} held out; a CNN ({cnn['arch']}) and an MLP with vedere's "
        "defaults" + (" (small networks, few epochs: quick mode)" if ctx.quick else "") + ".",
    )
    rep.table(
        ["model", "val. accuracy", "parameters", "seconds"],
        [[k, res[k]["accuracy"], res[k]["params"], res[k]["seconds"]] for k in ("cnn", "mlp")],
    )
    filters = np.asarray(cnn["filters"], dtype=np.float32)
    rep.figure(
        plot_filters(filters, figure_path(ctx, "filters"), "first-layer filters"),
        "the first layer's learned filters",
    )
    maps = [(n, np.asarray(m, dtype=np.float32)) for n, m in cnn["maps"]]
    rep.figure(
        plot_maps(np.asarray(cnn["input"]), maps, figure_path(ctx, "feature_maps")),
        "feature maps of one validation image through the layers",
    )
    rep.figure(plot_runs(ctx, "curves", {"CNN": cnn, "MLP": mlp}), "training curves")
    ratio = mlp["params"] / max(cnn["params"], 1)
    rep.reading(
        f"The CNN reaches {cnn['accuracy']:.1%} against the MLP's {mlp['accuracy']:.1%} with "
        f"{ratio:.1f}× fewer parameters: one small kernel slides over every position, so what "
        "it learns about an edge in one place serves everywhere. Its first filters are colour "
        "blobs and oriented edges; deeper maps are smaller and respond to larger parts."
    )
    rep.write()
    return {
        "cnn": {"val_acc": cnn["accuracy"], **{k: cnn[k] for k in ("params", "seconds", "arch")}},
        "mlp": {"val_acc": mlp["accuracy"], **{k: mlp[k] for k in ("params", "seconds")}},
        "filters_shape": list(filters.shape),
        "maps": [[n, list(np.shape(m))] for n, m in cnn["maps"]],
    }
