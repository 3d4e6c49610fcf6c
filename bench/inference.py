"""Inference throughput: vedere's ``predict_proba`` (the path ``vedere predict`` and
``vedere evaluate`` take) against the same network in PyTorch CPU, in the same run.

    python bench/inference.py [--models mlp,cnn] [--n 2048] [--singles 200] [--threads 2]
                              [--rounds 5] [--json out.json]

Models: the default ``MLPClassifier`` (3072-1024-512-10) and the default ``CNNClassifier``,
each fitted for one epoch on a few random 32×32×3 images (the weights do not change the
work). Inputs: ``--n`` random uint8 images. Two batch sizes:

- batch 256: ``predict_proba`` over all ``--n`` images (vedere splits them into batches of
  256 for the CNN, 4096 for the MLP; PyTorch is given the same batch sizes);
- batch 1: ``--singles`` calls on one image each (latency-bound: a camera frame, a web
  request).

Both sides start from the same uint8 images and include the same preprocessing (vedere's
``preprocess_``: scaling and per-channel normalisation), then the network in eval mode
(PyTorch: ``torch.no_grad``) and a softmax; for the default CNN, whose predictions average
each image's logits with its mirror image's (``tta``), PyTorch does the same (two passes).
Each round times both, alternating; reported are the best round's images/s of each and their
ratio (vedere / PyTorch). The machine fields come from bench/machine.py.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from machine import describe, matmul_peak
from twin import torch_twin


def fitted(kind: str, seed: int = 0):
    """A default estimator of ``kind`` fitted for one epoch on random images."""
    from vedere.classify import CNNClassifier, MLPClassifier

    gen = np.random.default_rng(seed)
    x = gen.integers(0, 256, (256, 32, 32, 3), dtype=np.uint8)
    y = np.arange(256) % 10
    est = (MLPClassifier if kind == "mlp" else CNNClassifier)(epochs=1, seed=seed)
    return est.fit(x, y)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--singles", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    import numba
    import torch
    from threadpoolctl import threadpool_limits

    from vedere import parallel  # noqa: F401  (selects vedere's threading layer first)

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    gen = np.random.default_rng(1)
    images = gen.integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8)
    rows: list[dict[str, object]] = []
    with threadpool_limits(args.threads):
        peak = matmul_peak()
        for kind in args.models.split(","):
            est = fitted(kind)
            net = torch_twin(est.network_)
            big = 4096 if kind == "mlp" else 256

            def torch_logits(x: np.ndarray, net=net, est=est, big=big) -> np.ndarray:
                out = []
                with torch.no_grad():
                    for s in range(0, len(x), big):
                        out.append(net(torch.from_numpy(est.preprocess_(x[s : s + big], None))))
                return torch.cat(out)

            def torch_proba(x: np.ndarray, est=est, logits=torch_logits) -> np.ndarray:
                z = logits(x)
                if getattr(est, "tta", False):  # the default CNN's flip average, as vedere's
                    z = (z + logits(np.ascontiguousarray(x[:, :, ::-1]))) / 2
                return torch.softmax(z, dim=1).numpy()

            if getattr(est, "tta_shift", 0):
                raise SystemExit("the twin averages flips only: use a model with tta_shift 0")
            est.network_.eval()
            np.testing.assert_allclose(  # the twin computes the same logits
                torch_logits(images[:64]).numpy(),
                est.network_.forward(est.preprocess_(images[:64], None)),
                rtol=1e-4,
                atol=1e-4,
            )
            np.testing.assert_allclose(
                torch_proba(images[:64]), est.predict_proba(images[:64]), atol=2e-4
            )
            for label, run_v, run_t, count in (
                ("batch 256", lambda e=est: e.predict_proba(images),
                 lambda: torch_proba(images), args.n),
                ("batch 1", lambda e=est: [e.predict_proba(images[i : i + 1])
                                           for i in range(args.singles)],
                 lambda: [torch_proba(images[i : i + 1]) for i in range(args.singles)],
                 args.singles),
            ):  # fmt: skip
                run_v()
                run_t()  # warm-up
                best_v = best_t = float("inf")
                for _ in range(args.rounds):
                    t = time.perf_counter()
                    run_v()
                    best_v = min(best_v, time.perf_counter() - t)
                    t = time.perf_counter()
                    run_t()
                    best_t = min(best_t, time.perf_counter() - t)
                row = {
                    "model": kind,
                    "batch": label,
                    "vedere_images_per_s": round(count / best_v, 1),
                    "torch_images_per_s": round(count / best_t, 1),
                    "ratio_vedere_over_torch": round(best_t / best_v, 3),
                }
                rows.append(row)
                print("  ".join(f"{k} {v}" for k, v in row.items()), flush=True)
        machine = describe(peak)
    result = {**machine, "torch": torch.__version__, "threads": args.threads, "rows": rows}
    for k, v in machine.items():
        print(f"{k:<24} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
