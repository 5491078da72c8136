"""Every instructor notebook is saved executed in order, with outputs and no errors, so what a
learner reads is what the code prints (nbval then checks the outputs themselves)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saved_executed_in_order(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: re-run with `make notebooks NB={path.relative_to(ROOT)}`"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name} has stored error outputs"
    streams = [o for c in code for o in c["outputs"] if o.get("name") == "stderr"]
    assert not streams, f"{path.name} has stderr output (a warning?): {streams[0]['text'][:200]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_timing_metadata(path):
    # nbconvert without record_timing=False stores timestamps that change on every run.
    nb = json.loads(path.read_text())
    assert not any("execution" in c.get("metadata", {}) for c in nb["cells"]), (
        f"{path.name} has per-cell timing metadata: re-run with `make notebooks`"
    )
