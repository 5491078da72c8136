"""The teacher's guide's nbgrader workflow, run end to end on a temporary course with three students.

Every command of docs/teachers-guide.md's "Using the series with nbgrader" section runs here, in the
guide's order, with nbgrader 0.9.6 (the `teacher` extra): quickstart, the guide's nbgrader_config.py,
db import, generate_assignment, release_assignment (to an exchange folder), fetch_assignment and
submit (one student, through the exchange), zip_collect (one student, from an LMS-style download)
and a hand-placed submission (one student), collect, autograde, generate_feedback, release_feedback,
fetch_feedback, export. The three students:

* ``blank`` hands in the released student version untouched: 0 points;
* the exchange student (the OS user, as nbgrader's exchange requires) fills every solution cell with the
  instructor's solution: every autograded point (written answers wait for manual grading);
* ``buggy`` makes one realistic mistake per exercise (the first named one of tests/exercise_battery for
  it): every check fails, so 0 autograded points, and the feedback shows each mistake's own message.

A second test, ``test_several_students_on_one_account``, follows the guide's route for students who
share one machine account: each submits from their own folder with ``--student=<id>``, and collect (with
``--CollectApp.check_owner=False``) brings in one submission per student: ``alice`` (the instructor's
solutions, every autograded point), ``bob`` (a realistic mistake per exercise, 0) and ``carol``, whose
solution cells return junk and rebind the visible checks to no-ops (0: the hidden tests reload the
checks from disk).

One notebook, 01, not all ten: every nbgrader command starts a fresh Python that imports nbgrader
(about 5 s of CPU, 10-20 s on the loaded shared 2-core machine), the workflow is about 15 commands per
assignment, and autograde executes each of the three submissions in a fresh kernel, lesson included.
One assignment takes about 3 minutes here; ten would take half an hour. 01 has every kind of
exercise cell the series uses (solution cells, check cells with hidden tests, an experiment, a
written answer), so it exercises every step the guide describes; the checks of all 27 autograded
exercises are run without nbgrader by tests/test_exercise_battery.py (realistic mistakes and cheats,
and the instructor solutions against the full check cells, hidden tests included) and by nbval.
"""

from __future__ import annotations

import csv
import getpass
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import exercise_battery as eb
from conftest import require_module

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ["01_tokens_one_hot"]
COURSE_ID = "encoder-course"
CONFIG = '''c = get_config()
c.CourseDirectory.course_id = "encoder-course"
c.Execute.timeout = 120   # seconds per cell (nbgrader's default is 30)
c.Exchange.root = {exchange!r}
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[a-z]+)_(?P<file_id>[0-9]{{2}}_\\w+\\.ipynb)"
'''
GRADE_ID = re.compile(r"^ex(\d{2})_(\d+)_solution$")
TIMES: list[tuple[str, float]] = []


def nbgrader(*args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """Run one nbgrader command as the guide writes it; fail with its output if it fails."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    TIMES.append((" ".join(args[:2]), time.perf_counter() - start))
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def solutions(stem: str) -> dict[str, str]:
    """grade_id -> the instructor's solution cell source."""
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def first_mistakes() -> dict[str, eb.Answer]:
    """For each exercise of the battery, its first realistic mistake that the check names."""
    chosen: dict[str, eb.Answer] = {}
    for answer in eb.all_answers():
        if answer.kind == "mistake" and answer.named and answer.functions and answer.exercise not in chosen:
            chosen[answer.exercise] = answer
    return chosen


def buggy_source(instructor_source: str, answer: eb.Answer) -> str:
    """A solution cell that binds the notebook's function name(s) to the answer's wrong function(s)."""
    names = re.findall(r"^def (\w+)\(", instructor_source, flags=re.MULTILINE)
    lines = ["import sys", f"sys.path.insert(0, {str(ROOT / 'tests')!r})", "from exercise_battery import answer_function"]
    lines += [f"{name} = answer_function({answer.exercise!r}, {answer.what!r}, {name!r})" for name in names]
    return "\n".join(lines) + "\n"


def disabling_source(instructor_source: str, exercise: str) -> str:
    """A solution cell that returns junk and rebinds the visible check of ``exercise`` to a no-op."""
    names = re.findall(r"^def (\w+)\(", instructor_source, flags=re.MULTILINE)
    number = exercise.replace(".", "_")
    module = f"exercise_checks.nb{int(exercise.split('.')[0]):02d}"
    junk = "".join(f"def {name}(*args, **kwargs):\n    return None\n" for name in names)
    return junk + f"import {module} as _checks\n_checks.check_{number} = lambda *args, **kwargs: None\n"


def expected_message(answer: eb.Answer) -> str:
    """The first line the visible check gives this answer, up to the case in parentheses."""
    return str(eb.run(answer).visible).split(" (")[0]


def fill(path: Path, sources: dict[str, str]) -> None:
    """Replace the solution cells of a student notebook (by grade_id) with the given sources."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if gid in sources:
            cell["source"] = sources[gid]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


def test_teachers_guide_nbgrader_workflow(tmp_path):
    require_module("nbgrader", "the nbgrader workflow test needs nbgrader (the `teacher` extra)")
    started = time.perf_counter()
    # nbgrader runs `alembic` (its database migrations) by name: its environment's bin must be on PATH,
    # as it is in an activated environment or on a JupyterHub image.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, PATH=path, MPLBACKEND="Agg")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    nbgrader("quickstart", COURSE_ID, cwd=tmp_path, env=env)
    course = tmp_path / COURSE_ID
    shutil.rmtree(course / "source" / "ps1")
    (course / "source" / "header.ipynb").unlink(missing_ok=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(exchange=str(exchange)), encoding="utf-8")
    for stem in SUBSET:
        (course / "source" / stem).mkdir(parents=True)
        shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", course / "source" / stem)
    exchange_student = getpass.getuser()
    (course / "students.csv").write_text(
        "id,first_name,last_name,email\n"
        f"blank,Blank,Student,blank@example.org\n{exchange_student},Correct,Student,correct@example.org\n"
        "buggy,Buggy,Student,buggy@example.org\n", encoding="utf-8")
    nbgrader("db", "student", "import", "students.csv", cwd=course, env=env)
    student_home = tmp_path / "home"
    student_home.mkdir()
    mistakes = first_mistakes()
    for stem in SUBSET:
        nbgrader("db", "assignment", "add", stem, "--duedate=2026-03-02 09:00:00 UTC", cwd=course, env=env)
        nbgrader("generate_assignment", stem, cwd=course, env=env)
        nbgrader("release_assignment", stem, cwd=course, env=env)
        # the exchange student: fetch, fill in the instructor's solutions, submit
        fetch = ["--course", COURSE_ID, f"--Exchange.root={exchange}"]
        nbgrader("fetch_assignment", stem, *fetch, cwd=student_home, env=env)
        fill(student_home / stem / f"{stem}.ipynb", solutions(stem))
        nbgrader("submit", stem, *fetch, cwd=student_home, env=env)
        released = course / "release" / stem / f"{stem}.ipynb"
        # blank: hand-placed, with a timestamp.txt (autograde and generate_feedback record it)
        placed = course / "submitted" / "blank" / stem
        placed.mkdir(parents=True)
        shutil.copy(released, placed)
        (placed / "timestamp.txt").write_text("2026-03-01 12:00:00.000000 UTC", encoding="utf-8")
        # buggy: downloaded from an LMS, one file per student, brought in by zip_collect
        archive = course / "downloaded" / stem / "archive"
        archive.mkdir(parents=True)
        buggy = archive / f"buggy_{stem}.ipynb"
        shutil.copy(released, buggy)
        instructor = solutions(stem)
        fill(buggy, {gid: buggy_source(src, mistakes[f"{int(m[1])}.{m[2]}"]) for gid, src in instructor.items()
                     if (m := GRADE_ID.match(gid)) and f"{int(m[1])}.{m[2]}" in mistakes})
        nbgrader("zip_collect", stem, cwd=course, env=env)
        assert (course / "submitted" / "buggy" / stem / f"{stem}.ipynb").exists(), "zip_collect placed nothing"
        # zip_collect writes no timestamp.txt unless named_regexp captures a timestamp
        (course / "submitted" / "buggy" / stem / "timestamp.txt").write_text("2026-03-01 13:00:00.000000 UTC",
                                                                               encoding="utf-8")
        nbgrader("collect", stem, cwd=course, env=env)
        log = nbgrader("autograde", stem, cwd=course, env=env)
        nbgrader("generate_feedback", stem, cwd=course, env=env)
        # release_feedback needs the submission_secret.txt that only `submit` writes: students who did not
        # submit through the exchange get their feedback/<student>/<assignment>/*.html by hand instead.
        nbgrader("release_feedback", stem, "--CourseDirectory.student_id_exclude=blank,buggy", cwd=course, env=env)
        nbgrader("fetch_feedback", stem, *fetch, cwd=student_home, env=env)
        assert list((student_home / stem / "feedback").rglob("*.html")), "fetch_feedback brought no feedback"
        # The guide says: autograde logs a changed checksum for every submission's check cells with hidden tests.
        assert "checksum" in log.stdout + log.stderr
        page = (course / "feedback" / "buggy" / stem / f"{stem}.html").read_text(encoding="utf-8")
        feedback = html.unescape(re.sub(r"<[^>]+>", "", page))             # the text a student reads
        for exercise, mistake in mistakes.items():
            if exercise.split(".")[0] == str(int(stem[:2])):
                message = expected_message(mistake)
                assert message in feedback, (
                    f"buggy's feedback for {stem} does not show the check's message for Exercise {exercise}: {message!r}")
    nbgrader("export", cwd=course, env=env)
    with open(course / "grades.csv", encoding="utf-8") as f:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    for stem in SUBSET:
        auto, total = autograded_points(stem)
        scores = {who: float(rows[(stem, who)]["raw_score"]) for who in ("blank", exchange_student, "buggy")}
        assert scores == {"blank": 0.0, exchange_student: float(auto), "buggy": 0.0}, (stem, scores)
        assert float(rows[(stem, "blank")]["max_score"]) == total
    elapsed = time.perf_counter() - started
    print(f"nbgrader workflow on {SUBSET} for 3 students: {elapsed:.0f} s;",
          ", ".join(f"{name} {seconds:.1f}" for name, seconds in TIMES))


def autograded_points(stem: str) -> tuple[int, int]:
    """(points of the autograded check cells, all points) from the instructor notebook's metadata."""
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    auto = total = 0
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            total += meta.get("points", 0)
            if cell["cell_type"] == "code" and not meta.get("solution"):
                auto += meta.get("points", 0)
    return auto, total


def test_several_students_on_one_account(tmp_path):
    """The guide's route for students sharing one machine account: ``submit --student=<id>`` from each
    student's own folder, then ``collect --CollectApp.check_owner=False``: one submission per student.
    carol's solution cells return junk and rebind the visible checks: the hidden tests still give 0."""
    require_module("nbgrader", "the nbgrader workflow test needs nbgrader (the `teacher` extra)")
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, PATH=path, MPLBACKEND="Agg")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    nbgrader("quickstart", COURSE_ID, cwd=tmp_path, env=env)
    course = tmp_path / COURSE_ID
    shutil.rmtree(course / "source" / "ps1")
    (course / "source" / "header.ipynb").unlink(missing_ok=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(exchange=str(exchange)), encoding="utf-8")
    stem = SUBSET[0]
    (course / "source" / stem).mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", course / "source" / stem)
    students = ("alice", "bob", "carol")
    (course / "students.csv").write_text("id,first_name,last_name,email\n" + "".join(
        f"{s},{s.title()},Student,{s}@example.org\n" for s in students), encoding="utf-8")
    nbgrader("db", "student", "import", "students.csv", cwd=course, env=env)
    nbgrader("db", "assignment", "add", stem, "--duedate=2026-03-02 09:00:00 UTC", cwd=course, env=env)
    nbgrader("generate_assignment", stem, cwd=course, env=env)
    nbgrader("release_assignment", stem, cwd=course, env=env)
    instructor = solutions(stem)
    mistakes = first_mistakes()
    exercises = {gid: f"{int(m[1])}.{m[2]}" for gid in instructor if (m := GRADE_ID.match(gid))}
    sources = {
        "alice": instructor,
        "bob": {gid: buggy_source(src, mistakes[exercises[gid]]) for gid, src in instructor.items()
                if gid in exercises},
        "carol": {gid: disabling_source(src, exercises[gid]) for gid, src in instructor.items() if gid in exercises},
    }
    for student in students:
        home = tmp_path / student                     # each student's own folder on the shared account
        home.mkdir()
        exchange_args = ["--course", COURSE_ID, f"--Exchange.root={exchange}", f"--Exchange.cache={tmp_path / 'cache'}"]
        nbgrader("fetch_assignment", stem, *exchange_args, cwd=home, env=env)
        fill(home / stem / f"{stem}.ipynb", sources[student])
        nbgrader("submit", stem, *exchange_args, f"--student={student}", cwd=home, env=env)
    nbgrader("collect", stem, "--CollectApp.check_owner=False", cwd=course, env=env)
    for student in students:
        assert (course / "submitted" / student / stem / f"{stem}.ipynb").exists(), f"collect missed {student}"
    nbgrader("autograde", stem, cwd=course, env=env)
    nbgrader("export", cwd=course, env=env)
    with open(course / "grades.csv", encoding="utf-8") as f:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    auto, _ = autograded_points(stem)
    scores = {s: float(rows[(stem, s)]["raw_score"]) for s in students}
    assert scores == {"alice": float(auto), "bob": 0.0, "carol": 0.0}, scores
