"""Train a small CIFAR-10 MLP for the playground (``vedere serve --model FILE``).

    python bench/train_playground_model.py [--data ../shared/datasets/cifar10-train.tar.gz]
        [--epochs 40] [--out runs/playground-mlp.safetensors]

The playground ships a CNN (``bench/train_playground_cnn.py``); this MLP was its first model.

An MLP 3072-128-10 (394,634 float32 parameters, 1.6 MB), trained by vedere on CIFAR-10's
training images minus the 1,500 that make up the embedded sample (``vedere/data/sample``),
so that the sample's 300 test images stay unseen and can check the shipped model honestly.
5,000 of the rest (stratified, seed 0) are held out and their accuracy is printed.
"""

from __future__ import annotations

import argparse

from playground_training import DEFAULT_DATA, REPO, train_unseen
from vedere.classify.estimators import MLPClassifier

DEFAULT_OUT = REPO / "runs" / "playground-mlp.safetensors"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args()

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
    train_unseen(est, args.data, args.out)


if __name__ == "__main__":
    main()
