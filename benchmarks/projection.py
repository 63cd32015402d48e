"""A finished run's wall time projected to N machines, from its own measured per-run times.

With executor=ray the search's trials all go to the cluster at once, then every model and seed:
each phase takes about ceil(runs / slots) rounds of its longest runs, where slots = machines x
runs per machine (cores / cpus_per_run). A run's time is its training and its evaluations, which
a Ray task does on its machine. What does not spread (starting the notebooks, the n-gram model,
the report) is what the run measured outside those runs. Writes results/projection.{csv,md}.

    python benchmarks/projection.py reports/tune --machines 1 2 4 8 16 --per-machine 1
"""

from __future__ import annotations

import argparse
import math

import pandas as pd
from common import write

from charlm.experiment import jobs
from charlm.experiment.run import Run


def _seconds(histories: pd.DataFrame) -> pd.Series:
    """Each run's measured time: its training and its evaluations, every epoch."""
    keys = [k for k in ("model", "setting", "seed") if k in histories]
    return histories.groupby(keys)[["train_seconds", "eval_seconds"]].sum().sum(axis=1)


def phase_seconds(times: pd.Series, slots: int) -> float:
    """Runs of these lengths on `slots` slots, the longest first (a greedy packing)."""
    ends = [0.0] * slots
    for t in sorted(times, reverse=True):
        ends[ends.index(min(ends))] += t
    return max(ends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--machines", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--per-machine", type=int, default=1,
                        help="runs at once per machine (cores / cpus_per_run)")
    args = parser.parse_args()
    run, spec = Run(args.run_dir), Run(args.run_dir).read_spec()
    steps = run.read_steps()
    trials = (_seconds(jobs.trial_histories(run, spec)) if spec.search.tune_space
              else pd.Series(dtype=float))
    runs = _seconds(run.read_histories())
    trained = trials.sum() + runs.sum()
    rest = sum(s["seconds"] for s in steps.values()) - trained
    rows = []
    for n in args.machines:
        slots = n * args.per_machine
        search = phase_seconds(trials, slots) if len(trials) else 0.0
        train = phase_seconds(runs, slots)
        rows.append({"machines": n, "runs_at_once": slots, "search_min": search / 60,
                     "training_min": train / 60, "rest_min": rest / 60,
                     "total_min": (search + train + rest) / 60,
                     "rounds": math.ceil(len(trials) / slots) + math.ceil(len(runs) / slots)})
    write("projection", pd.DataFrame(rows),
          f"{run.root.name}: {len(trials)} trials ({trials.mean() / 60:.1f} min each on "
          f"average) and {len(runs)} runs ({runs.mean() / 60:.1f} min), projected to N machines "
          f"from the times this run measured ({rest / 60:.1f} min of the run did not train)")


if __name__ == "__main__":
    main()
