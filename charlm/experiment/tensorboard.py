"""TensorBoard logs of a run (`-p tensorboard=true`, the `tensorboard` extra): one log folder per
model and seed and per trial of the search, under the run folder's tensorboard/.

    tensorboard --logdir reports      # every run folder's models and trials, overlaid, with hover

Each log holds the per-epoch scalars of its history (training and validation loss, learning
rate, and the test loss and accuracy of the last epoch) and its parameters with their final
metrics (TensorBoard's HParams tab). They are written from the model folders' histories after
training (notebook 04), whatever executed it (this process, stacked seeds or Ray), and written
anew each time, so a resumed or re-evaluated run has one copy of each.
"""

from __future__ import annotations

import dataclasses
import re
import shutil

import pandas as pd

from charlm.experiment import jobs
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec

LOG_DIR = "tensorboard"
EPOCH_SCALARS = {"train_loss": "loss/train", "val_loss": "loss/validation", "lr": "lr"}
LAST_SCALARS = {"test_loss": "test/loss", "test_accuracy": "test/accuracy"}


def _hparams(configs) -> dict:
    """A run's parameters as TensorBoard takes them: numbers, strings and booleans."""
    flat = {}
    for part in (configs.data, configs.model, configs.train):
        for key, value in dataclasses.asdict(part).items():
            flat[key] = value if isinstance(value, int | float | str | bool) else str(value)
    return flat


def write_logs(run: Run, spec: RunSpec) -> list[str]:
    """The run's TensorBoard logs, from its model folders; the names of the runs logged."""
    from torch.utils.tensorboard import SummaryWriter  # the optional extra

    root = run.root / LOG_DIR
    shutil.rmtree(root, ignore_errors=True)
    logged = []
    for job in jobs.all_jobs(run, spec):
        if not job.folder.history.exists():
            continue  # a trial that diverged before its first epoch, a model not trained yet
        history = pd.read_csv(job.folder.history)
        name = re.sub(r"[^A-Za-z0-9_.=@-]+", "_", job.name)
        with SummaryWriter(log_dir=str(root / name)) as writer:
            for row in history.to_dict("records"):
                for column, tag in EPOCH_SCALARS.items():
                    if pd.notna(row.get(column)):
                        writer.add_scalar(tag, row[column], int(row["epoch"]))
            last = history.iloc[-1]
            final = {tag: float(last[c]) for c, tag in {**EPOCH_SCALARS, **LAST_SCALARS}.items()
                     if c in last and pd.notna(last[c]) and c != "lr"}
            for tag, value in final.items():
                if tag.startswith("test/"):
                    writer.add_scalar(tag, value, int(last["epoch"]))
            writer.add_hparams(_hparams(job.configs), {f"final/{t}": v for t, v in final.items()},
                               run_name=".")
        logged.append(name)
    return logged
