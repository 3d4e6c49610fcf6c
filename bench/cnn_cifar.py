"""`vedere train --model cnn` on CIFAR-10: held-out accuracy, wall time and peak memory,
optionally with the same recipe in PyTorch for comparison.

    python bench/cnn_cifar.py [--data ../shared/datasets/cifar10-train.tar.gz]
        [--recipe default|best|airbench94] [--torch] [--threads 2] [--json out.json]
        [-- EXTRA TRAIN FLAGS]

``--recipe default`` runs exactly ``vedere train --model cnn --data-dir DATA --val-split 5000``
(the defaults: 45,000 training images, 5,000 held out, stratified with seed 0) as a
subprocess and reports the accuracy it prints, the wall-clock seconds of the whole command
(decoding the archive included; decoded images are cached after the first run, so run it
twice and read the second) and the peak resident memory of the process (ru_maxrss).
``--recipe best`` adds the flags of the most accurate recipe so far (airbench's full widths,
40 epochs, 4-pixel shifts and an 8×8 cutout while training, flips and 1-pixel shifts at test
time; about 100 minutes on 2 cores, 91.0% held out: BENCHMARKS.md). ``--recipe airbench94``
runs ``vedere train --model cnn --recipe airbench94`` (Jordan's airbench94: whitening stem,
dirac init, frozen-scale BatchNorm with 64× bias rate, summed loss, Nesterov 0.85 at batch
1024, piecewise-linear rate, lookahead, alternating flips, reflect-padded 2-pixel shifts,
six test-time views; 9.9 epochs ≈ 0.32 PFLOP on 45,000 images). Anything after ``--`` is
passed on to ``vedere train`` (later flags win).

``--torch`` then trains the same network (same layers, same initial weights copied from
vedere's), loss, optimiser, schedule, weight decay on weights only, augmentation (vedere's
NumPy pipeline feeds both) and test-time flip (and shift) averaging in PyTorch on the same
split, with the same number of threads, and prints its accuracy and seconds. For
airbench94 the twin also has its parameter groups (BatchNorm biases at 64× the rate, decay
wd/lr per group, frozen BatchNorm scales and whitening weights, the whitening bias trained
for 3 epochs), its per-update rate, its summed loss and its lookahead, on the same batches
(vedere's augmentation with the same generator, the same drop-last permutation).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cifar10-train.tar.gz"

RECIPES: dict[str, list[str]] = {
    "default": [],  # `vedere train --model cnn` as shipped
    # airbench's full widths (global average pool, as the default): ≈ 6× the default's FLOPs,
    # Page's augmentation (4-pixel shifts, 8×8 cutout), 40 epochs, flips + 1-pixel shifts at
    # test time: 91.0% held out (90.6% with flips only), 102 min on 2 cores
    # Keller Jordan's airbench94 recipe (vedere.classify.cnn.AIRBENCH94)
    "airbench94": ["--recipe", "airbench94"],
    "best": [
        "--arch",
        "c24-b64-b256-b256-g",
        "--epochs",
        "40",
        "--crop-padding",
        "4",
        "--cutout",
        "8",
        "--tta-shift",
        "1",
    ],
}


def val_images(limit: int) -> int:
    """Images held out: 5,000 of the archive, or a tenth of a --limit."""
    return limit // 10 if limit else 5000


def run_vedere(data: str, out: Path, flags: list[str], threads: int, limit: int = 0) -> dict:
    """Run `vedere train --model cnn` and measure it."""
    cmd = [sys.executable, "-m", "vedere.cli", "train", "--model", "cnn", "--data-dir", data,
           "--val-split", str(val_images(limit)), "--out", str(out), *flags]  # fmt: skip
    if limit:
        cmd += ["--limit", str(limit)]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(proc.stdout, flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"vedere train failed with status {proc.returncode}")
    acc = float(re.search(r"val accuracy\s+([\d.]+)%", proc.stdout).group(1)) / 100
    history = json.loads((out / "history.json").read_text())
    return {
        "vedere_accuracy": acc,
        "vedere_seconds": round(seconds, 1),
        "vedere_train_seconds": round(sum(r["seconds"] for r in history["epochs"]), 1),
        "vedere_peak_rss_gb": round(peak_kb / 2**20, 2),
        "epochs": len(history["epochs"]),
    }


def torch_twin(network):
    """A vedere CNN (Sequential) as the same torch network, with its current weights."""
    import torch

    class Residual(torch.nn.Module):
        def __init__(self, body: torch.nn.Module) -> None:
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x) + x

    def convert(layer):
        kind, cfg = type(layer).__name__, layer.get_config()
        if kind == "Sequential":
            return torch.nn.Sequential(*[convert(m) for m in layer.layers])
        if kind == "Residual":
            return Residual(convert(layer.body))
        if kind == "Conv2d":
            size, stride, pad = (tuple(cfg[k]) for k in ("kernel_size", "stride", "padding"))
            m = torch.nn.Conv2d(
                cfg["in_channels"], cfg["out_channels"], size, stride, pad, bias=cfg["bias"]
            )
        elif kind == "BatchNorm2d":
            m = torch.nn.BatchNorm2d(cfg["num_features"], cfg["eps"], cfg["momentum"])
            m.weight.requires_grad_(cfg.get("scale", True))
        elif kind == "Linear":
            m = torch.nn.Linear(cfg["in_features"], cfg["out_features"], bias=cfg.get("bias", True))
        elif kind == "Scale":
            return Scale(cfg["factor"])
        else:
            simple = {
                "ReLU": torch.nn.ReLU,
                "GELU": torch.nn.GELU,
                "Flatten": torch.nn.Flatten,
                "GlobalAvgPool2d": lambda: torch.nn.Sequential(
                    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
                ),
                "GlobalMaxPool2d": lambda: torch.nn.Sequential(
                    torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten()
                ),
                "MaxPool2d": lambda: torch.nn.MaxPool2d(tuple(cfg["kernel_size"])),
                "AvgPool2d": lambda: torch.nn.AvgPool2d(tuple(cfg["kernel_size"])),
                "Dropout": lambda: torch.nn.Dropout(cfg["p"]),
            }
            return simple[kind]()
        with torch.no_grad():
            for name, p in layer.named_parameters():
                getattr(m, name).copy_(torch.from_numpy(p.data))
                getattr(m, name).requires_grad_(p.trainable)
        return m

    class Scale(torch.nn.Module):
        def __init__(self, factor: float) -> None:
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    return convert(network)


class TorchLookahead:
    """airbench94's LookaheadState: ema ← lerp(ema, net, 1 - d); net ← ema (float tensors)."""

    def __init__(self, model) -> None:
        self.ema = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def update(self, model, decay: float) -> None:
        import torch

        with torch.no_grad():
            for k, v in model.state_dict().items():
                if v.dtype.is_floating_point:
                    self.ema[k].lerp_(v, 1 - decay)
                    v.copy_(self.ema[k])


def torch_params(flags: list[str], seed: int) -> dict:
    """`vedere train` flags → CNNClassifier parameters (a --recipe first; flags that are not
    parameters, e.g. --limit, skipped)."""
    from vedere.classify.cnn import CNNClassifier, recipe_params, tta_params

    kw: dict = {}
    it = iter(flags)
    defaults = CNNClassifier().get_params()
    for f in it:
        key = f.lstrip("-").replace("-", "_")
        if key.startswith("no_"):
            kw[key[3:]] = False
        elif key == "augment":
            kw[key] = True
        elif key == "recipe":
            kw.update(recipe_params(next(it)))
        elif key == "tta_mode":
            kw.update(tta_params(next(it)))
        elif key in ("tta", "lookahead", "bn_scale", "dirac", "drop_last"):
            kw[key] = True
        else:
            val = next(it)
            if key in defaults:
                d = defaults[key]
                kw[key] = (
                    val if isinstance(d, str) else float(val) if key == "epochs" else type(d)(val)
                )
    return CNNClassifier(**{"seed": seed, **kw}).get_params()


def run_torch(data: str, flags: list[str], threads: int, seed: int = 0, limit: int = 0) -> dict:
    """The recipe of `vedere train --model cnn FLAGS` trained in PyTorch, on the batches
    vedere's trainer draws (same generator, same permutation, same augmentation)."""
    import math

    import torch

    from vedere.classify import cnn_arch
    from vedere.classify.base import Preprocess
    from vedere.classify.cnn import CNNClassifier, translate
    from vedere.data.dataset import load_split
    from vedere.data.split import stratified_split
    from vedere.data.transforms import Normalizer
    from vedere.nn import schedules

    p = torch_params(flags, seed)
    seed = p["seed"]  # a --seed among the flags wins, as in `vedere train`
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    ds = load_split(data, "train", progress=False)
    labels = ds.labels
    idx = np.arange(len(labels))
    if limit:  # `vedere train --limit N --val-split N // 10`'s images (classify.run._split)
        _, idx = stratified_split(labels, limit, seed=seed)
    tr, va = stratified_split(labels[idx], val_images(limit), seed=seed)
    tr, va = idx[tr], idx[va]
    x_tr, x_va = np.asarray(ds.images[tr]), np.asarray(ds.images[va])
    y_tr, y_va = labels[tr], labels[va]
    # vedere's own preprocessing, whitening and initial network: the twin starts identical
    est = CNNClassifier(**p)
    base = Preprocess("image", x_tr.shape[1:], Normalizer().fit(x_tr))
    pre = est._adapt_preprocess(base, x_tr)
    est.preprocess_ = pre
    net = cnn_arch.build(p["arch"], x_tr.shape[1:], 10, rng=np.random.default_rng([seed, 0]),
                         **est._arch_options())  # fmt: skip
    est._prepare_network(net, x_tr)
    groups_v = est._param_groups(net, p["lr"])
    model = torch_twin(net)
    by_id = {id(q): t for (_, q), t in zip(net.named_parameters(), model.parameters(), strict=True)}
    if groups_v is None:  # the default recipe: L2 on weights only, as vedere's penalty
        decay = [q for n, q in model.named_parameters() if n.endswith("weight") and q.ndim > 1]
        rest = [q for n, q in model.named_parameters() if not (n.endswith("weight") and q.ndim > 1)]
        groups = [{"params": decay, "weight_decay": p["l2"]}, {"params": rest, "weight_decay": 0.0}]
        stem_epochs = {}
    else:  # airbench94's groups, each of rate lr·s and decay wd/(lr·s)
        groups = [{"params": [by_id[id(q)] for q in g.params], "lr": p["lr"] * g.lr_scale,
                   "weight_decay": g.weight_decay} for g in groups_v]  # fmt: skip
        stem_epochs = {i: g.epochs for i, g in enumerate(groups_v) if g.epochs is not None}
    opt = torch.optim.SGD(groups, lr=p["lr"], momentum=p["momentum"], nesterov=True)
    base_lrs = [g["lr"] for g in opt.param_groups]
    sched = schedules.make_schedule(p["schedule"], p["lr"], p["epochs"], p["warmup"])
    loss_fn = torch.nn.CrossEntropyLoss(
        label_smoothing=p["label_smoothing"], reduction=p["loss_reduction"]
    )
    rng = np.random.default_rng([seed, 1])
    n, bs = len(y_tr), p["batch_size"]
    per_epoch = n // bs if p["drop_last"] and n >= bs else -(-n // bs)
    total = math.ceil(per_epoch * p["epochs"])
    look = TorchLookahead(model) if p["lookahead"] else None
    done = 0
    t0 = time.perf_counter()
    for epoch in range(math.ceil(p["epochs"])):
        for i, e in stem_epochs.items():
            for q in opt.param_groups[i]["params"]:
                q.requires_grad_(epoch < e)
        if not sched.per_step:
            for g, b in zip(opt.param_groups, base_lrs, strict=True):
                g["lr"] = b * sched(epoch) / p["lr"]
        model.train()
        perm = rng.permutation(n)
        for s in range(per_epoch):
            if done >= total:
                break
            if sched.per_step:
                for g, b in zip(opt.param_groups, base_lrs, strict=True):
                    g["lr"] = b * sched.at_step(done, total) / p["lr"]
            idx = perm[s * bs : (s + 1) * bs]
            out = model(torch.from_numpy(pre(x_tr[idx], rng, index=idx, epoch=epoch)))
            loss = loss_fn(out, torch.from_numpy(y_tr[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if look is not None:
                if done % 5 == 0:
                    look.update(model, 0.95**5 * (done / total) ** 3)
                if done >= total:
                    look.update(model, 1.0)
        print(f"torch epoch {epoch + 1}: {time.perf_counter() - t0:.0f} s", flush=True)
    seconds = time.perf_counter() - t0
    model.eval()

    def flip_averaged(raw: np.ndarray):  # uint8 images (B, H, W, C) → (f(x) + f(mirror x)) / 2
        xb = torch.from_numpy(pre(raw, None))
        return (model(xb) + model(torch.flip(xb, dims=[3]))) / 2

    outs = []
    with torch.no_grad():
        for i in range(0, len(y_va), 500):
            raw = x_va[i : i + 500]
            if not p["tta"]:
                o = model(torch.from_numpy(pre(raw, None)))
            elif d := p["tta_shift"]:  # vedere's test-time views: ½ f̄(x) + ¼ f̄(T₊x) + ¼ f̄(T₋x)
                views = flip_averaged(translate(raw, d, d)) + flip_averaged(translate(raw, -d, -d))
                o = flip_averaged(raw) / 2 + views / 4
            else:
                o = flip_averaged(raw)
            outs.append(o)
    acc = float((torch.cat(outs).argmax(1).numpy() == y_va).mean())
    flops = cnn_arch.plan(p["arch"], x_tr.shape[1:], 10).train_flops * done * bs
    return {"torch_accuracy": round(acc, 4), "torch_train_seconds": round(seconds, 1),
            "torch_updates": done, "torch_train_pflop": round(flops / 1e15, 4)}  # fmt: skip


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--recipe", choices=list(RECIPES), default="default")
    ap.add_argument("--torch", action="store_true", help="also train the recipe in PyTorch")
    ap.add_argument("--no-vedere", action="store_true", help="only the PyTorch run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="run directory (default: a temporary one)")
    ap.add_argument("--json", help="append the result (one JSON line) to this file")
    ap.add_argument("--limit", type=int, default=0,
                    help="use only the first N images of the archive (smoke runs)")  # fmt: skip
    args = ap.parse_args(argv)
    flags = RECIPES[args.recipe] + extra
    row: dict = {"recipe": args.recipe, "flags": flags, "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_vedere:
            out = Path(args.out) if args.out else Path(tmp) / "run"
            row.update(run_vedere(args.data, out, [*flags, "--quiet"], args.threads, args.limit))
        if args.torch:
            row.update(run_torch(args.data, flags, args.threads, limit=args.limit))
    print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
