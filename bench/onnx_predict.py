"""Prediction speed: vedere against onnxruntime on the same exported model.

    python bench/onnx_predict.py [--models mlp,cnn] [--run RUN ...] [--batches 1,256]
                                 [--rounds 5] [--seconds 1.0] [--threads 2] [--json out.json]

For each model — the default MLP and the default CNN (``c24-b32-b64-b128-g`` with its
test-time flip averaging), fitted for one epoch on random 32×32×3 images (speed does not
depend on the weights' values), or the trained classifiers of ``--run`` directories — the
model is exported with ``vedere.export.to_onnx`` and both are timed on the same uint8 batches
of 1 and 256 images: vedere's ``predict_proba`` (what ``vedere predict`` runs once the files
are decoded: normalisation, network, softmax) and ``InferenceSession.run`` (the same work,
inside the graph). Rounds alternate between the two, so that changes in machine load hit
both alike; each measurement repeats calls for ``--seconds``; reported are the median
images/s of each and the ratio vedere / onnxruntime, both with ``--threads`` threads (BLAS and
Numba threads for vedere via the environment, ``intra_op_num_threads`` for onnxruntime), plus the
CPU (``lscpu``'s model name) and NumPy's float32 matmul peak on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="mlp,cnn", help="built-in models to time: mlp, cnn")
    p.add_argument("--run", action="append", default=[], help="a run directory (repeatable)")
    p.add_argument("--batches", default="1,256")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the results here")
    return p.parse_args()


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS reads these once, when NumPy is first imported
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def matmul_peak() -> float:
    """Best float32 GFLOP/s of NumPy's matmul on a few square products."""
    rng = np.random.default_rng(0)
    best = 0.0
    for n in (512, 1024):
        a = rng.random((n, n), dtype=np.float32)
        b = rng.random((n, n), dtype=np.float32)
        a @ b
        reps = max(3, int(2e9 / (2 * n**3)))
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t) / 1e9)
    return best


def builtin(name: str):
    from vedere.classify import CNNClassifier, MLPClassifier

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (256, 32, 32, 3), dtype=np.uint8)
    y = np.arange(256) % 10
    est = MLPClassifier(epochs=1) if name == "mlp" else CNNClassifier(epochs=1)
    return f"default {name}", est.fit(x, y)


def images_per_second(fn, x: np.ndarray, seconds: float) -> float:
    fn(x)  # warm up
    n, t0 = 0, time.perf_counter()
    while True:
        fn(x)
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n * len(x) / dt


def bench(label: str, est, batches: list[int], rounds: int, seconds: float, threads: int):
    import onnxruntime as ort

    from vedere.export import to_onnx

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(
        to_onnx(est).SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    h, w, c = est.preprocess_.shape
    rng = np.random.default_rng(1)
    rows = []
    for b in batches:
        x = rng.integers(0, 256, (b, h, w, c), dtype=np.uint8)
        ours = est.predict_proba(x)
        theirs = session.run(["probabilities"], {"images": x})[0]
        diff = float(np.abs(ours - theirs).max())
        v, o = [], []
        for _ in range(rounds):
            v.append(images_per_second(est.predict_proba, x, seconds))
            o.append(images_per_second(lambda a: session.run(["probabilities"], {"images": a}), x,
                                       seconds))  # fmt: skip
        row = {
            "model": label,
            "batch": b,
            "vedere_img_s": round(statistics.median(v), 1),
            "onnxruntime_img_s": round(statistics.median(o), 1),
            "max_abs_diff": diff,
        }
        row["ratio"] = round(row["vedere_img_s"] / row["onnxruntime_img_s"], 3)
        rows.append(row)
        print(
            f"{label:<22} batch {b:>4}  vedere {row['vedere_img_s']:>9.1f} img/s  "
            f"onnxruntime {row['onnxruntime_img_s']:>9.1f} img/s  ratio {row['ratio']:.2f}  "
            f"(max |Δp| {diff:.1e})",
            flush=True,
        )
    return rows


def main() -> None:
    args = ARGS
    batches = [int(b) for b in args.batches.split(",") if b]
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; threads {args.threads}", flush=True)
    peak = matmul_peak()
    print(f"NumPy float32 matmul peak: {peak:.1f} GFLOP/s", flush=True)
    models = [builtin(m) for m in args.models.split(",") if m]
    if args.run:
        from vedere.classify.run import load_image_classifier

        models += [(r, load_image_classifier(r)[1]) for r in args.run]
    rows = []
    for label, est in models:
        rows += bench(label, est, batches, args.rounds, args.seconds, args.threads)
    if args.json:
        info = {"cpu": cpu_name(), "threads": args.threads, "matmul_peak_gflops": peak}
        with open(args.json, "w") as f:
            json.dump({**info, "rows": rows, "argv": sys.argv}, f, indent=1)


if __name__ == "__main__":
    main()
