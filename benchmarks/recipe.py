"""The `fast` recipe's peak learning rate, chosen on validation loss (never on test).

Every run trains at the `fast` profile's budget (5 epochs of 1,000 steps, batch 128, objective
`all`, cosine decay to 1e-4 after 200 warmup steps, clip 1.0) with one peak learning rate, and is
scored on all its validation windows (10% of the training windows, carved out before training).
The test set is never evaluated (`run_training(test=False)`).

    python benchmarks/recipe.py                       # 4 rates x LSTM, GRU: about 50 min here
    python benchmarks/recipe.py --lrs 0.006 0.01      # some of them
    python benchmarks/recipe.py --cells gru --lrs 0.02 --append   # add to the table
    python benchmarks/recipe.py --tiny                # seconds (used by the tests)

Writes recipe.csv and recipe.md into benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from common import RESULTS, write

from charlm.errors import TrainingDivergedError
from charlm.experiment.profiles import resolve
from charlm.train import run_training


def trial(cell: str, lr: float, overrides: dict) -> dict:
    """One run of `cell` at peak learning rate `lr` on the fast budget; its validation scores
    (NaN for a run that diverged)."""
    cfg = resolve("fast", {**overrides, "lr": lr}).configs(cell, 0)
    try:
        history = run_training(cfg.data, cfg.model, cfg.train, progress=False,
                               test=False).history
    except TrainingDivergedError as exc:
        print(f"{cell} lr {lr}: {exc}", flush=True)
        return {"cell": cell, "lr": lr, "val_loss": float("nan"), "diverged": True}
    last = history[-1]
    assert "test_loss" not in last  # the choice must never see the test set
    return {"cell": cell, "lr": lr, "steps": sum(r["steps"] for r in history),
            "train_seconds": last["elapsed_train_seconds"], "val_loss": last["val_loss"],
            "val_accuracy": last["val_accuracy"], "val_windows": last["val_windows"],
            "diverged": False}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    ap.add_argument("--lrs", nargs="+", type=float, default=[0.003, 0.006, 0.01, 0.02])
    ap.add_argument("--tiny", action="store_true", help="seconds-long run on a small slice")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    ap.add_argument("--append", action="store_true",
                    help="add these trials to the table already in --out")
    args = ap.parse_args(argv)
    name = "recipe" + ("_tiny" if args.tiny else "")
    overrides = ({"max_chars": 30_000, "max_steps": 3, "epochs": 2, "eval_windows": 300}
                 if args.tiny else {})
    path = args.out / f"{name}.csv"
    earlier = (pd.read_csv(path).drop(columns="best_for_cell") if args.append and path.exists()
               else pd.DataFrame())
    rows = []
    for cell in args.cells:
        for lr in args.lrs:
            rows.append(trial(cell, lr, overrides))
            df = pd.concat([earlier, pd.DataFrame(rows)], ignore_index=True)
            df = df.drop_duplicates(["cell", "lr"], keep="last")  # a trial run again: the new one
            df = df.sort_values(["cell", "lr"], ignore_index=True)
            df["best_for_cell"] = df.val_loss == df.groupby("cell").val_loss.transform("min")
            write(name, df, "The fast recipe's peak learning rate, scored on validation loss",
                  args.out)  # after every trial: a stopped sweep keeps what it finished


if __name__ == "__main__":
    main()
