"""One trained model's folder: its file names, and reading and writing them.

    <model folder>/        a run's models/<model>-s<seed>/, a trial's folder, or `train --out`
      checkpoint.pt        state_dicts + configs, history, vocabulary, RNG state
      best.pt              the lowest-validation epoch's model (charlm/best.py)
      history.csv          one row per epoch (validation columns; test columns in the last row)
      step_losses.csv      the training loss every LOG_EVERY steps
      vocab.json           the characters
      test_windows.pt      per-window test loss and correctness (final epoch)
      diverged.txt         a trial of a search whose loss diverged: why, in words
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from charlm.atomic import atomic_write_text

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
HISTORY_FILE = "history.csv"
STEP_LOSSES_FILE = "step_losses.csv"  # the training loss every LOG_EVERY steps (charlm/train.py)
VOCAB_FILE = "vocab.json"
TEST_WINDOWS_FILE = "test_windows.pt"
DIVERGED_FILE = "diverged.txt"  # a trial of a search whose loss diverged: why, in words


def path_in(base: str, name: str) -> property:
    """A read-only path attribute: `name` inside the folder held in attribute `base`."""
    return property(lambda self: getattr(self, base) / name)


@dataclass(frozen=True)
class ModelFolder:
    """One trained model's files: a run's models/<model>-s<seed>/, or `train --out`."""

    path: Path

    checkpoint = path_in("path", CHECKPOINT_FILE)
    best = path_in("path", BEST_FILE)
    history = path_in("path", HISTORY_FILE)
    step_losses = path_in("path", STEP_LOSSES_FILE)
    vocab = path_in("path", VOCAB_FILE)
    test_windows = path_in("path", TEST_WINDOWS_FILE)
    diverged = path_in("path", DIVERGED_FILE)

    def write_history(self, history: list[dict]) -> None:
        atomic_write_text(self.history, pd.DataFrame(history).to_csv(index=False))

    def read_step_losses(self) -> pd.DataFrame:
        """The training loss every few steps: epoch, step (over the whole run), train_loss and
        objective_loss (means over the steps since the row before); empty before the first."""
        if not self.step_losses.exists():
            return pd.DataFrame(columns=["epoch", "step", "train_loss", "objective_loss"])
        return pd.read_csv(self.step_losses)

    def write_step_losses(self, rows: list[dict]) -> None:
        """An epoch's rows, after the rows of the epochs before it (a rerun epoch's old rows,
        from an interrupted run, are replaced)."""
        if not rows:
            return
        first = min(r["epoch"] for r in rows)
        old = self.read_step_losses()
        new = pd.DataFrame(rows)
        table = pd.concat([old[old.epoch < first], new], ignore_index=True) if len(old) else new
        atomic_write_text(self.step_losses, table.to_csv(index=False))

    def write_vocab(self, vocab_json: str) -> None:
        atomic_write_text(self.vocab, vocab_json + "\n")
