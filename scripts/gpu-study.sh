#!/usr/bin/env bash
# The study on a short GPU loan (a hosted notebook, a cluster job, a lent machine), in one command:
#   make gpu-study MAX_SECONDS=540 RESULTS=results/h200
# 1. checks the MNIST files it is given (DATA, default data/; no network needed),
# 2. runs the GPU-only tests (the CUDA-graph variants against PyTorch eager) once per code version,
# 3. runs the campaign with what is left of MAX_SECONDS, most important steps first.
# Everything goes under RESULTS (records, and logs/ with what each call printed). Run the same
# command again, with the same RESULTS, to continue where the last call stopped.
# DEVICE=cpu QUICK=1 tries the whole path on a machine without a GPU (a small CPU plan).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-gpu}"
RESULTS="${RESULTS:?set RESULTS to the folder of this study, e.g. RESULTS=results/h200}"
MAX_SECONDS="${MAX_SECONDS:-540}"
DATA="${DATA:-${MNISTBENCH_DATA:-data}}"
QUICK_FLAG=$([ -n "${QUICK:-}" ] && [ "${QUICK}" != 0 ] && echo "--quick" || true)
say() { echo "gpu-study: $*" >&2; }

case "$MAX_SECONDS" in ''|*[!0-9]*) say "MAX_SECONDS must be a whole number of seconds, got '$MAX_SECONDS'"; exit 2;; esac
mkdir -p "$RESULTS/logs"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
log="$RESULTS/logs/$stamp.log"
if ! git rev-parse HEAD >/dev/null 2>&1 && [ -z "${MNISTBENCH_GIT_COMMIT:-}" ]; then
  say "no git here: set MNISTBENCH_GIT_COMMIT (and MNISTBENCH_GIT_DIRTY=0) so the records name their commit"
fi

# 1. the data, checked by content; nothing is downloaded
"$PY" -m mnistbench fetch-data --check --data-dir "$DATA" >/dev/null

# 2. the GPU-only tests, once per version of the measuring code (their log says which), on a GPU
if [ "$DEVICE" = gpu ] && ! "$PY" -c 'import sys; from mnistbench import devices
sys.exit(devices.resolve("auto", ("jax", "torch")) != "gpu")'
then
  say "DEVICE=gpu, but JAX and PyTorch do not both see a GPU here (DEVICE=cpu QUICK=1 tries the whole path on a CPU)"
  exit 2
fi
version=$("$PY" -c 'from mnistbench.provenance import evidence_code_version as v; print(v())')
passed="$RESULTS/logs/gpu-tests-passed-$version"
if [ "$DEVICE" = gpu ] && [ ! -e "$passed" ]; then
  say "GPU-only tests (CUDA-graph variants against PyTorch eager) ..."
  if ! MNISTBENCH_DATA="$DATA" "$PY" -m pytest -q -p no:cacheprovider tests/bench/test_variants.py -k gpu_variant \
      >"$RESULTS/logs/gpu-tests-$stamp.log" 2>&1; then
    say "the GPU-only tests failed (see $RESULTS/logs/gpu-tests-$stamp.log): nothing was timed"
    exit 1
  fi
  if grep -q " skipped" "$RESULTS/logs/gpu-tests-$stamp.log"; then
    say "the GPU-only tests were skipped (see $RESULTS/logs/gpu-tests-$stamp.log): nothing was timed"; exit 1
  fi
  touch "$passed"
fi

# 3. the campaign, within what is left of the budget
left=$(( MAX_SECONDS - ($(date +%s) - started) ))
if [ "$left" -le 0 ]; then
  say "no time left for the campaign (MAX_SECONDS=$MAX_SECONDS)"; exit 0
fi
say "campaign on $DEVICE with $left s left; log: $log"
set +e
"$PY" -m mnistbench campaign --device "$DEVICE" --results-dir "$RESULTS" --data-dir "$DATA" \
  --max-seconds "$left" $QUICK_FLAG 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 2 ] && { say "stopped: the campaign refused its input (above)"; exit 2; }
say "$(( $(date +%s) - started )) s in all; run the same command again to continue (RESULTS=$RESULTS)"
exit "$status"
