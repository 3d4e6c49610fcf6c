"""README's examples run as written: every ```python block, and the command that extracts the
image the predict example classifies."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang: str) -> list[tuple[str, str]]:
    """(heading above, code) of every fenced block of ``lang`` in README, in order."""
    out, heading = [], ""
    fence = re.compile(r"^(#+ [^\n]*)$|^```(\w*)\n(.*?)^```$", re.M | re.S)
    for m in fence.finditer(README.read_text()):
        if m.group(1):
            heading = m.group(1).lstrip("# ")
        elif m.group(2) == lang:
            out.append((heading, m.group(3)))
    return out


PYTHON = blocks("python")


def test_readme_has_the_python_api_examples():
    headings = {h for h, _ in PYTHON}
    assert "Python API" in headings and len(PYTHON) >= 3


def program(i: int) -> list[tuple[str, str]]:
    """Python block ``i`` with the blocks it continues: a block whose first line is an
    ``import`` starts a program; any other continues the block before it (the Python API's
    training continues its data loading)."""
    start = i
    while start > 0 and not PYTHON[start][1].startswith("import "):
        start -= 1
    return PYTHON[start : i + 1]


@pytest.mark.parametrize("i", range(len(PYTHON)), ids=[h for h, _ in PYTHON])
def test_python_block_runs(i, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks that save files write them here
    namespace: dict = {}
    for heading, code in program(i):
        exec(compile(code, f"README.md ({heading})", "exec"), namespace)


def test_predict_example_image_can_be_extracted(tmp_path):
    bash = "\n".join(code for _, code in blocks("bash"))
    extract = next(ln for ln in bash.splitlines() if ln.startswith("python -c "))
    predict = next(ln for ln in bash.splitlines() if ln.startswith("vedere predict runs/first "))
    argv = shlex.split(extract)
    argv[0] = sys.executable
    subprocess.run(argv, cwd=tmp_path, check=True, timeout=60)
    image = shlex.split(predict)[3]
    assert (tmp_path / image).is_file(), image
