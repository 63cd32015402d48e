"""One training run: what to train, how it executes, where its files live, whether it may
read the test set; and training it in this process."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from charlm.atomic import atomic_write_json
from charlm.checkpoint import history_so_far, load_checkpoint
from charlm.config import Configs, ExecutionConfig
from charlm.errors import CharlmError, TrainingDivergedError
from charlm.folder import ModelFolder
from charlm.resume import resume_conflicts
from charlm.train import run_training


@dataclass(frozen=True)
class Job:
    """One training run: what to train, where its files live, and whether it reads test."""

    name: str  # how progress lines and errors name it, e.g. "lstm-s0", "gru lr=0.02 s100"
    configs: Configs
    folder: ModelFolder
    # a trial of a search: scored on validation only, never on test; if its loss diverges,
    # that is recorded in its folder (a result of the search) and the search goes on
    trial: bool = False
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)  # never the numbers

    @property
    def epochs(self) -> int:
        return self.configs.train.epochs

    def diverged(self) -> bool:
        """Whether this trial diverged at these very configs (a mark left by other settings
        is dropped: those settings are not these)."""
        mark = self.folder.diverged
        if not mark.exists():
            return False
        try:
            marked = json.loads(mark.read_text(encoding="utf-8"))["configs"]
            same = Configs.from_dict(marked) == self.configs
        except (ValueError, KeyError, TypeError, CharlmError):
            same = False
        if not same:
            mark.unlink(missing_ok=True)
        return same

    def finished(self) -> bool:
        """Every epoch done at these configs (a checkpoint of other settings is not)."""
        if self.diverged():
            return True
        if not self.folder.checkpoint.exists():
            return False
        ckpt = load_checkpoint(self.folder.checkpoint)
        return ckpt["epoch"] >= self.epochs and not resume_conflicts(ckpt, self.configs)


def train_job(job: Job, progress: bool = True) -> list[dict]:
    """Train one job in this process, resuming after its last finished epoch; its history. A
    trial whose loss diverges is recorded in its folder (a result of the search)."""
    if job.diverged():
        return history_so_far(job.folder)
    cfg = job.configs
    try:
        return run_training(cfg.data, cfg.model, cfg.train, out_dir=job.folder.path,
                            progress=progress, test=not job.trial,
                            execution=job.execution).history
    except TrainingDivergedError as exc:
        if not job.trial:
            raise
        return record_divergence(job, exc)


def record_divergence(job: Job, exc: TrainingDivergedError) -> list[dict]:
    """A trial that diverged is a result of the search (that setting fails), not its end."""
    atomic_write_json(job.folder.diverged, {"message": str(exc),
                                            "configs": job.configs.to_dict()})
    print(f"charlm: trial {job.name} diverged; recorded, the search goes on.", file=sys.stderr)
    return history_so_far(job.folder)
