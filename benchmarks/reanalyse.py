"""Verdicts of a stored run under charlm's current rules (the primary endpoint, its families).

For runs with several seeds per model the comparisons need only the runs table (paired t over
seeds), so a study run with older code can be read again without retraining, from its run folder
(or a copy of its runs table, as benchmarks/results/study/ keeps):

    python benchmarks/reanalyse.py benchmarks/results/study --profile study

Writes verdicts.md and verdicts.csv into that folder (or into --out) and prints them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import write

from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.report.tables import comparison_table, differences_table, md_table
from charlm.stats.verdicts import comparisons


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("folder", type=Path, help="a run folder (its runs table is read)")
    ap.add_argument("--profile", default="study", help="the profile whose pairs are compared")
    ap.add_argument("--out", type=Path, default=None, help="folder for the result")
    args = ap.parse_args(argv)
    runs = Run(args.folder).read_runs()
    if runs.groupby("model").seed.nunique().min() < 2:
        raise SystemExit("reanalyse needs several seeds per model (one seed needs the per-window "
                         "test results of the run folder: run notebook 03 instead)")
    pairs = resolve(args.profile).comparisons()
    c = comparisons(runs, pairs, per_window={})
    out = args.out or args.folder
    write("verdicts", differences_table(c), f"Verdicts of {args.folder} (profile {args.profile})"
          " under the current rules: the primary endpoint alone, Holm within each family", out)
    with open(out / "verdicts.md", "a") as f:
        f.write("\n## The main pair\n\n" + md_table(comparison_table(runs, c)) + "\n")


if __name__ == "__main__":
    main()
