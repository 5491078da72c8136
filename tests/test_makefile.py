"""The Makefile's setup logic, run for real against throw-away .venv folders and fake interpreters,
so nothing here installs anything or touches the project's own .venv (each test takes well under 1 s)."""

from __future__ import annotations

import os
import sys
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, timeout=60)


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_too_old_python_gets_one_line_naming_both_versions(tmp_path):
    old = script(tmp_path / "python3.9", "echo 3.9; exit 1")     # what the check prints on Python 3.9
    venv = tmp_path / "venv"
    result = make("install", f"PYTHON={old}", f"VENV={venv}")
    assert result.returncode != 0
    lines = [line for line in result.stdout.splitlines() if "3.11" in line]
    assert len(lines) == 1 and "Python 3.9" in lines[0] and "needs Python 3.11 or newer" in lines[0], result.stdout
    assert not venv.exists()                                     # stopped before creating anything


def test_missing_python_is_reported(tmp_path):
    result = make("install", f"PYTHON={tmp_path / 'no-such-python'}", f"VENV={tmp_path / 'venv'}")
    assert result.returncode != 0
    assert "not found" in result.stdout and "needs Python 3.11 or newer" in result.stdout, result.stdout


def test_the_version_check_accepts_this_interpreter(tmp_path):
    # The real check, on the Python running the tests (>= 3.11): it passes, and the venv step is next.
    # VENV points into a folder that cannot be created, so nothing gets installed.
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = make("install", f"PYTHON={sys.executable}", f"VENV={blocker / 'venv'}")
    assert "needs Python" not in result.stdout
    assert "-m venv" in result.stdout


def test_broken_venv_is_removed_and_rebuilt_and_a_failed_install_leaves_no_stamp(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(tmp_path / "python-that-was-uninstalled")
    (venv / ".installed").write_text("")                          # even a venv that once installed fine
    fake = script(tmp_path / "python3.12", "echo 3.12")           # passes the check; its "-m venv" does nothing
    result = make("install", f"PYTHON={fake}", f"VENV={venv}")
    assert "is broken" in result.stdout and "building it again" in result.stdout, result.stdout
    assert result.returncode != 0                                 # the fake made no python for pip to run
    assert not (venv / ".installed").exists()                     # so no stamp: the next make tries again


def test_half_built_venv_is_finished(tmp_path):
    venv = tmp_path / "venv"
    # A venv whose python runs ("-c ''") but whose pip step never completed: no stamp.
    script(venv / "bin" / "python", '[ "$1" = "-c" ] && exit 0; exit 3')
    fake = script(tmp_path / "python3.12", "echo 3.12")
    result = make("install", f"PYTHON={fake}", f"VENV={venv}")
    assert "is incomplete" in result.stdout, result.stdout
    assert result.returncode != 0 and not (venv / ".installed").exists()


def test_lab_adds_allow_root_only_for_root_and_passes_lab_args(tmp_path):
    venv = tmp_path / "venv"
    script(venv / "bin" / "python", "exit 0")
    (venv / ".installed").write_text("")                          # up to date: make -n shows only the lab line
    os.utime(venv / ".installed", (2**31, 2**31))
    result = make("-n", "lab", f"VENV={venv}", "LAB_ARGS=--no-browser --port=8890")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "jupyter lab" in line]
    # Self-learners start in the student version of 00; the file browser is rooted at notebooks/.
    assert line.endswith("--no-browser --port=8890 notebooks/student/00_roadmap.ipynb")
    assert "--ServerApp.root_dir=notebooks" in line
    assert ("--allow-root" in line) == (os.geteuid() == 0)
