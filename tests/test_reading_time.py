"""The series' length budget: a learner reads any numbered notebook in at most 45 minutes.

scripts/reading_time.py is a rough model (its docstring gives the rates), not a measurement; this test
keeps a later edit from quietly growing a notebook past the budget the series was trimmed to.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MINUTES = 45.0

spec = importlib.util.spec_from_file_location("reading_time", ROOT / "scripts" / "reading_time.py")
reading_time = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reading_time)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_reads_within_the_budget(path):
    minutes = reading_time.estimate(path)["total"]
    assert minutes <= BUDGET_MINUTES, (
        f"{path.name} reads in {minutes:.1f} min by scripts/reading_time.py (budget {BUDGET_MINUTES:g})")


def test_estimate_counts_each_part_at_its_rate(tmp_path):
    notebook = {"cells": [
        {"cell_type": "markdown", "source": " ".join(["word"] * 400), "metadata": {}},
        {"cell_type": "code", "source": "a = 1\n# a comment is not a line\n\nb = 2\n", "metadata": {},
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"},
                     {"output_type": "display_data", "data": {"image/png": "AAAA"}, "metadata": {}}]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "99_example.ipynb"
    path.write_text(json.dumps(notebook))
    minutes = reading_time.estimate(path)
    assert minutes["prose"] == pytest.approx(2.0)          # 400 words at 200 per minute
    assert minutes["code"] == pytest.approx(0.2)           # 2 lines at 10 per minute
    assert minutes["figures"] == pytest.approx(0.5)
    assert minutes["outputs"] == pytest.approx(0.25)
    assert minutes["total"] == pytest.approx(2.95)
