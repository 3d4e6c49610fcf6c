"""One training run for the experiments: an MLP (or a linear layer) on CIFAR-10 images or 2-D
points, through vedere's own Trainer, returning its per-epoch history as plain lists.

A run that diverges is not an error here: the experiments show it. ``diverged`` is decided by
the one shared rule, :func:`vedere.nn.divergence.curve_diverged`, on the training and the
validation loss curves (a loss 10^4 × its best, or NaN/inf, which also stops the trainer: the
history then ends at the last finite epoch)."""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from typing import Any

import numpy as np

from ..classify.base import Standardizer
from ..classify.trainer import Diverged, TrainConfig, Trainer
from ..data.transforms import Normalizer
from ..nn import SoftmaxCrossEntropy, mlp
from ..nn.divergence import curve_diverged

# per-epoch progress bars on stderr: on for full experiments, off in --quick mode
PROGRESS: ContextVar[bool] = ContextVar("progress", default=False)


def train(
    data: dict[str, Any],
    hidden: tuple[int, ...] = (256,),
    activation: str = "relu",
    init: str = "he",
    dropout: float = 0.0,
    label_smoothing: float = 0.0,
    seed: int = 0,
    keep_model: bool = False,
    **config: Any,
) -> dict[str, Any]:
    """Train on data["x_train"], data["y_train"], validating on x_val / y_val.

    ``config``: TrainConfig fields (epochs, batch_size, optimizer, lr, l1, l2, …). Returns
    the history columns, ``diverged``, ``seconds``, the final accuracies and (with
    ``keep_model``) the network and the input scaler."""
    x, y = data["x_train"], np.asarray(data["y_train"])
    xv, yv = data["x_val"], np.asarray(data["y_val"])
    n_in = int(np.prod(x.shape[1:]))
    n_out = int(max(y.max(), yv.max())) + 1
    net = mlp([n_in, *hidden, n_out], activation, init, dropout, rng=seed)
    # the estimators' own input scaling, fitted on the training set
    scaler = Normalizer().fit(x) if x.ndim == 4 else Standardizer().fit(x)
    cfg = TrainConfig(seed=seed, **config)
    trainer = Trainer(
        net,
        SoftmaxCrossEntropy(label_smoothing=label_smoothing),
        cfg,
        transform=lambda xb, rng: scaler(xb),
        progress=PROGRESS.get(),
    )
    t0 = time.perf_counter()
    diverged = False
    try:
        trainer.fit(x, y, xv, yv)
    except Diverged:
        diverged = True
    h = trainer.history
    out: dict[str, Any] = {
        "epoch": h.column("epoch"),
        "train_loss": h.column("train_loss"),
        "train_acc": h.column("train_acc"),
        "val_loss": h.column("val_loss"),
        "val_acc": h.column("val_acc"),
        "seconds_per_epoch": h.column("seconds"),
        "diverged": diverged or run_diverged(h.column("train_loss"), h.column("val_loss")),
        "seconds": time.perf_counter() - t0,
    }
    out["final_val_acc"] = out["val_acc"][-1] if out["val_acc"] else None
    out["final_train_loss"] = out["train_loss"][-1] if out["train_loss"] else None
    if keep_model:
        out["model"] = net
        out["scaler"] = scaler
    return out


def run_diverged(train_loss: list[float | None], val_loss: list[float | None]) -> bool:
    """True when the training or the validation loss curve diverged by the shared rule,
    :func:`~vedere.nn.divergence.curve_diverged` (a missing training loss, None or NaN, counts
    as non-finite; a missing validation loss means no validation set and is skipped)."""
    train = [math.nan if v is None else v for v in train_loss]
    val = [v for v in val_loss if v is not None and not math.isnan(v)]
    return curve_diverged(train) or curve_diverged(val)


def predict_proba(result: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Class probabilities of a kept model (``keep_model=True``) on raw inputs."""
    from ..nn.functional import softmax

    net = result["model"]
    net.eval()
    out = []
    for i in range(0, len(x), 1024):
        out.append(softmax(net.forward(result["scaler"](x[i : i + 1024]))))
    return np.concatenate(out)
