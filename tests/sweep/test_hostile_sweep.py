"""Sweep inputs that once took unbounded memory or printed raw (issue 27): grids counted
before they are built, the study journal checked before Optuna reads it, trial lines escaped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("optuna")

from vedere.cli.main import cli
from vedere.sweep.study import MAX_JOURNAL_BYTES

REPO = Path(__file__).resolve().parents[2]
SPEC = 'model = "mlp"\nsampler = "grid"\n[train]\nepochs = 1\nhidden = "8"\nlimit = 60\n'


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("high", [10**12, 3 * 10**7])
def test_a_huge_integer_grid_is_counted_not_built(tmp_path, high):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC + f'[search.batch_size]\ntype = "integer"\nlow = 1\nhigh = {high}\n')
    code = f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from vedere.sweep import load
        try:
            load({str(spec)!r})
        except ValueError as e:
            print("SpecError:", e)
        """
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=60, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"the grid has {high:,} points (at most 10,000)" in r.stdout


def started_sweep(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC + '[search.lr]\ntype = "choice"\nvalues = [0.01]\n')
    out = tmp_path / "sw"
    r = run("sweep", spec, "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    return spec, out


def test_a_journal_over_the_cap_is_refused_before_optuna_reads_it(tmp_path):
    spec, out = started_sweep(tmp_path)
    with open(out / "study.journal", "r+b") as f:
        f.truncate(MAX_JOURNAL_BYTES + 1)  # sparse: costs nothing on disk
    r = run("sweep", spec, "--out", out, "--resume", "--quiet")
    assert r.exit_code == 1
    assert r.output.strip().startswith(f"error: {out / 'study.journal'}: 268,435,457 bytes")
    assert len(r.output.strip().splitlines()) == 1


def test_a_garbage_journal_is_named(tmp_path):
    spec, out = started_sweep(tmp_path)
    (out / "study.journal").write_bytes(b"\x00garbage\n{not json\n")
    r = run("sweep", spec, "--out", out, "--resume", "--quiet")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert r.output.startswith(f"error: {out / 'study.journal'}: not a readable Optuna journal")


def test_trial_lines_and_the_summary_escape_names(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(
        'model = "mlp"\ndata = "missing\\nerror: forged \\u001b]0;T\\u001b\\\\"\n'
        'sampler = "grid"\n[train]\nepochs = 1\nhidden = "8"\n'
        '[search.lr]\ntype = "choice"\nvalues = [0.01]\n'
    )
    out = tmp_path / "sw\x1b[2J"
    r = run("sweep", spec, "--out", out)
    assert r.exit_code == 0, r.output
    assert "1 failed" in r.output
    assert "\x1b" not in r.output
    assert not any(line.startswith("error: forged") for line in r.output.splitlines())
    assert "missing\\nerror: forged" in r.output  # the failed trial's message, escaped
