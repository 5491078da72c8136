"""The pure parts of scripts/build_lite.py (make lite): lock trimming and lock entries for our wheels.

The build itself (downloads, jupyter lite build) runs in `make test-lite`, which then runs every
notebook of the built site in a browser."""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build_lite", ROOT / "scripts" / "build_lite.py")
build_lite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_lite)

LOCK = {
    "numpy": {"depends": []},
    "matplotlib": {"depends": ["numpy", "python-dateutil"]},
    "python-dateutil": {"depends": ["six"]},
    "six": {"depends": []},
    "prompt_toolkit": {"depends": ["wcwidth"]},
    "wcwidth": {"depends": []},
    "scipy": {"depends": ["numpy"]},
}


def make_wheel(tmp_path, files, requires):
    wheel = tmp_path / "demo_pkg-1.2-py3-none-any.whl"
    meta = "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.2\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in files:
            zf.writestr(name, "")
        zf.writestr("demo_pkg-1.2.dist-info/METADATA", meta)
    return wheel


def test_closure_follows_dependencies_across_name_spellings():
    assert build_lite.closure(LOCK, {"matplotlib", "prompt-toolkit"}) == {
        "matplotlib", "numpy", "python-dateutil", "six", "prompt_toolkit", "wcwidth"}


def test_closure_names_a_package_the_lock_lacks():
    with pytest.raises(SystemExit, match="safetensors is not in the official Pyodide"):
        build_lite.closure(LOCK, {"numpy", "safetensors"})


def test_wheel_metadata_finds_every_top_level_package_and_skips_extras(tmp_path):
    wheel = make_wheel(tmp_path, ["helpers/__init__.py", "helpers/reference_data/a.safetensors",
                                  "exercise_checks/__init__.py", "exercise_checks/core.py"],
                       ["numpy>=2.0,<3", "Matplotlib>=3.8", "jupyterlab>=4", 'pytest>=8; extra == "test"'])
    name, version, requires, tops = build_lite.wheel_metadata(wheel)
    assert (name, version) == ("demo-pkg", "1.2")
    assert requires == ["numpy", "matplotlib", "jupyterlab"]
    assert tops == ["exercise_checks", "helpers"]


def test_lock_entry_depends_only_on_what_pyodide_ships(tmp_path):
    wheel = make_wheel(tmp_path, ["helpers/__init__.py"], ["numpy", "matplotlib", "safetensors", "jupyterlab"])
    entry = build_lite.lock_entry(wheel, LOCK)
    assert entry["depends"] == ["matplotlib", "numpy"]
    assert entry["imports"] == ["helpers"]
    assert entry["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert entry["file_name"] == wheel.name and entry["name"] == "demo-pkg"


def test_pinned_model_package_matches_the_makefile():
    pinned = (ROOT / "scripts" / "lite-requirements.txt").read_text()
    makefile = (ROOT / "Makefile").read_text()
    model = next(line.split(":=")[1].strip() for line in makefile.splitlines()
                 if line.startswith("MODEL_PACKAGE"))
    assert f"{model} --hash=sha256:" in pinned
