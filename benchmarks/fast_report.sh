#!/usr/bin/env bash
# Goal 3 of issue 4: the whole `fast` report (all notebooks, both models, the export) timed,
# with the peak memory of the largest process (GNU time's "Maximum resident set size").
#   bash benchmarks/fast_report.sh      -> benchmarks/results/fast_report.md
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
log=$(mktemp)
/usr/bin/time -v "$PY" -m charlm report --profile fast --name bench-fast --fresh 2>&1 | tee "$log"
wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
{
  echo "# The whole fast report on this machine"
  echo
  echo "$("$PY" -c 'from charlm.experiment.environment import describe_environment as d; from charlm.report.tables import hardware_line as h; print(h(d()))'), $(date +%F)"
  echo
  echo "| wall clock (h:mm:ss) | peak memory of the largest process |"
  echo "|---|---|"
  echo "| $wall | $((rss / 1024)) MB |"
  echo
  echo "Per notebook:"
  echo
  grep "done in" "$log" | sed 's/^charlm: /- /'
} > benchmarks/results/fast_report.md
cat benchmarks/results/fast_report.md
