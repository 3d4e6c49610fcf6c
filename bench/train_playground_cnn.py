"""Train the small CIFAR-10 CNN the playground ships (``vedere/web/models``, int8, ≤ 400 KB).

    python bench/train_playground_cnn.py [--data ../shared/datasets/cifar10-train.tar.gz]
        [--arch c24-b32-b64-b128-g] [--epochs 15] [--precision int8|float16|float32]
        [--out src/vedere/web/models/cifar10-cnn.safetensors]
    python bench/train_playground_cnn.py --convert OLD.safetensors   # re-save in int8

The default CNN of ``vedere train --model cnn`` (c24-b32-b64-b128-g: 295k parameters) with its
recipe, trained by vedere on CIFAR-10's training images minus the 1,500 of the embedded
sample (``vedere/data/sample``), so that the sample's 300 test images stay unseen and check
the shipped model honestly. 5,000 of the rest (stratified, seed 0) are held out and their
accuracy is printed and stored in the file. The weights are stored in int8 with a scale per
output channel (``save(precision="int8")``, :mod:`vedere.nn.precision`: about 300 KB against
1.19 MB in float32), so that the repository holds no generated file over a few hundred KB.
``--convert`` re-saves an already trained file that way and measures the held-out accuracy
before and after (BENCHMARKS.md, "The playground").
"""

from __future__ import annotations

import argparse

from playground_training import (
    DEFAULT_DATA,
    MODELS,
    held_out_accuracy,
    save_measured,
    train_unseen,
    unseen,
)
from vedere.classify import cnn_arch, load_classifier
from vedere.classify.cnn import CNNClassifier

DEFAULT_OUT = MODELS / "cifar10-cnn.safetensors"
MAX_BYTES = 400_000
BYTES_PER_WEIGHT = {"int8": 1, "float16": 2, "float32": 4}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--arch", default="c24-b32-b64-b128-g")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--precision", choices=tuple(BYTES_PER_WEIGHT), default="int8")
    ap.add_argument("--convert", metavar="FILE", help="re-save this trained model (--precision)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args()

    precision = args.precision
    if args.convert:
        images, names, _, va = unseen(args.data)
        old = load_classifier(args.convert)
        acc = held_out_accuracy(old, images, names, va)
        print(f"{args.convert} as it is: held-out accuracy {acc:.2%}")
        path = save_measured(old, images, names, va, args.out, precision)
    else:
        plan = cnn_arch.plan(args.arch, (32, 32, 3), 10)
        if BYTES_PER_WEIGHT[precision] * plan.n_params > MAX_BYTES * 0.97:  # header's headroom
            raise SystemExit(f"{args.arch}: {plan.n_params:,} parameters are too many")
        est = CNNClassifier(arch=args.arch, epochs=args.epochs, seed=0, verbose=True)
        path = train_unseen(est, args.data, args.out, precision)
    if precision != "float32" and path.stat().st_size > MAX_BYTES:
        raise SystemExit(f"{path}: {path.stat().st_size:,} bytes is more than {MAX_BYTES:,}")


if __name__ == "__main__":
    main()
