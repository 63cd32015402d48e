#!/usr/bin/env bash
# One unattended command, at most 8 minutes: the faithful setting on CUDA (FP32), side by side:
# the baseline; one model eager and captured; K = 1, 5, 10 models as one stacked step, eager,
# captured, compiled and compiled + captured, with the kernels each step launches; the captured
# step against the eager one; and the training part of the faithful report (5 seeds per model,
# batched) end to end, projected to 30 epochs. Every row says whether a CUDA graph was used.
# The tables (gpu.md, gpu.csv) go to $OUT where it is set (what a lent GPU machine sends back),
# else benchmarks/results/, rewritten after every row, so a run cut off by its time limit keeps
# what it measured. Without a GPU it runs a short CPU version (said in the title) and exits 0;
# without $OUT its tables then go to benchmarks/results/gpu_cpu_fallback/.
# Needs torch, pandas, numpy, tqdm only. The corpus: data/tinyshakespeare.txt (carried, or
# copied from ../shared/data as .ci/run does), $CHARLM_DATA, or a download.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
if [ -z "${CHARLM_DATA:-}" ] && [ ! -f data/tinyshakespeare.txt ]; then
  if [ -f ../shared/data/tinyshakespeare.txt ]; then
    mkdir -p data && cp ../shared/data/tinyshakespeare.txt data/
  elif ! PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} "$PY" -m charlm data; then
    echo "gpu.sh: no corpus: put Tiny Shakespeare at data/tinyshakespeare.txt (carry it to a" \
         "machine without internet), or set CHARLM_DATA to its path." >&2
    exit 2
  fi
fi
OUT_DIR=${OUT:-}
# the time limit leaves the tables written so far; what it cut off is said, not hidden
status=0
PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} timeout 470 "$PY" benchmarks/gpu.py \
  --steps "${STEPS:-300}" --e2e-epochs "${E2E_EPOCHS:-2}" ${OUT_DIR:+--out "$OUT_DIR"} \
  || status=$?
if [ "$status" = 124 ]; then
  echo "gpu.sh: stopped at its 470 s limit; the rows measured so far are in ${OUT_DIR:-benchmarks/results}." >&2
  exit 0
fi
exit "$status"
