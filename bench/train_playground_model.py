"""Train the small CIFAR-10 model the playground ships (``vedere/web/models``, at most 2 MB).

    python bench/train_playground_model.py [--data ../shared/datasets/cifar10-train.tar.gz]
        [--epochs 40] [--out src/vedere/web/models/cifar10-small.safetensors]

An MLP 3072-128-10 (394,634 float32 parameters, 1.6 MB), trained by vedere on CIFAR-10's
training images minus the 1,500 that make up the embedded sample (``vedere/data/sample``),
so that the sample's 300 test images stay unseen and can check the shipped model honestly.
5,000 of the rest (stratified, seed 0) are held out and their accuracy is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from vedere.classify import metrics
from vedere.classify.estimators import MLPClassifier
from vedere.data.dataset import load_split
from vedere.data.split import stratified_split

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cifar10-train.tar.gz"
DEFAULT_OUT = REPO / "src" / "vedere" / "web" / "models" / "cifar10-small.safetensors"


def _digests(images: np.ndarray) -> list[bytes]:
    return [hashlib.sha256(im.tobytes()).digest() for im in images]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args()

    full = load_split(args.data, "train")
    sample = {d for s in ("train", "test") for d in _digests(load_split(None, s).images)}
    keep = np.array([d not in sample for d in _digests(full.images)])
    print(f"{len(full)} images, {int((~keep).sum())} of them in the embedded sample: left out")
    images, labels = full.images[keep], full.labels[keep]
    tr, va = stratified_split(labels, 5000, seed=0)
    names = np.asarray(full.classes)
    est = MLPClassifier(
        hidden_sizes=(128,),
        dropout=0.0,
        epochs=args.epochs,
        lr=0.02,
        l2=5e-4,
        crop_padding=2,
        seed=0,
        verbose=True,
    )
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
    print(
        f"held-out accuracy {acc:.1%} on 5,000 images; {seconds:.0f} s; "
        f"{path.stat().st_size / 1e6:.2f} MB written to {path}"
    )


if __name__ == "__main__":
    main()
