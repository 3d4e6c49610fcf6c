"""Run every experiment in its full version and assemble docs/experiments.md.

    python bench/experiments_full.py [--data ../shared/datasets/cifar10-train.tar.gz]
        [--work /tmp/vedere-experiments] [--only name,name]

Each experiment runs with ``--data-dir`` the CIFAR-10 training archive (45,000 / 5,000 split,
seed 0) into ``--work/NAME`` (resumable: rerunning skips finished runs); its report and
figures are then copied to docs/experiments/NAME/ (PNGs re-encoded with a 256-colour palette
to keep them small) and every report is gathered into docs/experiments.md.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from PIL import Image

from vedere.experiments import EXPERIMENTS, run_experiment

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def publish(name: str, work: Path, data: str) -> str:
    dst = DOCS / "experiments" / name
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for png in sorted(work.glob("*.png")):
        with Image.open(png) as im:
            im.convert("RGB").quantize(256).save(dst / png.name, optimize=True)
    # machine-specific paths → the ones a reader types (the archive beside the checkout)
    report = (
        (work / "report.md")
        .read_text()
        .replace(str(data), "../shared/datasets/cifar10-train.tar.gz")
        .replace(str(work), f"runs/{name}")
    )
    (dst / "report.md").write_text(report)
    # in the gathered file, figures live one folder down and titles one level down
    lines = []
    for line in report.splitlines():
        if line.startswith("!["):
            cap, file = line[2:].split("](")
            line = f"![{cap}](experiments/{name}/{file}"
        elif line.startswith("# "):
            line = "#" + line
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/cifar10-train.tar.gz"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/vedere-experiments"))
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(EXPERIMENTS)
    sections = []
    for name in EXPERIMENTS:
        out = args.work / name
        if name in names:
            t0 = time.perf_counter()
            run_experiment(name, out, quick=False, seed=0, data=args.data)
            print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
        if (out / "report.md").exists():
            sections.append(publish(name, out, args.data))
    head = (
        "# The course as experiments: full runs\n\n"
        "Every section below was produced by `vedere experiment NAME --data-dir "
        "../shared/datasets/cifar10-train.tar.gz --seed 0 --out DIR` (all of them: "
        "`python bench/experiments_full.py`) on the 2-core development machine; rerunning "
        "gives the same numbers. The CIFAR-10 experiments train on the JPEG-re-encoded "
        "training archive, split 45,000 / 5,000 with seed 0 (some on a seeded subset, as "
        "each section says); accuracies are on the 5,000 held-out images.\n\n"
    )
    (DOCS / "experiments.md").write_text(head + "\n\n".join(sections) + "\n")
    print(f"wrote {DOCS / 'experiments.md'}")


if __name__ == "__main__":
    main()
