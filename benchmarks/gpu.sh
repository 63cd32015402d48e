#!/usr/bin/env bash
# One command, at most 8 minutes: the faithful setting on CUDA, side by side: baseline, eager,
# the whole step in a CUDA graph for K = 1, 2, 6, 10 models at once, and the training part of the
# faithful report (5 seeds per model, batched) end to end, projected to 30 epochs.
# Without a GPU it runs a tiny CPU fallback (and says so). Needs torch, pandas, numpy, tqdm only.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
if [ -f data/tinyshakespeare.txt ] || [ -n "${CHARLM_DATA:-}" ]; then :; else "$PY" -m charlm data; fi
PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} timeout 470 "$PY" benchmarks/gpu.py --epochs "${EPOCHS:-0.5}" \
  --e2e-epochs "${E2E_EPOCHS:-2}"
