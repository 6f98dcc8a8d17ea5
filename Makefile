# The two commands a new user needs: `make demo` and `make test`. Both build .venv/ first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test eval bench samples corpus clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "== a folder of sample runs, healthy and broken, every format =="
	-$(BIN)/nandoctor analyze sample_logs
	@echo "== the same, as JSON for tools (first lines) =="
	-$(BIN)/nandoctor analyze sample_logs --format json | head -n 20

test: $(STAMP)
	$(BIN)/python -m pytest -q

eval: $(STAMP)
	$(BIN)/python scripts/evaluate.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python scripts/bench.py

# Regenerate sample_logs/ with the real writers (tensorboard, csv as Lightning/Keras write it).
samples: $(STAMP)
	$(BIN)/python scripts/make_sample_logs.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
