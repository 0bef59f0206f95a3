# Two commands do everything on a fresh machine:
#   make report   set up (first time), then render report.pdf from results/
#   make test     set up (first time), then lint and run the test suite
# The environment is a virtualenv in .venv made with pip. Inside an activated
# conda environment (environment.yml), use `make test PYTHON=python VENV=`.

VENV ?= .venv
PYTHON ?= $(if $(VENV),$(VENV)/bin/python,python)
STAMP := $(if $(VENV),$(VENV)/.installed,.installed-conda)

.PHONY: setup setup-gpu test report grid quick-grid evidence campaign gpu-study summary clean

setup: $(STAMP)

# The pip route installs JAX for the CPU; on an NVIDIA GPU host add its CUDA build
# (JAX_CUDA=cuda12 for a driver too old for CUDA 13). PyPI's Linux torch wheels carry CUDA.
JAX_CUDA ?= cuda13
setup-gpu: $(STAMP)
	$(PYTHON) -m pip install --quiet --upgrade "jax[$(JAX_CUDA)]"

$(STAMP): pyproject.toml
	@if [ -n "$(VENV)" ] && [ ! -x "$(VENV)/bin/python" ]; then python3 -m venv $(VENV); fi
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	@touch $@

test: $(STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest -q

report: $(STAMP)
	@PYTHON=$(PYTHON) bash scripts/render.sh report.qmd supplement.qmd

grid: $(STAMP)
	$(PYTHON) -m mnistbench grid

quick-grid: $(STAMP)
	$(PYTHON) -m mnistbench grid --quick --results-dir results/cpu-quick

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
