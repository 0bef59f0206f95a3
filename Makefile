# Two commands do everything on a fresh machine:
#   make report   set up (first time), then render report.pdf from results/
#   make test     set up (first time), then lint and run the test suite
# The environment is a virtualenv in .venv made with pip. Inside an activated
# conda environment (environment.yml), use `make test PYTHON=python VENV=`.

VENV ?= .venv
PYTHON ?= $(if $(VENV),$(VENV)/bin/python,python)
STAMP := $(if $(VENV),$(VENV)/.installed,.installed-conda)

.PHONY: setup setup-gpu lock test report grid quick-grid evidence campaign gpu-study summary clean

setup: $(STAMP)

# The pip route installs the exact versions of requirements/cpu.txt (made by pip-compile from
# pyproject.toml and requirements/pins.in); on an NVIDIA GPU host add JAX's CUDA build from
# requirements/cuda.txt (JAX_CUDA=cuda12 for a driver too old for CUDA 13: the same JAX with its
# CUDA 12 plugin, not locked). PyPI's Linux torch wheels carry CUDA.
JAX_CUDA ?= cuda13
LOCKED_JAX = $(shell sed -n 's/^jax==//p' requirements/cpu.txt)
setup-gpu: $(STAMP)
	$(if $(filter cuda13,$(JAX_CUDA)),$(PYTHON) -m pip install --quiet -r requirements/cuda.txt,\
	  $(PYTHON) -m pip install --quiet "jax[$(JAX_CUDA)]==$(LOCKED_JAX)")

$(STAMP): pyproject.toml requirements/cpu.txt
	@if [ -n "$(VENV)" ] && [ ! -x "$(VENV)/bin/python" ]; then python3 -m venv $(VENV); fi
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements/cpu.txt
	$(PYTHON) -m pip install --quiet --no-deps -e .
	@touch $@

# Make the lock files again after a change to the dependencies in pyproject.toml or requirements/*.in.
lock:
	$(PYTHON) -m pip install --quiet pip-tools
	rm -f requirements/cpu.txt requirements/cuda.txt
	$(PYTHON) -m piptools compile -q --max-rounds 60 --strip-extras --extra test --no-emit-index-url \
	  --no-emit-find-links -o requirements/cpu.txt pyproject.toml requirements/pins.in
	$(PYTHON) -m piptools compile -q --max-rounds 60 --strip-extras --extra test --no-emit-index-url \
	  --no-emit-find-links -o requirements/cuda.txt pyproject.toml requirements/pins.in requirements/cuda.in

test: $(STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest -q

report: $(STAMP)
	@PYTHON=$(PYTHON) bash scripts/render.sh report.qmd supplement.qmd

grid: $(STAMP)
	$(PYTHON) -m mnistbench grid

quick-grid: $(STAMP)
	$(PYTHON) -m mnistbench grid --quick --results-dir adhoc-results/cpu-quick

evidence: $(STAMP)
	$(PYTHON) -m mnistbench evidence all

# The whole study on this machine's GPU, resumable: DEVICE=cpu for the CPU, MAX_SECONDS to budget it.
DEVICE ?= gpu
campaign: $(STAMP)
	$(PYTHON) -m mnistbench campaign --device $(DEVICE) --results-dir results/mine-$(DEVICE) $(if $(MAX_SECONDS),--max-seconds $(MAX_SECONDS))

# The study on a short GPU loan, resumable: MAX_SECONDS for this call, RESULTS for the study's folder,
# DATA for MNIST's folder (no network needed); DEVICE=cpu QUICK=1 tries the path without a GPU.
gpu-study: $(STAMP)
	@PYTHON=$(PYTHON) MAX_SECONDS=$(MAX_SECONDS) RESULTS=$(RESULTS) DEVICE=$(DEVICE) QUICK=$(QUICK) DATA=$(DATA) \
		bash scripts/gpu-study.sh

summary: $(STAMP)
	$(PYTHON) -m mnistbench summary

clean:
	rm -rf .quarto _freeze report_files supplement_files report.pdf supplement.pdf
