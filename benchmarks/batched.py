"""K seeds stacked (batched=true) against the same K trained one by one, on this machine.

The `smoke` profile with LSTM and GRU, seeds 0-2, one epoch of 100 steps, no tuning, run the way
notebook 02 trains (charlm.experiment.steps.train_model), batched and one by one alternately,
`--repeats` times each. The figure is the training time summed over the six runs (a stacked
run's is its group's time), the median over repetitions, and the ratio stacked / one by one.
Evaluation is left out: it is the same either way.

    python benchmarks/batched.py              # about 3 minutes on 2 cores
    python benchmarks/batched.py --tiny       # seconds (used by the tests)

Writes benchmarks/results/batched_cpu.{md,csv} (or --out).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import pandas as pd
import torch
from common import RESULTS, write

from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.experiment.steps import train_model


def training_seconds(batched: bool, overrides: dict) -> tuple[float, float]:
    """(training seconds summed over every model and seed, mean final training loss)."""
    spec = resolve("smoke", {**overrides, "batched": batched})
    with tempfile.TemporaryDirectory() as tmp:
        history = train_model(Run(Path(tmp)), spec, progress=False)
    return float(history.train_seconds.sum()), float(history.train_loss.mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tiny", action="store_true", help="a few steps: checks the script runs")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    overrides = {"models": ["lstm", "gru"], "pairs": [], "seeds": [0, 1, 2], "tune_space": {},
                 "epochs": 1, "max_steps": 5 if args.tiny else 100}
    times = {True: [], False: []}
    losses = {}
    for _ in range(1 if args.tiny else args.repeats):
        for batched in (False, True):  # alternating: drift on this machine hits both
            seconds, losses[batched] = training_seconds(batched, overrides)
            times[batched].append(seconds)
    rows = [{"training": "3 seeds stacked (batched=true)" if b else "one by one (batched=false)",
             "median_train_s": statistics.median(times[b]), "runs_s": times[b],
             "mean_final_train_loss": losses[b]} for b in (False, True)]
    ratio = rows[1]["median_train_s"] / rows[0]["median_train_s"]
    rows.append({"training": "ratio stacked / one by one", "median_train_s": ratio})
    title = ("K = 3 seeds stacked against one by one on the CPU: smoke profile, LSTM and GRU, "
             f"{overrides['max_steps']} steps, training time summed over the six runs, "
             f"{torch.get_num_threads()} torch threads" + (" (tiny: not a measurement)"
                                                           if args.tiny else ""))
    write("batched_cpu_tiny" if args.tiny else "batched_cpu", pd.DataFrame(rows), title,
          args.out)


if __name__ == "__main__":
    main()
