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

# The demo succeeds when nandoctor ran (exit 0 or 1, whatever it diagnosed); a crash (exit 2) fails it.
demo: $(STAMP)
	@echo "== nandoctor analyze sample_logs: healthy and broken runs in every format =="
	@$(BIN)/nandoctor analyze sample_logs || [ $$? -eq 1 ]
	@echo
	@echo "== the same as JSON for tools: the summary and the first run's diagnosis =="
	@$(BIN)/nandoctor analyze sample_logs --format json | $(BIN)/python -c "import json, sys; report = json.load(sys.stdin); print(json.dumps({'summary': report['summary'], 'first_run': {key: report['runs'][0][key] for key in ('id', 'status', 'causes')}}, indent=2))"

test: $(STAMP)
	$(BIN)/python -m pytest -q

eval: $(STAMP)
	$(BIN)/python scripts/evaluate.py

# The one benchmark: nandoctor end to end beside tbparse, EventAccumulator, pandas, cat and a framing
# scan (and Caffe's parse_log.py with PARSE_LOG=path) on generated runs; 25-35 minutes on 2 cores.
# `make bench BENCH_ARGS=--quick` takes about 3 minutes.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

# Regenerate sample_logs/ with the real writers (tensorboard, csv as Lightning/Keras write it).
samples: $(STAMP)
	$(BIN)/python scripts/make_sample_logs.py --out sample_logs

# Regenerate corpus/ by real training (torch, lightning, keras) in a venv of its own: they are large
# and nandoctor itself never needs them.
CORPUS_VENV := .corpus-venv
corpus:
	test -x $(CORPUS_VENV)/bin/python || $(PYTHON) -m venv $(CORPUS_VENV)
	$(CORPUS_VENV)/bin/python -m pip install --quiet -e '.[corpus]'
	$(CORPUS_VENV)/bin/python scripts/make_corpus.py --out corpus

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
