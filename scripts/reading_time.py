"""Estimate how long a learner takes to read each numbered notebook (instructor versions).

    .venv/bin/python scripts/reading_time.py                   # table for notebooks/NN_*.ipynb
    .venv/bin/python scripts/reading_time.py notebooks/04_*.ipynb   # only these
    .venv/bin/python scripts/reading_time.py --budget 45       # exit 1 if one is over 45 minutes

The series aims at "a learner reads any notebook in at most 45 minutes". This is a rough model,
not a measurement; its assumptions are these rates:

- prose: markdown words (whitespace-separated, LaTeX included) at 200 words per minute;
- code: 10 lines per minute, counting non-blank lines that are not comment-only;
- figures: 0.5 minutes per stored figure output (an output holding ``image/png``);
- other outputs: 0.25 minutes per code cell with a non-empty output that is not a figure
  (printed text, an error message, a rich repr).

The whole notebook counts, exercises included: a learner reads them too. The stored outputs are the
ones ``make notebooks`` wrote, so run this on executed notebooks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

WORDS_PER_MINUTE = 200
CODE_LINES_PER_MINUTE = 10
MINUTES_PER_FIGURE = 0.5
MINUTES_PER_TEXT_OUTPUT = 0.25

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _output_has_text(output: dict) -> bool:
    if output.get("output_type") == "stream":
        return bool("".join(output.get("text", "")).strip())
    if output.get("output_type") == "error":
        return True
    data = output.get("data", {})
    return any(
        "".join(value).strip() if isinstance(value, list) else str(value).strip()
        for mime, value in data.items()
        if mime != "image/png"
    )


def estimate(path: Path) -> dict[str, float]:
    """Minutes per part (prose, code, figures, outputs) and their total for one notebook."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    words = code_lines = figures = text_outputs = 0
    for cell in cells:
        text = _source(cell)
        if cell["cell_type"] == "markdown":
            words += len(text.split())
        elif cell["cell_type"] == "code":
            code_lines += sum(
                1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#")
            )
            outputs = cell.get("outputs", [])
            figures += sum(1 for output in outputs if "image/png" in output.get("data", {}))
            text_outputs += any(_output_has_text(output) for output in outputs)
    minutes = {
        "prose": words / WORDS_PER_MINUTE,
        "code": code_lines / CODE_LINES_PER_MINUTE,
        "figures": figures * MINUTES_PER_FIGURE,
        "outputs": text_outputs * MINUTES_PER_TEXT_OUTPUT,
    }
    minutes["total"] = sum(minutes.values())
    minutes.update(words=words, code_lines=code_lines, n_figures=figures, n_text_outputs=text_outputs)
    return minutes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/NN_*.ipynb")
    parser.add_argument("--budget", type=float, help="exit 1 if a notebook's total exceeds this")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

    header = (
        f"{'notebook':<34} {'words':>6} {'code':>5} {'figs':>4} {'outs':>4}"
        f" {'prose':>6} {'code':>6} {'figs':>5} {'outs':>5} {'total':>6}"
    )
    print(header)
    print(f"{'':<34} {'':>6} {'lines':>5} {'':>4} {'':>4} {'min':>6} {'min':>6} {'min':>5} {'min':>5} {'min':>6}")
    over = []
    for path in paths:
        m = estimate(path)
        print(
            f"{path.name:<34} {m['words']:>6} {m['code_lines']:>5} {m['n_figures']:>4}"
            f" {m['n_text_outputs']:>4} {m['prose']:>6.1f} {m['code']:>6.1f} {m['figures']:>5.1f}"
            f" {m['outputs']:>5.1f} {m['total']:>6.1f}"
        )
        if args.budget is not None and m["total"] > args.budget:
            over.append(path.name)
    if over:
        print(f"over the {args.budget:g}-minute budget: {', '.join(over)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
