# Two commands for a new user: `make demo` (set up, then generate -> fine-tune -> evaluate -> report)
# and `make test` (set up, then lint and run the test suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
OUT ?= out
ROWS ?= 3040
export WANDB_MODE ?= offline

TF4 := .venv-tf4

.PHONY: setup browser tf4 demo test lint format bench clean

setup: $(VENV)/.installed ## create .venv with torch (CPU build first) and the project

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned to the CPU build available here, so nothing pulls a multi-GB CUDA build
	$(PY) -m pip install -q "torch==2.13.0" || $(PY) -m pip install -q "torch>=2.4,<3"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

browser: ## headless Chromium for the report test (Debian package; needs root)
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "note: install Debian's chromium package to run the browser test"; fi; \
	fi

tf4: $(TF4)/.installed ## transformers 4.44 (no torch) in .venv-tf4: the test that loads exports with it

$(TF4)/.installed:
	python3 -m venv $(TF4)
	$(TF4)/bin/pip install -q "transformers==4.44.2"
	touch $@

demo: setup ## the main job on the embedded default: generate, fine-tune the tiny model, evaluate, report
	$(BIN)/datagen synth --rows $(ROWS) --out "$(OUT)/data" --seed 0 --overwrite
	$(BIN)/finetune --data "$(OUT)/data" --out "$(OUT)/run" --overwrite
	$(BIN)/evaluate --model "$(OUT)/run" --data "$(OUT)/data" --report "$(OUT)/eval/report.html" --overwrite
	@echo "report: $(OUT)/eval/report.html"

test: setup browser tf4 lint ## lint, then the whole test suite
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(PY) -m benchmarks.synth_speed

clean:
	rm -rf "$(OUT)"
