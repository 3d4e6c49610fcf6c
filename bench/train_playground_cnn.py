"""Train the small CIFAR-10 CNN the playground ships (``vedere/web/models``, at most 2 MB).

    python bench/train_playground_cnn.py [--data ../shared/datasets/cifar10-train.tar.gz]
        [--arch c24-b48-b96-b128-m] [--epochs 30]
        [--out src/vedere/web/models/cifar10-cnn.safetensors]

A CNN of the ``default`` shape at a width that keeps the file under 2 MB (c24-b48-b96-b128-m:
416,642 float32 parameters, 1.7 MB), trained by vedere with ``vedere train --model cnn``'s recipe
on CIFAR-10's training images minus the 1,500 of the embedded sample (``vedere/data/sample``),
so that the sample's 300 test images stay unseen and check the shipped model honestly. 5,000
of the rest (stratified, seed 0) are held out and their accuracy is printed and stored in
the file. Once the file exists the playground's image tab uses it instead of the MLP
(``vedere.web.uploads.SHIPPED_MODEL``).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from vedere.classify import cnn_arch, metrics
from vedere.classify.cnn import CNNClassifier
from vedere.data.dataset import load_split
from vedere.data.split import stratified_split

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cifar10-train.tar.gz"
DEFAULT_OUT = REPO / "src" / "vedere" / "web" / "models" / "cifar10-cnn.safetensors"
MAX_BYTES = 2_000_000


def _digests(images: np.ndarray) -> list[bytes]:
    return [hashlib.sha256(im.tobytes()).digest() for im in images]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--arch", default="c24-b48-b96-b128-m")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args()

    plan = cnn_arch.plan(args.arch, (32, 32, 3), 10)
    size = 4 * plan.n_params
    if size > MAX_BYTES * 0.97:  # headroom for the header
        raise SystemExit(f"{args.arch}: {plan.n_params:,} parameters ({size:,} bytes) > 2 MB")
    full = load_split(args.data, "train")
    sample = {d for s in ("train", "test") for d in _digests(load_split(None, s).images)}
    keep = np.array([d not in sample for d in _digests(full.images)])
    print(f"{len(full)} images, {int((~keep).sum())} of them in the embedded sample: left out")
    images, labels = full.images[keep], full.labels[keep]
    tr, va = stratified_split(labels, 5000, seed=0)
    names = np.asarray(full.classes)
    est = CNNClassifier(arch=args.arch, epochs=args.epochs, seed=0, verbose=True)
    t0 = time.perf_counter()
    est.fit(images[tr], names[labels[tr]])
    seconds = time.perf_counter() - t0
    acc = metrics.accuracy(names[labels[va]], est.predict(images[va]))
    path = est.save(
        args.out,
        extra={
            "trained_on": "CIFAR-10 training images minus the embedded sample",
            "held_out_accuracy": round(float(acc), 4),
        },
    )
    if path.stat().st_size > MAX_BYTES:
        raise SystemExit(f"{path}: {path.stat().st_size:,} bytes is more than 2 MB")
    print(
        f"held-out accuracy {acc:.1%} on 5,000 images; {seconds:.0f} s; "
        f"{path.stat().st_size / 1e6:.2f} MB written to {path}"
    )


if __name__ == "__main__":
    main()
