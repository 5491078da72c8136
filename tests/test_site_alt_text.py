"""Every plot has alt text: from its figure's titles (helpers.alt_text), stored with the notebook's outputs.

The web book (site/) turns the stored ``{"image/png": {"alt": ...}}`` output metadata into ``<img alt>``.
A plot without it fails here: give the figure a title (or ``plotting.set_alt_text``) and re-execute
the notebook with ``make notebooks NB=...``.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from helpers import plotting
from helpers.alt_text import figure_alt_text, install_display_hook, set_alt_text

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_stored_plot_has_alt_text(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    missing = []
    plots = 0
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                plots += 1
                alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
                if not alt.strip():
                    missing.append(f"cell {index} ({cell.get('id')})")
    assert not missing, (f"{path.name}: plots without alt text in {missing}: give each figure a title "
                         f"and run `make notebooks NB={path.relative_to(ROOT)}`")
    if path.stem != "00_roadmap":
        assert plots > 0, f"{path.name} stores no plot at all"


def test_alt_text_is_the_titles_with_axis_labels_for_one_axes():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("Scores shrink\nwhen scaled")
    ax.set_xlabel("d_k")
    ax.set_ylabel("variance")
    assert figure_alt_text(fig) == "Scores shrink when scaled. x axis: d_k, y axis: variance."
    plt.close(fig)


def test_alt_text_of_a_grid_starts_with_the_suptitle_and_counts_panels():
    fig, axes = plt.subplots(1, 6, figsize=(6, 1))
    for head, ax in enumerate(axes):
        ax.set_title(f"head {head}")
    fig.suptitle("Every head of layer 0")
    assert figure_alt_text(fig) == ("Every head of layer 0. 6 panels: head 0, head 1, head 2, head 3 "
                                    "and 2 more.")
    plt.close(fig)


def test_a_figure_without_titles_has_no_alt_text_unless_set():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1])
    ax.set_xlabel("x")
    assert figure_alt_text(fig) == ""
    set_alt_text(fig, "  A rising line.  ")
    assert figure_alt_text(fig) == "A rising line."
    with pytest.raises(ValueError, match="non-empty str"):
        set_alt_text(fig, " ")
    plt.close(fig)


def test_plotting_helpers_give_alt_text_from_their_title():
    ax = plotting.draw_encoder_block(highlight="attention", title="X enters self-attention.")
    assert figure_alt_text(ax.figure) == "X enters self-attention."
    plt.close(ax.figure)


def test_display_hook_adds_alt_to_the_png_output_metadata():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    assert install_display_hook() is False, "outside IPython the hook must do nothing"
    shell = InteractiveShell.instance()
    try:
        # What the inline backend does in a kernel, retina included (its printer returns metadata too).
        select_figure_formats(shell, {"retina"})
        assert install_display_hook() is True
        assert install_display_hook() is True  # idempotent: wraps once
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.set_title("A title")
        data, metadata = shell.display_formatter.format(fig)
        assert "image/png" in data
        assert metadata["image/png"]["alt"] == "A title."
        assert {"width", "height"} <= set(metadata["image/png"]), "retina's own metadata is kept"
        # A later `%config InlineBackend.figure_formats` replaces the printer; alt text stays.
        select_figure_formats(shell, {"png"})
        assert shell.display_formatter.format(fig)[1]["image/png"] == {"alt": "A title."}
        untitled, _ = plt.subplots(figsize=(2, 2))
        assert "image/png" not in shell.display_formatter.format(untitled)[1]
        plt.close("all")
    finally:
        InteractiveShell.clear_instance()
