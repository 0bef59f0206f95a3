#!/usr/bin/env bash
# Render Quarto documents with the project's Python; find Quarto or say how to get it.
# Usage: scripts/render.sh report.qmd [supplement.qmd ...]   (PYTHON=path/to/python)
set -euo pipefail
PY="${PYTHON:-python3}"
case "$PY" in  # an absolute path: Quarto runs the kernel from elsewhere
  /*) ;;
  */*) PY="$PWD/$PY" ;;
  *) PY="$(command -v "$PY")" ;;
esac
find_quarto() {
  command -v quarto 2>/dev/null && return
  local beside; beside="$(dirname "$PY")/quarto"
  [ -x "$beside" ] && echo "$beside"
  return 0
}
QUARTO="$(find_quarto)"
if [ -z "$QUARTO" ]; then
  # pip's quarto-cli fetches the Quarto binary while installing: works where the internet does.
  echo "render: Quarto not found; trying 'pip install quarto-cli' ..." >&2
  "$PY" -m pip install --quiet "quarto-cli>=1.6" >/dev/null 2>&1 || true
  QUARTO="$(find_quarto)"
fi
if [ -z "$QUARTO" ]; then
  echo "render: Quarto is not installed. Get it from https://quarto.org/docs/get-started/ or use the conda environment (conda env create -f environment.yml), then run 'make report' again." >&2
  exit 1
fi
export QUARTO_PYTHON="${QUARTO_PYTHON:-$PY}"
# Another folder's results draw their figures beside the build, not over the committed ones in figures/
# (build/ is ignored by git and inside the project, where Typst reads files).
if [ -n "${MNISTBENCH_RESULTS:-}" ] && [ -z "${MNISTBENCH_FIGURES:-}" ]; then
  export MNISTBENCH_FIGURES=build/figures
fi
for doc in "${@:-report.qmd}"; do
  "$QUARTO" render "$doc"
done
