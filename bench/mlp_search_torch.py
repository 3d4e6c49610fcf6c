"""Hyper-parameter search for the best MLP on CIFAR-10, in PyTorch on a GPU (an exploration
tool: the configuration it finds is then trained and measured with vedere itself by
``bench/cifar_classifiers.py``).

    PYTHONPATH=bench python bench/mlp_search_torch.py --data cifar10-train.tar.gz [--out r.json]

Same data, split (45,000 / 5,000, seed 0), preprocessing (per-channel normalisation fitted
on the training split; flip; shifts by zero padding and random crop), network (He init, ReLU,
dropout, label smoothing), optimiser (Nesterov SGD, L2 on weights only) and per-epoch
schedule (vedere.nn.schedules) as vedere's MLPClassifier; augmentation runs on the GPU.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from cifar_classifiers import torch_mlp
from vedere.data.dataset import load_split
from vedere.data.split import stratified_split
from vedere.nn import schedules

CONFIGS = [
    # name, hidden, dropout, crop, epochs, lr, l2, smoothing  (in order of priority)
    ("crop2-100", (2048, 1024), 0.2, 2, 100, 0.02, 1e-4, 0.1),
    ("crop2-100-d1", (2048, 1024), 0.1, 2, 100, 0.02, 1e-4, 0.1),
    ("2048x2-crop2-80", (2048, 2048), 0.3, 2, 80, 0.02, 1e-4, 0.1),
    ("crop3-100", (2048, 1024), 0.2, 3, 100, 0.02, 1e-4, 0.1),
    ("crop2-100-l2", (2048, 1024), 0.2, 2, 100, 0.02, 5e-4, 0.1),
    ("3layer-crop2-80", (2048, 1024, 512), 0.2, 2, 80, 0.02, 1e-4, 0.1),
    ("crop1-100-d3", (2048, 1024), 0.3, 1, 100, 0.02, 1e-4, 0.1),
    ("best-so-far", (2048, 1024), 0.2, 1, 50, 0.02, 1e-4, 0.1),
    ("crop2-100-lr05", (2048, 1024), 0.2, 2, 100, 0.05, 1e-4, 0.1),
    ("crop2-150", (2048, 1024), 0.2, 2, 150, 0.02, 1e-4, 0.1),
]


def run(cfg, xtr, ytr, xva, yva, mean, std, device, seed=0) -> dict:
    name, hidden, dropout, pad, epochs, lr, l2, ls = cfg
    torch.manual_seed(seed)
    net = torch_mlp([3072, *hidden, 10], dropout).to(device)
    weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": l2}, {"params": biases, "weight_decay": 0.0}],
        lr=lr,
        momentum=0.9,
        nesterov=True,
    )
    sched = schedules.make_schedule("cosine", lr, epochs, 1)
    lossf = torch.nn.CrossEntropyLoss(label_smoothing=ls)
    n = len(xtr)
    g = torch.Generator(device=device).manual_seed(seed)
    ar = torch.arange(32, device=device)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for grp in opt.param_groups:
            grp["lr"] = sched(epoch)
        net.train()
        perm = torch.randperm(n, generator=g, device=device)
        for s in range(0, n, 128):
            idx = perm[s : s + 128]
            xb = xtr[idx].float()  # (B, 32, 32, 3) 0..255
            b = len(idx)
            flip = torch.rand(b, generator=g, device=device) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(2), xb)
            if pad:
                padded = torch.nn.functional.pad(xb, (0, 0, pad, pad, pad, pad))
                dy = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=device)
                dx = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=device)
                rows = (dy[:, None] + ar)[:, :, None]
                cols = (dx[:, None] + ar)[:, None, :]
                xb = padded[torch.arange(b, device=device)[:, None, None], rows, cols]
            xb = ((xb / 255.0 - mean) / std).reshape(b, -1)
            loss = lossf(net(xb), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    net.eval()
    with torch.no_grad():
        xv = ((xva.float() / 255.0 - mean) / std).reshape(len(xva), -1)
        acc = (net(xv).argmax(1) == yva).float().mean().item()
        xt = ((xtr[:5000].float() / 255.0 - mean) / std).reshape(5000, -1)
        tr_acc = (net(xt).argmax(1) == ytr[:5000]).float().mean().item()
    return {
        "name": name,
        "val": round(acc, 4),
        "train": round(tr_acc, 4),
        "gpu_s": round(seconds, 1),
        "hidden": hidden,
        "dropout": dropout,
        "crop": pad,
        "epochs": epochs,
        "lr": lr,
        "l2": l2,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    data = load_split(args.data, "train", progress=False)
    tr, va = stratified_split(data.labels, 5000, seed=0)
    imgs = np.asarray(data.images)
    dev = torch.device(args.device)
    xtr = torch.tensor(imgs[tr], device=dev)
    ytr = torch.tensor(np.asarray(data.labels)[tr], device=dev)
    xva = torch.tensor(imgs[va], device=dev)
    yva = torch.tensor(np.asarray(data.labels)[va], device=dev)
    f = xtr.float() / 255.0
    mean = f.mean(dim=(0, 1, 2))
    std = f.std(dim=(0, 1, 2))
    del f
    results = []
    for cfg in CONFIGS:
        if args.only and cfg[0] not in args.only.split(","):
            continue
        r = run(cfg, xtr, ytr, xva, yva, mean, std, dev)
        results.append(r)
        print(json.dumps(r), flush=True)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
