"""The exercise layer (nbgrader conventions, see docs/notebook-conventions.md and docs/teachers-guide.md).

(a) The committed student versions in notebooks/student/ are exactly what `make student` generates
    (needs nbgrader, the "teacher" extra: skipped without it, a failure under
    ENCODER_REQUIRE_REFERENCE=1), and the points table in the teacher's guide matches the metadata.
    Every notebook of the series has one (00 included); its lesson cells keep the instructor's
    outputs, its exercise cells have none, and its header names no link to the solutions.
(b) Executing a student version fails only where it should: at the exercise stubs, with
    NotImplementedError, and at the check cells that call them. Nothing here imports nbgrader, so
    learners can run it too. One test per notebook.
(c) The instructor notebooks follow the exercise convention: 2-4 exercises in each of 01-09, at least
    one graded code check, valid and unique nbgrader metadata, balanced solution/hidden-test markers.
(d) That the instructor notebooks themselves run and print what they store is nbval's job (main suite);
    tests/test_checks.py covers the check functions.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student"
GLOB = "[0-9][0-9]_*.ipynb"
INSTRUCTOR_PATHS = sorted(NOTEBOOKS.glob(GLOB))
STUDENT_PATHS = sorted(STUDENT.glob(GLOB))
STUB = "raise NotImplementedError()"
REQUIRE_ENV = "ENCODER_REQUIRE_REFERENCE"

GRADE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
CONVENTION_ID = re.compile(
    r"^ex(?P<nb>\d{2})_(?P<k>\d+)_(?P<kind>solution|check|answer|experiment)(?:_[a-z0-9_-]+)?$"
)
HEADING = re.compile(r"^###\s+Exercise\s+(?P<nb>\d+)\.(?P<k>\d+)\b(?P<rest>.*)$", re.MULTILINE)
HEADING_POINTS = re.compile(r"\((?P<points>\d+(?:\.\d+)?)\s+points?\)")
PASSED = re.compile(r"""^(?:passed\(\s*["']Exercise (?P<nb>\d+)\.(?P<k>\d+)["']\s*\)"""
                    r"""|print\(\s*["']✓ Exercise (?P<nb2>\d+)\.(?P<k2>\d+): all checks passed["']\s*\))\s*$""")


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "make_student_versions", ROOT / "scripts" / "make_student_versions.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


msv = _load_script()  # imports nbformat only; nbgrader is imported when generating


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _describe(path: Path, index: int, cell) -> str:
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    gid = _nbgrader(cell).get("grade_id")
    return (
        f"{path.name} cell {index} (id {cell.get('id')}{', grade_id ' + gid if gid else ''}: {first[:60]!r})"
    )


def _exercise_of(cell) -> str | None:
    match = CONVENTION_ID.match(_nbgrader(cell).get("grade_id", ""))
    return f"{int(match['nb'])}.{match['k']}" if match else None


# ----------------------------------------------------------------------------- (a) generated = committed


def _require_nbgrader():
    """Skip without nbgrader (a teacher's tool), but fail under ENCODER_REQUIRE_REFERENCE=1 (CI)."""
    try:
        import nbgrader  # noqa: F401
    except ImportError as err:
        message = (
            f"regenerating the student versions needs nbgrader ({err}); `make student` installs the "
            "teacher extra"
        )
        if os.environ.get(REQUIRE_ENV, "") == "1":
            pytest.fail(f"{message}. {REQUIRE_ENV}=1 is set, so this is an error, not a skip.", pytrace=False)
        pytest.skip(message)


def test_student_versions_are_up_to_date(tmp_path):
    _require_nbgrader()
    msv.generate(NOTEBOOKS, tmp_path)
    fresh = {p.name: p.read_bytes() for p in tmp_path.glob(GLOB)}
    committed = {p.name: p.read_bytes() for p in STUDENT_PATHS}
    missing = sorted(fresh.keys() - committed.keys())
    extra = sorted(committed.keys() - fresh.keys())
    differ = sorted(n for n in fresh.keys() & committed.keys() if fresh[n] != committed[n])
    assert not (missing or extra or differ), (
        "notebooks/student/ is out of date: run `make student` and commit it. "
        f"missing: {missing}, no instructor notebook: {extra}, different: {differ}"
    )


def test_student_versions_are_deterministic():
    _require_nbgrader()
    paths = msv.instructor_notebooks(NOTEBOOKS)[:1]
    if not paths:
        pytest.skip("no instructor notebook with exercises yet")
    assert msv.student_version(paths[0]) == msv.student_version(paths[0])


def test_points_table_in_teachers_guide_matches_metadata():
    guide = (ROOT / "docs" / "teachers-guide.md").read_text(encoding="utf-8")
    assert msv.TABLE_BEGIN in guide and msv.TABLE_END in guide, (
        "docs/teachers-guide.md lost its points-table markers"
    )
    table = msv.points_table(NOTEBOOKS)
    assert guide == msv.guide_with_table(guide, table), (
        f"the points table in docs/teachers-guide.md is out of date: run `make student`. It should read:\n{table}"
    )


# ----------------------------------------------------------------------------- static student checks


def test_every_notebook_of_the_series_has_a_student_version():
    assert [p.name for p in STUDENT_PATHS] == [p.name for p in INSTRUCTOR_PATHS], (
        "notebooks/student/ must hold one student version per notebook of the series (00 included): "
        "run `make student`"
    )


def _outputs(cell):
    return [{k: v for k, v in out.items() if k != "execution_count"} for out in cell.get("outputs", [])]


@pytest.mark.parametrize("path", STUDENT_PATHS, ids=lambda p: p.name)
def test_student_version_holds_no_solutions_and_keeps_the_lesson_outputs(path):
    nb = nbformat.read(path, as_version=4)
    instructor_path = NOTEBOOKS / path.name
    assert instructor_path.exists(), f"{path.name} has no instructor notebook {instructor_path.relative_to(ROOT)}"
    instructor = {cell.get("id"): cell for cell in nbformat.read(instructor_path, as_version=4).cells}
    header = nb.cells[0]
    assert header.cell_type == "markdown" and "Student version" in header.source
    assert "](../" not in header.source and ".ipynb)" not in header.source, (
        f"{path.name}: the header links to a notebook; it must say where the solutions are without a link"
    )
    start = msv.exercises_start(nb)
    from_solutions = msv.solution_names(nbformat.read(instructor_path, as_version=4))
    lesson_code = 0
    for index, cell in enumerate(nb.cells):
        where = _describe(path, index, cell)
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in cell.source, f"{where} still contains {marker!r}"
        if cell.cell_type == "code":
            if start is None or index < start or msv.keeps_outputs(cell, from_solutions):
                # a lesson cell, or an exercise-support cell that uses nothing from a solution: as stored
                twin = instructor[cell.get("id")]
                assert _outputs(cell) == _outputs(twin), f"{where}: outputs differ from the instructor's"
                assert cell.execution_count == twin.execution_count, f"{where}: execution count changed"
                lesson_code += 1
            else:
                assert not cell.outputs and cell.execution_count is None, f"{where} (an exercise cell) has outputs"
            if _nbgrader(cell).get("solution"):
                assert STUB in cell.source, f"{where} is a solution cell without the `{STUB}` stub"
        elif _nbgrader(cell).get("solution"):
            assert cell.source.strip() == "YOUR ANSWER HERE", f"{where}: a written answer leaked"
    assert lesson_code, f"{path.name}: no lesson code cell kept its outputs"


def test_exercise_outputs_are_cleared_from_the_exercises_heading_on():
    """clear_exercise_outputs itself, on a small notebook: lesson outputs stay, exercise outputs go,
    an exercise-support cell that uses nothing from a solution keeps its printout (08's and 10's
    checkpoint-names cells)."""
    def executed(source, count):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{count}\n")]
        return cell

    solution = executed("def f():\n    return 2", 2)
    solution.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ex01_1_solution"}
    nb = nbformat.v4.new_notebook(cells=[
        executed("print(1)", 1),
        nbformat.v4.new_markdown_cell("## Exercises"),
        solution,
        executed("print(f())", 3),                  # uses the solution: cleared
        executed("table = {'a': 1}\nprint(table)", 4),   # exercise support, uses nothing from a solution: kept
    ])
    assert msv.exercises_start(nb) == 1
    msv.clear_exercise_outputs(nb)
    assert nb.cells[0].outputs and nb.cells[0].execution_count == 1
    assert all(not c.outputs and c.execution_count is None for c in nb.cells[2:4])
    assert nb.cells[4].outputs and nb.cells[4].execution_count == 4
    lesson_only = nbformat.v4.new_notebook(cells=[executed("print(1)", 1)])
    msv.clear_exercise_outputs(lesson_only)
    assert msv.exercises_start(lesson_only) is None and lesson_only.cells[0].outputs


# ----------------------------------------------------------------------------- (b) student execution


def _current_env_kernel_manager():
    """A kernel manager that starts ipykernel with this interpreter (like nbval's --nbval-current-env)."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    class CurrentEnvKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return self.kernel_spec_class(
                resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
            )

    return KernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvKernelSpecManager())


@pytest.mark.parametrize("path", STUDENT_PATHS, ids=lambda p: p.name)
def test_student_version_fails_only_at_exercises(path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # what nbval skips in the instructor version, skip here too
        if cell.cell_type == "code" and (
            cell.source.lstrip().startswith("# NBVAL_SKIP") or "nbval-skip" in cell.metadata.get("tags", [])
        ):
            cell.source = "pass"
    client = NotebookClient(
        nb,
        km=_current_env_kernel_manager(),
        timeout=120,
        allow_errors=True,
        record_timing=False,
        resources={"metadata": {"path": str(STUDENT)}},
    )
    # Agg: figures are drawn but not rendered to PNG (nbval checks the instructor figures); 2x faster.
    client.execute(env={**os.environ, "MPLBACKEND": "Agg"})

    problems, not_implemented = [], set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta, where = _nbgrader(cell), _describe(path, index, cell)
        for out in cell.outputs:
            if out.output_type != "error":
                continue
            error = f"{out.ename}: {out.evalue}"
            if not (meta.get("solution") or meta.get("grade")):
                problems.append(f"{where} is not an exercise cell but raised {error}")
            elif meta.get("solution") and out.ename != "NotImplementedError":
                problems.append(f"{where} is an exercise stub but raised {error}, not NotImplementedError")
            elif meta.get("grade") and out.ename not in ("NotImplementedError", "NameError"):
                problems.append(
                    f"{where} is a check cell that failed with {error}; on an untouched student version it "
                    "may fail only because a stub raises NotImplementedError (or left a name undefined)"
                )
            if out.ename == "NotImplementedError":
                not_implemented.add(_exercise_of(cell))
    # Every code stub is reached: by running it (experiments) or by a check calling it (functions).
    for index, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("solution") and _exercise_of(cell) not in not_implemented:
            problems.append(
                f"{_describe(path, index, cell)}: no cell of exercise {_exercise_of(cell)} raised "
                "NotImplementedError, so nothing checks this stub"
            )
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- (c) instructor lint


def _notebook_number(path: Path) -> int:
    return int(path.name[:2])


LINTED = [
    p for p in INSTRUCTOR_PATHS if 1 <= _notebook_number(p) <= 9 or p in msv.instructor_notebooks(NOTEBOOKS)
]


def _asserts_without_message(src: str) -> list[int]:
    """Line numbers of bare ``assert x`` statements (no message) in a code cell."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert) and node.msg is None]


def lint_instructor_notebook(path: Path) -> list[str]:
    """Every way ``path`` breaks the exercise convention, as readable messages (empty: follows it)."""
    nb = nbformat.read(path, as_version=4)
    number = _notebook_number(path)
    problems: list[str] = []
    exercises_at = next(
        (
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown" and re.search(r"^## Exercises\s*$", c.source, re.M)
        ),
        None,
    )
    if exercises_at is None:
        problems.append(f"{path.name}: no `## Exercises` heading")
        exercises_at = len(nb.cells)

    headings: dict[str, float | None] = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or _nbgrader(cell):
            continue
        for m in HEADING.finditer(cell.source):
            key = f"{int(m['nb'])}.{m['k']}"
            if int(m["nb"]) != number:
                problems.append(f"{_describe(path, i, cell)}: `Exercise {key}` in notebook {number:02d}")
            if i < exercises_at:
                problems.append(f"{_describe(path, i, cell)}: exercise heading before `## Exercises`")
            pts = HEADING_POINTS.search(m["rest"])
            headings[key] = float(pts["points"]) if pts else None
    ks = [int(k.split(".")[1]) for k in headings]
    if 1 <= number <= 9 and not 2 <= len(headings) <= 4:
        problems.append(
            f"{path.name}: {len(headings)} exercises (`### Exercise {number}.K` headings); 2-4 expected"
        )
    if ks != list(range(1, len(ks) + 1)):
        problems.append(f"{path.name}: exercises numbered {ks}, expected 1, 2, ... in order")

    seen_ids: dict[str, int] = {}
    graded_points: dict[str, float] = {}
    graded_code = 0
    for i, cell in enumerate(nb.cells):
        meta, where = _nbgrader(cell), _describe(path, i, cell)
        src = cell.source
        for begin, end in (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")):
            depth = 0
            for line in src.splitlines():
                if begin in line:
                    depth += 1
                elif end in line:
                    depth -= 1
                if depth not in (0, 1):
                    problems.append(f"{where}: unbalanced or nested `### {begin}` / `### {end}`")
                    break
            else:
                if depth:
                    problems.append(f"{where}: `### {begin}` without `### {end}`")
        has_solution = "BEGIN SOLUTION" in src
        has_hidden = "BEGIN HIDDEN TESTS" in src
        if not meta:
            if has_solution:
                problems.append(f"{where}: `### BEGIN SOLUTION` in a cell without nbgrader solution metadata")
            if has_hidden:
                problems.append(f"{where}: hidden tests in a cell without nbgrader grade metadata")
            if cell.cell_type == "code" and i > exercises_at and re.search(r"\b(check_\w+|passed)\(", src):
                problems.append(f"{where}: looks like a check but has no nbgrader metadata")
            continue

        if i < exercises_at:
            problems.append(f"{where}: nbgrader cell before `## Exercises`")
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: nbgrader schema_version is {meta.get('schema_version')!r}, expected 3")
        for key in ("grade", "solution", "locked"):
            if not isinstance(meta.get(key), bool):
                problems.append(f"{where}: nbgrader {key!r} must be true or false, got {meta.get(key)!r}")
        gid = meta.get("grade_id", "")
        if not GRADE_ID.match(gid or ""):
            problems.append(f"{where}: grade_id {gid!r} must match {GRADE_ID.pattern}")
        elif gid in seen_ids:
            problems.append(f"{where}: grade_id {gid!r} already used by cell {seen_ids[gid]}")
        seen_ids[gid] = i
        match = CONVENTION_ID.match(gid or "")
        if not match:
            problems.append(
                f"{where}: grade_id {gid!r} should read exNN_K_(solution|check|answer|experiment)"
            )
        else:
            key = f"{int(match['nb'])}.{match['k']}"
            if int(match["nb"]) != number:
                problems.append(f"{where}: grade_id {gid!r} names notebook {match['nb']}, not {number:02d}")
            if key not in headings:
                problems.append(f"{where}: grade_id {gid!r} belongs to no `### Exercise {key}` heading")

        grade, solution, locked = meta.get("grade"), meta.get("solution"), meta.get("locked")
        if grade:
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
                problems.append(f"{where}: a graded cell needs points > 0, got {points!r}")
            elif match:
                key = f"{int(match['nb'])}.{match['k']}"
                graded_points[key] = graded_points.get(key, 0) + points
        elif "points" in meta and meta["points"]:
            problems.append(f"{where}: points on a cell that is not graded")

        if cell.cell_type == "code":
            if grade and not solution:  # autograded check
                graded_code += 1
                if not locked:
                    problems.append(f'{where}: check cells must be locked ("locked": true)')
                if has_solution:
                    problems.append(f"{where}: a check cell holds a `### BEGIN SOLUTION` region")
                lines = [ln for ln in src.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
                last = PASSED.match(lines[-1].strip()) if lines else None
                if not last:
                    problems.append(f'{where}: a check cell must end with `passed("Exercise {number}.K")` '
                                    f'or `print("✓ Exercise {number}.K: all checks passed")`')
                elif match and (last["nb"] or last["nb2"], last["k"] or last["k2"]) != (str(number), match["k"]):
                    problems.append(f"{where}: the last line names Exercise {last['nb'] or last['nb2']}."
                                    f"{last['k'] or last['k2']}")
                if not re.search(r"\bcheck_\w+\(", src):
                    problems.append(f"{where}: a check cell checks through exercise_checks (check_N_K, ...)")
                for line_no in _asserts_without_message(src):
                    problems.append(f"{where}: the `assert` on line {line_no} has no message for the learner")
                shown = "".join(
                    o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout"
                )
                if "all checks passed" not in shown:
                    problems.append(f"{where}: the stored output does not show the check passing")
            elif solution and not grade:  # stub the learner fills in
                if not has_solution:
                    problems.append(
                        f"{where}: a solution code cell needs `### BEGIN SOLUTION` ... `### END SOLUTION` "
                        "(inside the function body) so the student keeps the signature"
                    )
                if locked:
                    problems.append(f"{where}: solution cells must not be locked")
                if has_hidden:
                    problems.append(f"{where}: hidden tests in a solution cell")
            elif grade and solution:
                problems.append(
                    f"{where}: code cell both graded and solution: use a solution cell plus a check cell"
                )
            elif has_solution or has_hidden:
                problems.append(f"{where}: solution/hidden-test markers in a read-only cell")
        else:
            if has_hidden or (has_solution and not solution):
                problems.append(
                    f"{where}: solution/hidden-test markers in a markdown cell that is not an answer"
                )
            if solution and not grade:
                problems.append(f'{where}: a written answer cell must be graded ("grade": true, with points)')
            if grade and not solution:
                problems.append(f"{where}: a graded markdown cell must be a solution (answer) cell")

    if (1 <= number <= 9 or headings) and graded_code == 0:
        problems.append(f"{path.name}: no graded code check cell")
    for key, stated in headings.items():
        got = graded_points.get(key, 0)
        if stated is None and got:
            problems.append(f"{path.name}: Exercise {key} heading should state its ({got:g} points)")
        elif stated is not None and stated != got:
            problems.append(
                f"{path.name}: Exercise {key} heading says {stated:g} points, graded cells give {got:g}"
            )
    return problems


@pytest.mark.parametrize("path", LINTED, ids=lambda p: p.name)
def test_instructor_notebook_follows_exercise_convention(path):
    problems = lint_instructor_notebook(path)
    assert not problems, "\n".join(problems)


def test_lint_catches_broken_metadata(tmp_path):
    """The lint itself: a notebook that breaks the rules is reported, cell by cell."""
    solution = {
        "schema_version": 3,
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "ex04_1_solution",
    }
    check = {
        "schema_version": 3,
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "ex04_1_solution",
    }
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("## Exercises\n\n### Exercise 4.1 · Mask (3 points)"),
            nbformat.v4.new_code_cell(
                "def f():\n    ### BEGIN SOLUTION\n    return 1", metadata={"nbgrader": solution}
            ),
            nbformat.v4.new_code_cell("assert f() == 1", metadata={"nbgrader": check}),
        ]
    )
    path = tmp_path / "04_broken.ipynb"
    nbformat.write(nb, path)
    text = "\n".join(lint_instructor_notebook(path))
    for expected in (
        "1 exercises",
        "without `### END SOLUTION`",
        "already used",
        "needs points > 0",
        "must end with `passed(",
        "heading says 3 points",
        "checks through exercise_checks",
        "has no message for the learner",
    ):
        assert expected in text, f"lint missed {expected!r}:\n{text}"


# ----------------------------------------------------------------------------- no nbgrader at run time


def test_exercise_layer_needs_no_nbgrader_at_run_time():
    """Learners do not install nbgrader: helpers and exercise_checks must never import it."""
    for path in sorted((ROOT / "exercise_checks").glob("*.py")):
        assert "import nbgrader" not in path.read_text(encoding="utf-8"), path.name
    code = ("import sys, helpers, exercise_checks, exercise_checks._core; "
            + "; ".join(f"import exercise_checks.{p.stem}" for p in sorted((ROOT / "exercise_checks").glob("nb*.py")))
            + "; assert 'nbgrader' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
