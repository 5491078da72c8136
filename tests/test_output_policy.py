"""The output policy of docs/notebook-conventions.md ("Portable outputs"), checked on the stored
outputs of every instructor notebook: what nbval compares must read the same on every machine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# -0, -0., -0.00, -0.0e+00 as a whole number (not -0.5, not 1e-05): its sign is round-off.
NEGATIVE_ZERO = re.compile(r"(?<![\w.])-0(?:\.0*)?(?:e[+-]?\d+)?(?![\w.])")
ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
TIMING = re.compile(r"\btime\.(?:perf_counter|time|monotonic|process_time)\b|\btimeit\b")
MARKER = re.compile(r"NBVAL_[A-Z_]+")
# A measured duration or speed-up in printed text: "1.3 s", "12 ms", "15x faster", "0.4 seconds".
PRINTED_TIMING = re.compile(r"\d\s*(?:s|ms|µs|us|seconds?)\b|\d\s*[x×]\s*(?:faster|slower)")


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def text_outputs(cell):
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            yield "".join(output["text"])
        for mime in ("text/plain", "text/html"):
            if mime in output.get("data", {}):
                yield "".join(output["data"][mime])


def ignores_output(cell):
    lines = [line.strip() for line in "".join(cell["source"]).splitlines()]
    return "# NBVAL_IGNORE_OUTPUT" in lines or "nbval-ignore-output" in cell["metadata"].get("tags", [])


def test_printed_timing_pattern():
    found = [bool(PRINTED_TIMING.search(t)) for t in
             ["17.5 s for 600 steps", "12 ms per step", "15x faster", "4 runs of 200 steps", "above 2.0 to below 0.2"]]
    assert found == [True, True, True, False, False]


def test_negative_zero_pattern():
    found = NEGATIVE_ZERO.findall("[ 0. -0.] -0.00 -0 -0.0e+00 | -0.5 1e-05 -0.01 x-0 2.-0")
    assert found == ["-0.", "-0.00", "-0", "-0.0e+00"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_signed_zero_or_address_in_compared_output(path):
    for cell in code_cells(path):
        if ignores_output(cell):
            continue
        for text in text_outputs(cell):
            assert not NEGATIVE_ZERO.search(text), (
                f"{path.name}, cell {cell['id']} prints a negative zero (its sign depends on the CPU and BLAS): "
                f"print np.round(a, k) + 0.0 instead\n{text}")
            assert not ADDRESS.search(text), f"{path.name}, cell {cell['id']} prints a memory address:\n{text}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_timing_cells_are_marked_and_say_why(path):
    for cell in code_cells(path):
        source = "".join(cell["source"])
        lines = [line.strip() for line in source.splitlines()]
        for line in lines:
            # nbval only honours a marker alone on its comment line: "# NBVAL_IGNORE_OUTPUT: why" is ignored.
            if MARKER.search(line):
                assert re.fullmatch(r"#\s*NBVAL_[A-Z_]+", line), (
                    f"{path.name}, cell {cell['id']}: nbval does not see the marker in {line!r}; "
                    "put it alone on its line and the reason on the next")
        # A cell may start and stop a clock (around a training run, say) and print only verdicts; the
        # durations themselves go to a marked cell, as the conventions say.
        if TIMING.search(source) and not ignores_output(cell):
            for text in text_outputs(cell):
                assert not PRINTED_TIMING.search(text), (
                    f"{path.name}, cell {cell['id']} prints timings without # NBVAL_IGNORE_OUTPUT:\n{text}")
        if "# NBVAL_IGNORE_OUTPUT" in lines:
            after = lines[lines.index("# NBVAL_IGNORE_OUTPUT") + 1:][:1]
            assert after and after[0].startswith("#"), (
                f"{path.name}, cell {cell['id']}: say on the line after # NBVAL_IGNORE_OUTPUT why its output is not compared")
