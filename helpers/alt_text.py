"""Alt text for every plot a notebook shows, taken from the figure's own titles.

When IPython displays a matplotlib Figure as PNG, the output's metadata gains
``{"image/png": {"alt": "<suptitle>. <axes titles> ..."}}``. The notebooks store it with their
outputs (``make notebooks``), the web book (``site/``) turns it into the ``<img alt>`` attribute, and
``tests/test_site_alt_text.py`` fails for a stored plot without one. A figure with no title gets no
alt text: give it a title that says what to notice (the notebook conventions ask for one anyway), or
set the text yourself with :func:`set_alt_text`.

Nothing here imports IPython: :func:`install_display_hook` does something only inside a running
IPython (a notebook kernel); ``helpers.plotting`` calls it on import.
"""

from __future__ import annotations

import sys

__all__ = ["figure_alt_text", "set_alt_text", "install_display_hook"]

_ALT_ATTRIBUTE = "_helpers_alt_text"
_MAX_LISTED_PANELS = 4


def set_alt_text(fig, text: str):
    """Use ``text`` as the alt text of ``fig`` (a matplotlib Figure) instead of its titles. Returns fig."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"alt text must be a non-empty str, got {text!r}")
    setattr(fig, _ALT_ATTRIBUTE, text.strip())
    return fig


def _axes_titles(ax) -> list[str]:
    return [t for loc in ("left", "center", "right") if (t := ax.get_title(loc=loc).strip())]


def figure_alt_text(fig) -> str:
    """The alt text of a Figure: set_alt_text's text, else its suptitle and axes titles ('' if none).

    One titled axes also names its axis labels, so a reader knows what is plotted against what.
    A grid of more than four titled panels names the first four and counts the rest.
    """
    explicit = getattr(fig, _ALT_ATTRIBUTE, None)
    if explicit:
        return explicit
    parts = []
    suptitle = fig.get_suptitle().strip()
    if suptitle:
        parts.append(suptitle)
    titles = list(dict.fromkeys(t for ax in fig.axes for t in _axes_titles(ax)))
    if len(titles) > _MAX_LISTED_PANELS:
        more = len(titles) - _MAX_LISTED_PANELS
        parts.append(f"{len(titles)} panels: " + ", ".join(titles[:_MAX_LISTED_PANELS]) + f" and {more} more")
    else:
        parts.extend(titles)
    titled_axes = [ax for ax in fig.axes if _axes_titles(ax)]
    if not parts:
        return ""
    if len(titled_axes) == 1:
        ax = titled_axes[0]
        labels = [f"{name} axis: {label}" for name, label in
                  (("x", ax.get_xlabel().strip()), ("y", ax.get_ylabel().strip())) if label]
        if labels:
            parts.append(", ".join(labels))
    # Titles break lines with "\n" to fit the figure; alt text is one line.
    return " ".join(" ".join(p.split()) + ("" if p[-1] in ".?!" else ".") for p in parts)


def install_display_hook() -> bool:
    """Inside IPython, make every displayed Figure's PNG carry alt text. Returns whether it did."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    formatter = shell.display_formatter
    if getattr(formatter.format, "_adds_alt_text", False):
        return True
    from matplotlib.figure import Figure

    # Wrap the whole DisplayFormatter.format, not the inline backend's Figure printer: the backend
    # registers its printer lazily (at the first figure) and again on every `%config InlineBackend...`,
    # and would replace a wrapped printer; every display(fig), plt.show() included, goes through here.
    format_without_alt = formatter.format

    def format_with_alt_text(obj, include=None, exclude=None):
        data, metadata = format_without_alt(obj, include=include, exclude=exclude)
        alt = figure_alt_text(obj) if isinstance(obj, Figure) and "image/png" in data else ""
        if alt:
            metadata = {**metadata, "image/png": {**metadata.get("image/png", {}), "alt": alt}}
        return data, metadata

    format_with_alt_text._adds_alt_text = True
    formatter.format = format_with_alt_text
    return True
