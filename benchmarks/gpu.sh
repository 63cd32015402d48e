#!/usr/bin/env bash
# One command, a few minutes: the faithful setting on CUDA, baseline vs charlm, side by side,
# projected to 30 epochs. Without a GPU it runs a tiny CPU fallback (and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
if [ -f data/tinyshakespeare.txt ] || [ -n "${CHARLM_DATA:-}" ]; then :; else "$PY" -m charlm data; fi
timeout 480 "$PY" benchmarks/gpu.py --epochs "${EPOCHS:-1}"
# Several seeds on one GPU: one after another, at the same time (jobs), and the batched bound.
if "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  timeout 420 "$PY" benchmarks/seeds.py --out benchmarks/results/gpu_seeds
fi
