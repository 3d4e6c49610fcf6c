"""The ``vedere`` command: version, help, demo, gradcheck."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from vedere import __version__
from vedere.cli.main import cli


def test_version_and_help():
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"vedere, version {__version__}"
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0 and "demo" in r.output and "gradcheck" in r.output


def test_demo_prints_accuracy():
    r = CliRunner().invoke(cli, ["demo", "--dataset", "spirals", "--epochs", "600"])
    assert r.exit_code == 0, r.output
    train = float(re.search(r"train accuracy\s+([\d.]+)%", r.output).group(1))
    test = float(re.search(r"test accuracy\s+([\d.]+)%", r.output).group(1))
    assert train >= 97 and test >= 90


def test_demo_rejects_bad_hidden_sizes():
    r = CliRunner().invoke(cli, ["demo", "--hidden", "64,abc"])
    assert r.exit_code != 0 and "comma-separated integers" in r.output


def test_gradcheck_command_passes():
    r = CliRunner().invoke(cli, ["gradcheck"])
    assert r.exit_code == 0, r.output
    assert "MLP + L1 + L2 + dropout" in r.output and "FAIL" not in r.output


def test_console_script_is_installed():
    beside_python = Path(sys.executable).with_name("vedere")
    exe = str(beside_python) if beside_python.exists() else shutil.which("vedere")
    assert exe, "the vedere console script is not installed"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout
