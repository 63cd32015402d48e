"""Resuming a training run from its checkpoint: what may change, and what may not."""

from __future__ import annotations

import sys
from pathlib import Path

from charlm.checkpoint import configs_of, load_checkpoint
from charlm.config import Configs
from charlm.errors import CheckpointError


def resume_conflicts(ckpt: dict, configs: Configs) -> list[str]:
    """What keeps a checkpoint from being resumed with `configs` ("name: old -> new"), if any.

    Configs hold only what changes the numbers (how a run executes is ExecutionConfig, never
    stored here), so every field must match, but `epochs` under a constant learning rate, as
    long as it does not drop below the epochs already trained.
    """
    saved, diffs = configs_of(ckpt), []
    for key in Configs.CLASSES:
        new = getattr(configs, key)
        for name, value in vars(new).items():
            old = getattr(getattr(saved, key), name)
            if key == "train" and name == "epochs" and new.min_lr is None and value >= ckpt[
                    "epoch"]:
                continue  # a constant learning rate does not depend on the number of epochs
            if old != value:
                diffs.append(f"{name}: {old!r} -> {value!r}")
    return diffs


def resumable_checkpoint(path: Path | None, configs: Configs) -> dict | None:
    """The checkpoint at path to resume from (None if there is none); other settings refused."""
    if path is None or not path.exists():
        return None
    ckpt = load_checkpoint(path)
    diffs = resume_conflicts(ckpt, configs)
    if diffs:
        raise CheckpointError(
            f"{path} was made with other settings ({'; '.join(diffs)}). Use another output "
            "folder for a new run, or the same settings to resume this one."
        )
    print(f"charlm: resuming {path} after epoch {ckpt['epoch']} of {configs.train.epochs}.",
          file=sys.stderr)
    return ckpt


def say_interrupted(epoch: int, path: Path | None, done: int) -> None:
    where = (f"the checkpoint {path} holds epochs 1-{done}" if path and done
             else "no epoch had finished, so there is no checkpoint")
    print(f"charlm: interrupted in epoch {epoch}; {where}. Run the same command again to "
          "resume.", file=sys.stderr)
