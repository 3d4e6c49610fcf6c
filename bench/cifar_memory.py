"""Peak memory (max RSS) of ``vedere train`` on all 50,000 CIFAR-10 training images.

    python bench/cifar_memory.py [--data cifar10-train.tar.gz] [--model mlp] [--epochs 1]

Runs the command line in a child process (decoded images already cached, as on a second
run; the first, decoding run is measured too when the cache is empty) and reports the
child's peak resident set size from ``getrusage``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data", default=str(REPO.parent / "shared" / "datasets" / "cifar10-train.tar.gz")
    )
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            sys.executable,
            "-m",
            "vedere.cli",
            "train",
            "--model",
            args.model,
            "--data-dir",
            args.data,
            "--epochs",
            str(args.epochs),
            "--quiet",
            "--out",
            out,
        ]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"command        {' '.join(cmd[1:])}")
    print("images         50,000 (45,000 trained on, 5,000 validation)")
    print(f"peak RSS       {peak_mb:.0f} MB")
    print(f"wall time      {seconds:.0f} s")


if __name__ == "__main__":
    main()
