"""The web book: every numbered notebook as one page, rendered from its stored outputs (never executed).

Build with `make site` (into _build/site), serve with `make site-serve`, test with `make test-site`.
`make site` runs Sphinx on a staging copy, _build/site-src: this folder, README.md (the landing page
takes its series table) and the notebooks, at the same paths as in the repository, so that page
notebooks/NN_name.html comes from notebooks/NN_name.ipynb and the launch links point at real files.
(A symlink would do instead of the copy, but Sphinx resolves it and then finds no documents.)
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

# The one place that names the repository: the Binder and Colab launch links and the repository
# button are built from it. The series has no public home yet, so by default there is none and the
# pages carry no repository or launch buttons (a dead link is worse than none). Set
# SITE_REPOSITORY_URL (a https://github.com/OWNER/NAME address) to build them for a published copy.
REPOSITORY_URL = os.environ.get("SITE_REPOSITORY_URL", "").strip().rstrip("/")
REPOSITORY_BRANCH = os.environ.get("SITE_REPOSITORY_BRANCH", "main")
if REPOSITORY_URL and ("OWNER" in REPOSITORY_URL or not REPOSITORY_URL.startswith("https://")):
    raise ValueError(f"SITE_REPOSITORY_URL must be a real https:// repository address, got {REPOSITORY_URL!r}")

project = "Encoder block internals"
author = "the encoder-block-internals authors"
copyright = "MIT licence"

extensions = [
    "myst_nb",
    "sphinx-mathjax-offline",  # MathJax 3.2.2 copied into _static/mathjax: no CDN, works offline
    "book",  # _ext/book.py: landing page from the README, alt text from the outputs' metadata
]

root_doc = "index"
# Only the instructor notebooks become pages; notebooks/student/ is linked for download instead.
include_patterns = ["index.md", "notebooks/[0-9]*.ipynb"]
exclude_patterns = ["**/.ipynb_checkpoints"]

# Pages show the outputs stored in the notebooks: the build never starts a kernel.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# Served from the site itself (sphinx-mathjax-offline sets the same path); myst-nb adds its
# processHtmlClass option to this dict.
mathjax_path = "mathjax/tex-chtml.js"
mathjax3_config = {"tex": {"tags": "none"}}

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_last_updated_fmt = None
# The download button then serves _sources/notebooks/NN_name.ipynb, not NN_name.ipynb.txt.
html_sourcelink_suffix = ""
# The plots are drawn on white: start in light mode (an unset mode is also a console error).
html_context = {"default_mode": "light"}
html_css_files = ["book.css"]
html_js_files = ["book.js"]
html_theme_options = {
    "use_download_button": True,
    "use_fullscreen_button": False,
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "announcement": (
        "These pages show the instructor versions, with worked solutions. "
        "Students: download the exercise versions from the start page."
    ),
}
if REPOSITORY_URL:
    html_theme_options |= {
        "repository_url": REPOSITORY_URL,
        "repository_branch": REPOSITORY_BRANCH,
        "path_to_docs": "",  # page notebooks/NN_name is the repository's notebooks/NN_name.ipynb
        "use_repository_button": True,
        "launch_buttons": {
            "binderhub_url": "https://mybinder.org",
            "colab_url": "https://colab.research.google.com",
            "notebook_interface": "jupyterlab",
        },
    }

# The in-browser version (`make lite`, JupyterLite + Pyodide) is copied into the site as lite/; every
# notebook page links to its student version there ("Run in the browser").
lite_dir = "lite"
