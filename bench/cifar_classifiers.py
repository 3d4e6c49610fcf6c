"""CIFAR-10 accuracy and training time of vedere's classifiers, with PyTorch in the same run.

    python bench/cifar_classifiers.py [--data ../shared/datasets/cifar10-train.tar.gz]
        [--only softmax,logistic,mlp,mlp-best,perceptron,svm] [--no-torch] [--json out.json]

Data: the 50,000 training images of CIFAR-10 (JPEG-re-encoded copy in shared/), split with
vedere's stratified split (seed 0) into 45,000 for training and 5,000 held out; every accuracy
is measured on the 5,000. Each configuration trains vedere's estimator exactly as
``vedere train`` would, then (unless ``--no-torch``) the same network, loss, optimiser,
schedule, regularisation and augmentation in PyTorch on the same batches (both fed by
vedere's NumPy data pipeline, so only the engines differ). Times are wall-clock seconds of
training (data decoding, which is cached, excluded).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np

from vedere.classify import estimators, metrics
from vedere.data.dataset import load_split
from vedere.data.split import stratified_split
from vedere.nn import schedules

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cifar10-train.tar.gz"

CONFIGS: dict[str, tuple[str, dict]] = {
    "softmax": ("softmax", {}),
    "logistic": ("logistic", {}),
    "svm": ("svm", {}),
    "perceptron": ("perceptron", {}),
    "mlp": ("mlp", {}),  # the defaults of `vedere train --model mlp`
    "mlp-best": (
        "mlp",
        {
            "hidden_sizes": (2048, 1024),
            "epochs": 100,
            "dropout": 0.2,
            "crop_padding": 2,
            "l2": 5e-4,
        },
    ),
}


def torch_mlp(sizes: list[int], dropout: float):
    """vedere's MLP in PyTorch: He-initialised Linear layers, ReLU, optional dropout."""
    import torch

    layers: list = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers)


def torch_fit(est, x_tr, y_tr, x_va, y_va, threads: int = 2) -> tuple[float, float, np.ndarray]:
    """The estimator's configuration trained in PyTorch; returns (seconds, accuracy, proba)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(est.seed)
    p = est.get_params()
    k = len(est.classes_)
    d = int(np.prod(x_tr.shape[1:]))
    if isinstance(est, estimators.MLPClassifier):
        model = torch_mlp([d, *p["hidden_sizes"], k], p["dropout"])
    else:
        out = (
            1
            if (
                k == 2 and not isinstance(est, (estimators.SoftmaxClassifier, estimators.LinearSVM))
            )
            else k
        )
        model = torch.nn.Linear(d, out)
        torch.nn.init.zeros_(model.weight)
        torch.nn.init.zeros_(model.bias)
    weights = [q for n, q in model.named_parameters() if n.endswith("weight")]
    biases = [q for n, q in model.named_parameters() if n.endswith("bias")]
    groups = [{"params": weights, "weight_decay": p["l2"]}, {"params": biases, "weight_decay": 0.0}]
    name = p["optimizer"]
    if name in ("sgd", "momentum", "nesterov"):
        mom = 0.0 if name == "sgd" else p["momentum"]
        opt = torch.optim.SGD(groups, lr=p["lr"], momentum=mom, nesterov=name == "nesterov")
    elif name == "adam":
        opt = torch.optim.Adam(groups, lr=p["lr"])
    else:
        raise ValueError(f"no PyTorch baseline for optimizer {name}")
    sched = schedules.make_schedule(p["schedule"], p["lr"], p["epochs"], p["warmup"])
    if isinstance(est, estimators.LogisticRegression):
        loss_fn = torch.nn.BCEWithLogitsLoss()
    elif isinstance(est, estimators.LinearSVM):
        loss_fn = lambda s, t: torch.nn.functional.multi_margin_loss(s, t, margin=p["margin"]) * k  # noqa: E731
    else:
        loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=p.get("label_smoothing", 0.0))
    pre = est.preprocess_
    rng = np.random.default_rng([p["seed"], 1])
    n, bs = len(y_tr), p["batch_size"] or len(y_tr)
    t0 = time.perf_counter()
    for epoch in range(p["epochs"]):
        for g in opt.param_groups:
            g["lr"] = sched(epoch)
        model.train()
        perm = rng.permutation(n)
        for s in range(0, n, bs):
            idx = perm[s : s + bs]
            xb = torch.from_numpy(pre(x_tr[idx], rng))
            yb = torch.from_numpy(y_tr[idx])
            out = model(xb)
            loss = loss_fn(out[:, 0], yb.float()) if out.shape[1] == 1 else loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        out = torch.cat(
            [
                model(torch.from_numpy(pre(x_va[i : i + 4096], None)))
                for i in range(0, len(y_va), 4096)
            ]
        )
    if out.shape[1] == 1:
        pr = torch.sigmoid(out[:, 0]).numpy()
        proba = np.stack([1 - pr, pr], axis=1)
    else:
        proba = torch.softmax(out, 1).numpy()
    return seconds, float((proba.argmax(1) == y_va).mean()), proba


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--only", default="softmax,logistic,mlp")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json", help="append results (one JSON object per line) to this file")
    args = ap.parse_args()

    data = load_split(args.data, "train", progress=True)
    tr, va = stratified_split(data.labels, 5000, seed=0)
    x_tr, x_va = np.asarray(data.images[tr]), np.asarray(data.images[va])
    y_tr10, y_va10 = data.labels[tr], data.labels[va]
    # logistic: cat vs not-cat on CIFAR-10; a dataset without cats (MNIST…): its first class
    cat = data.classes.index("cat") if "cat" in data.classes else 0
    print(f"machine: {platform.machine()}, train {len(tr)}, held out {len(va)}", flush=True)
    for key in args.only.split(","):
        model, overrides = CONFIGS[key]
        est = estimators.ESTIMATORS[model](verbose=True, **overrides)
        binary = model == "logistic"
        y_tr = (y_tr10 == cat).astype(np.int64) if binary else y_tr10
        y_va = (y_va10 == cat).astype(np.int64) if binary else y_va10
        t0 = time.perf_counter()
        est.fit(x_tr, y_tr)
        seconds = time.perf_counter() - t0
        proba = est.predict_proba(x_va)
        row = {
            "config": key,
            "params": {k: v for k, v in est.get_params().items() if k != "verbose"},
            "vedere_seconds": round(seconds, 1),
            "vedere_accuracy": round(float((proba.argmax(1) == y_va).mean()), 4),
        }
        if binary:
            row["vedere_roc_auc"] = round(metrics.roc_auc(y_va == 1, proba[:, 1]), 4)
        if not args.no_torch:
            t_sec, t_acc, t_proba = torch_fit(est, x_tr, y_tr, x_va, y_va)
            row.update(
                torch_seconds=round(t_sec, 1),
                torch_accuracy=round(t_acc, 4),
                time_ratio_torch_over_vedere=round(t_sec / seconds, 3),
            )
            if binary:
                row["torch_roc_auc"] = round(metrics.roc_auc(y_va == 1, t_proba[:, 1]), 4)
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
        if math.isnan(row["vedere_accuracy"]):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
