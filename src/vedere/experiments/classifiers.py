"""``classifiers``: the course's classifiers side by side on CIFAR-10 — perceptron, logistic
regression (cat vs not-cat), softmax, linear SVM and MLP: accuracy, training time, number of
parameters, and the weight templates of the linear ones."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np

from ..classify import metrics
from ..classify.estimators import ESTIMATORS
from ..viz.templates import plot_templates
from .base import Context, Report, figure_path

MODELS = ("perceptron", "logistic", "softmax", "svm", "mlp")


def _fit(name: str, data: dict, quick: bool, seed: int) -> dict[str, Any]:
    # cat vs not-cat on CIFAR-10; on a dataset without cats (MNIST…) its first class
    classes = data["classes"]
    cat = classes.index("cat") if "cat" in classes else 0
    y, yv = np.asarray(data["y_train"]), np.asarray(data["y_val"])
    if name == "logistic":
        y, yv = (y == cat).astype(int), (yv == cat).astype(int)
    kw: dict[str, Any] = {"seed": seed}
    if quick:
        kw["epochs"] = {"perceptron": 2, "mlp": 8}.get(name, 8)
        if name == "mlp":
            kw["hidden_sizes"] = (256,)
    est = ESTIMATORS[name](**kw)
    t0 = time.perf_counter()
    est.fit(data["x_train"], y)
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {
        "seconds": seconds,
        "params": int(sum(p.data.size for p in est.network_.parameters())),
        "val_acc": float(est.score(data["x_val"], yv)),
    }
    if name == "logistic":
        out["roc_auc"] = float(metrics.roc_auc(yv == 1, est.predict_proba(data["x_val"])[:, 1]))
    if name in ("perceptron", "logistic", "softmax", "svm"):
        out["weight"] = est.network_.parameters()[0].data
    return out


def run(ctx: Context) -> dict[str, Any]:
    data = ctx.cifar(n_train=800 if ctx.quick else None)
    res = ctx.cached_many(
        {m: (m, partial(_fit, m, data, ctx.quick, ctx.seed), None) for m in MODELS}
    )
    rep = Report(
        ctx,
        "The course's classifiers on CIFAR-10",
        f"{len(data['y_train'])} training images of {data['source']}, "
        f"{len(data['y_val'])} held out; each estimator with vedere's defaults"
        + (" (fewer epochs: quick mode)" if ctx.quick else "")
        + ". Logistic regression answers cat vs not-cat (accuracy and ROC-AUC).",
    )
    rep.table(
        ["classifier", "val. accuracy", "ROC-AUC", "parameters", "seconds"],
        [
            [m, res[m]["val_acc"], res[m].get("roc_auc", ""), res[m]["params"], res[m]["seconds"]]
            for m in MODELS
        ],
    )
    for m in ("perceptron", "softmax", "svm", "logistic"):
        w = np.asarray(res[m]["weight"], dtype=np.float32)
        positive = "cat" if "cat" in data["classes"] else data["classes"][0]
        names = data["classes"] if w.shape[0] == len(data["classes"]) else [positive]
        p = plot_templates(
            w,
            tuple(data["x_train"].shape[1:]),
            names,
            figure_path(ctx, f"templates_{m}"),
            f"{m} templates",
        )
        rep.figure(p, f"{m} weight templates")
    rep.reading(
        "The linear classifiers learn one blurry template per class (a colour and layout "
        "prior: blue for ships and planes, green-brown for frogs and deer); the MLP's hidden "
        "layer combines many such templates and is clearly the most accurate."
    )
    rep.write()
    return {m: {k: v for k, v in r.items() if k != "weight"} for m, r in res.items()}
