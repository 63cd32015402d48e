"""Several seeds for less than several runs? Three ways, side by side in one run.

- sequential: the K seeds one after another, each with all the CPU threads (jobs=1);
- concurrent: the K seeds at the same time, each in its own process with an equal share of the
  threads (jobs=K, what charlm's `jobs` parameter does);
- batched (bound): one run at K times the batch. Training K models as one batched computation
  (the K recurrent products as one `baddbmm`, Adam on stacked parameters) does the same
  arithmetic as one model at K times the batch, in the same number of steps and launches,
  so its time can be no better than this arm's: it bounds what stacking the seeds could gain.
  The k - 1 further evaluations (each run ends with all test windows) are added to it.

Every arm trains the same recipe (the `fast` profile, --steps steps per seed, then the
evaluation of each epoch) as the pipeline would: sequential and batched in this process,
concurrent in fresh worker processes whose start-up (imports, data) is counted. The arms
alternate, --repeats times; the table gives the median seconds and the ratio to sequential.

    python benchmarks/seeds.py                   # LSTM and GRU, 3 seeds (about 14 minutes)
    python benchmarks/seeds.py --tiny            # a seconds-long smoke run (used by the tests)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
from common import RESULTS

from charlm.environment import describe_environment, hardware_line
from charlm.report import md_table
from charlm.run import Run
from charlm.spec import RunSpec, resolve
from charlm.steps import train_model


def arm_seconds(arm: str, spec: RunSpec, model: str, k: int) -> float:
    """Seconds to train (and evaluate) k seeds of `model` the way `arm` says."""
    run_cfg = replace(spec.run, seeds=list(range(k)), jobs=k if arm == "concurrent" else 1)
    spec = replace(spec, run=run_cfg)
    if arm == "batched (bound)":
        spec = replace(spec, run=replace(run_cfg, seeds=[0]),
                       train=replace(spec.train, batch_size=spec.train.batch_size * k))
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        history = train_model(Run(run_dir), spec, model, progress=False)
        seconds = time.perf_counter() - start
    if arm == "batched (bound)":  # k models to evaluate, not one: add k - 1 evaluations
        seconds += (k - 1) * history["eval_seconds"].sum()
    return seconds


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["lstm", "gru"])
    ap.add_argument("--seeds", type=int, default=3, help="K, the number of seeds")
    ap.add_argument("--steps", type=int, default=300, help="training steps per seed")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--tiny", action="store_true", help="a seconds-long smoke run")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    over = {"max_steps": args.steps, "epochs": 1, "eval_windows": 2000}
    if args.tiny:
        over = {"max_chars": 20_000, "max_steps": 5, "epochs": 1, "eval_windows": 200,
                "hidden_size": 32}
        args.repeats, args.models = 1, args.models[:1]
    # a run compares two models or more: the benchmarked ones, with LSTM and GRU as a filler
    spec = resolve("fast", {**over, "models": list(dict.fromkeys([*args.models, "lstm", "gru"]))})
    arms = ["sequential", "concurrent", "batched (bound)"]
    rows = []
    for model in args.models:
        for rep in range(args.repeats):
            for arm in arms if rep % 2 == 0 else arms[::-1]:
                seconds = arm_seconds(arm, spec, model, args.seeds)
                rows.append({"model": model, "arm": arm, "repeat": rep, "seconds": seconds})
                print(f"{model} {arm} repeat {rep}: {seconds:.1f} s", file=sys.stderr)
    raw = pd.DataFrame(rows)
    table = raw.groupby(["model", "arm"], sort=False)["seconds"].median().unstack("arm")[arms]
    summary = pd.DataFrame({"model": table.index})
    for arm in arms:
        summary[f"{arm} s"] = table[arm].round(1).to_numpy()
    for arm in arms[1:]:
        summary[f"{arm} / sequential"] = (table[arm] / table["sequential"]).round(2).to_numpy()
    args.out.mkdir(parents=True, exist_ok=True)
    raw.to_csv(args.out / "seeds.csv", index=False)
    text = (
        "# Several seeds: sequential, concurrent, batched\n\n"
        f"{hardware_line(describe_environment())}, "
        f"{torch.get_num_threads()} threads. "
        f"{args.seeds} seeds x {spec.train.max_steps} steps of the `fast` recipe per model, "
        f"median of {args.repeats} alternating repeats, concurrent start-up counted.\n"
        f"Command: `python benchmarks/seeds.py {' '.join(argv or sys.argv[1:])}`\n\n"
        f"{md_table(summary)}\n"
    )
    (args.out / "seeds.md").write_text(text)
    print(text)
    return summary


if __name__ == "__main__":
    main()
