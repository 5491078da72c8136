"""The series stands on its own: no notebook refers to notes the learner does not have.

A learner has only the notebooks (and the public sources they cite: Vaswani et al. 2017, Ba et al. 2016,
The Illustrated Transformer). A cell that says "the notes say ..." or "the source notes open with ..."
points at a document the learner never sees, so every such phrase fails here, in the instructor and the
student versions alike, in markdown and in code (comments and strings included).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")) + sorted(
    (ROOT / "notebooks" / "student").glob("[0-9]*.ipynb")
)

# "the notes", "source notes", "seed notes", "our notes", "The  notes'", "source\nnotes", "source-notes";
# whole words only, so "footnotes", "notebook", "denotes" and "the notebook" never match.
UNSEEN_NOTES = re.compile(r"\b(?:the|source|seed|our)[\s\-]+notes\b", re.IGNORECASE)


def offending_cells(notebook: dict) -> list[str]:
    found = []
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell.get("source", ""))
        for match in UNSEEN_NOTES.finditer(source):
            found.append(f"cell {index} ({cell.get('id')}): ...{source[max(0, match.start() - 40):match.end() + 40]!r}...")
    return found


@pytest.mark.parametrize("text", ["The notes say", "the source notes open with", "seed notes",
                                  "as our\nnotes put it", "The  notes' pictures", "source-notes"])
def test_pattern_flags_references_to_notes(text):
    assert UNSEEN_NOTES.search(text)


@pytest.mark.parametrize("text", ["see the footnotes", "this notebook", "the notebooks", "x denotes y",
                                  "notes on a scale", "keynotes", "the note that"])
def test_pattern_leaves_ordinary_words_alone(text):
    assert not UNSEEN_NOTES.search(text)


def test_there_are_notebooks_to_check():
    assert any(path.parent.name == "notebooks" for path in NOTEBOOKS)
    assert any(path.parent.name == "student" for path in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: str(path.relative_to(ROOT / "notebooks")))
def test_notebook_mentions_no_notes_the_learner_lacks(path):
    found = offending_cells(json.loads(path.read_text(encoding="utf-8")))
    assert not found, (
        f"{path.relative_to(ROOT)} refers to notes the learner does not have; state the idea as the series' own "
        "and cite the public source (the paper, Ba et al. 2016, The Illustrated Transformer):\n" + "\n".join(found)
    )
