#!/usr/bin/env bash
# One command, at most 8 minutes: the faithful setting on CUDA, side by side: baseline, eager,
# the whole step in a CUDA graph for K = 1, 2, 6, 10 models at once, and the training part of the
# faithful report (5 seeds per model, batched) end to end, projected to 30 epochs. Every row says
# whether a CUDA graph was used. The tables go to $OUT where it is set (what a lent GPU machine
# sends back), else benchmarks/results/, rewritten after every row, so a run cut off by its time
# limit keeps what it measured. Without a GPU it runs a tiny CPU fallback (and says so).
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
OUT_DIR=${OUT:-benchmarks/results}
mkdir -p "$OUT_DIR"
PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} timeout 470 "$PY" benchmarks/gpu.py --epochs "${EPOCHS:-0.5}" \
  --e2e-epochs "${E2E_EPOCHS:-2}" --out "$OUT_DIR"
