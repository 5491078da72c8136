"""The web book's own Sphinx extension.

`make site` builds from a staging copy (_build/site-src): this folder's files, README.md and the
notebooks (numbered ones in notebooks/, student versions in notebooks/student/), so paths here are
relative to the Sphinx source folder.

* Alt text: every plot's PNG output carries ``{"alt": ...}`` in its metadata (written by
  ``helpers.alt_text`` when the notebook runs). myst-nb 1.4 reads only width and height from output
  metadata, so this passes ``alt`` on to the ``<img>`` too, and warns (an error under ``-W``, as
  ``make site`` builds) for a notebook image that has none.
* "Run in the browser": every notebook page links, under its title, to the same notebook's student
  version in the in-browser (JupyterLite) copy of the series that `make site` puts in ``lite/``.
* The landing page: ``{{ series_table }}`` in index.md becomes the README's table of the series with
  each notebook linked to its page (a numbered notebook missing from the README's table gets a row
  from its heading), and ``{{ student_downloads }}`` a download link per student notebook.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from docutils import nodes
from myst_nb.core.render import NbElementRenderer
from sphinx.util import logging

logger = logging.getLogger(__name__)

TABLE_HEADING = "## The series"
_NOTEBOOK_CELL = re.compile(r"^\|\s*`(\d\d_\w+)`\s*\|")

_render_image_without_alt = NbElementRenderer.render_image


def _render_image_with_alt(self, data):
    image_nodes = _render_image_without_alt(self, data)
    alt = data.output_metadata.get(data.mime_type, {}).get("alt")
    if alt:
        for node in image_nodes:
            node["alt"] = str(alt)
    return image_nodes


def series_table(readme: str, notebooks: Path) -> str:
    """The README's series table (markdown), each `NN_name` cell turned into a link to its page."""
    lines = readme.splitlines()
    try:
        start = lines.index(TABLE_HEADING) + 1
    except ValueError:
        raise ValueError(f"README.md has no {TABLE_HEADING!r} heading to take the series table from")
    while start < len(lines) and not lines[start].startswith("|"):
        start += 1
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        match = _NOTEBOOK_CELL.match(line)
        if match and (notebooks / f"{match[1]}.ipynb").exists():
            name = match[1]
            line = line.replace(f"`{name}`", f"[{name}](notebooks/{name}.ipynb)", 1)
        table.append(line)
    if not table:
        raise ValueError(f"README.md's {TABLE_HEADING!r} section has no table")
    return "\n".join(table)


def student_downloads(notebooks: Path) -> str:
    """A markdown list: one download link per generated student notebook."""
    return "\n".join(f"- {{download}}`{path.name} <notebooks/student/{path.name}>`"
                     for path in sorted((notebooks / "student").glob("[0-9]*.ipynb")))


def _notebook_title(path: Path) -> str:
    """The text of a notebook's '# NN · Title' heading, without 'NN · '."""
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if cell["cell_type"] == "markdown" and line.startswith("# "):
                return line[2:].split("·", 1)[-1].strip()
    return path.stem


def _fill_landing_page(app, docname, source):
    if docname != app.config.root_doc:
        return
    srcdir = Path(app.srcdir)
    notebooks = srcdir / "notebooks"
    table = series_table((srcdir / "README.md").read_text(encoding="utf-8"), notebooks)
    n_columns = table.splitlines()[0].count("|") - 1
    for path in sorted(notebooks.glob("[0-9]*.ipynb")):
        if f"[{path.stem}](" not in table:
            # A new notebook whose README row is still missing: list it anyway, titled from its heading.
            logger.info(f"{path.name} is not in README.md's series table: added from its heading")
            table += f"\n| [{path.stem}](notebooks/{path.name}) | {_notebook_title(path)} |" + " |" * (n_columns - 2)
    source[0] = (source[0].replace("{{ series_table }}", table)
                 .replace("{{ student_downloads }}", student_downloads(notebooks)))


def _check_alt_text(app, doctree, docname):
    if not docname.startswith("notebooks/"):
        return
    for image in doctree.findall(nodes.image):
        if not image.get("alt", "").strip():
            logger.warning(f"a plot in {docname}.ipynb has no alt text: give its figure a title "
                           "(or helpers.plotting.set_alt_text) and re-execute it with make notebooks",
                           location=image)


def lite_url(docname: str, lite_dir: str = "lite") -> str:
    """The link, relative to page ``notebooks/NN_name``, that opens its student version in JupyterLite."""
    name = docname.rsplit("/", 1)[-1]
    return f"../{lite_dir}/lab/index.html?path={name}.ipynb"  # student versions sit at its top


def _add_run_in_browser(app, doctree, docname):
    if not docname.startswith("notebooks/"):
        return
    title = next(iter(doctree.findall(nodes.title)), None)
    if title is None:
        return
    href = lite_url(docname, app.config.lite_dir)
    html = (f'<p class="run-in-browser-line"><a class="run-in-browser" href="{href}">Run in the browser</a> '
            "(the student version of this notebook; Python runs inside the page: nothing to install)</p>")
    section = title.parent
    section.insert(section.index(title) + 1, nodes.raw("", html, format="html"))


def setup(app):
    app.add_config_value("lite_dir", "lite", "html")
    app.connect("doctree-resolved", _add_run_in_browser)
    NbElementRenderer.render_image = _render_image_with_alt
    app.connect("source-read", _fill_landing_page)
    app.connect("doctree-resolved", _check_alt_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
