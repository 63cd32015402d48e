"""One line per finished epoch in the terminal while `charlm report` runs the notebooks.

Training runs inside the notebooks' kernels (or Ray workers), whose progress bars show in the
notebooks. The pipeline process watches the run folder instead: every finished epoch lands as a
row of its model folder's history file, and `EpochLines` prints each new row as one line, with
how long that model and all of the run's training have left at the pace measured so far.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from charlm.experiment import jobs
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec


@dataclass(frozen=True)
class Watched:
    """A training run the pipeline reports on: a trial of the search, or a model and seed."""

    name: str
    history: Path
    epochs: int


def watched(run: Run, spec: RunSpec) -> list[Watched]:
    """Every training run of `spec` in `run`: the search's trials first, then every model and
    seed, in the order the notebooks train them."""
    return [Watched(f"trial {j.name}" if j.trial else j.name, j.folder.history, j.epochs)
            for j in jobs.all_jobs(run, spec)]


def minutes(seconds: float) -> str:
    """A duration as people say it: seconds, minutes or hours."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _own_seconds(record: dict) -> float:
    """An epoch's own time: training and its evaluation."""
    own = sum(record.get(k) or 0 for k in ("train_seconds", "eval_seconds"))
    return own if math.isfinite(own) else 0.0


def _stamp(path: Path) -> tuple[int, int] | None:
    """When and how big the file was last written (files are replaced whole); None: absent."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _rows(path: Path) -> list[dict]:
    try:
        return pd.read_csv(path).to_dict(orient="records")
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return []  # not written yet (files are replaced whole, never half-written)


class EpochLines:
    """Prints a line for every epoch finished since it started, polling the run folder.

    with EpochLines(run, spec): ...   (a background thread; `poll()` does one pass by hand)
    """

    def __init__(self, run: Run, spec: RunSpec, every: float = 2.0, write=None):
        self.jobs = watched(run, spec)
        self.every = every
        self.write = write or (lambda line: tqdm.write(line, file=sys.stderr))
        self.stamps = {job.history: _stamp(job.history) for job in self.jobs}
        self.seen = {job.history: len(_rows(job.history)) for job in self.jobs}
        self.done = sum(min(n, job.epochs) for job, n in zip(self.jobs, self.seen.values()))
        self.total = sum(job.epochs for job in self.jobs)
        self.finished_at: list[float] = []  # wall-clock time of each epoch seen finishing
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="charlm-epochs")

    def __enter__(self) -> EpochLines:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.poll()

    def poll(self) -> list[str]:
        """Print (and return) a line for each epoch finished since the last poll."""
        lines = []
        for job in self.jobs:
            stamp = _stamp(job.history)
            if stamp == self.stamps.get(job.history):
                continue  # unchanged since the last look: not read again
            self.stamps[job.history] = stamp
            rows = _rows(job.history) if stamp is not None else []
            for record in rows[self.seen.get(job.history, 0):]:
                self.done += 1
                self.finished_at.append(time.monotonic())
                lines.append(self._line(job, record))
            self.seen[job.history] = max(len(rows), self.seen.get(job.history, 0))
        for line in lines:
            self.write(line)
        return lines

    def _epoch_seconds(self, record: dict) -> float:
        """The run's pace: wall-clock seconds per epoch between the epochs seen finishing
        (several runs at once finish faster than one), else this epoch's own time."""
        if len(self.finished_at) >= 3:
            return (self.finished_at[-1] - self.finished_at[0]) / (len(self.finished_at) - 1)
        return _own_seconds(record)

    def _line(self, job: Watched, record: dict) -> str:
        epoch, seconds = int(record["epoch"]), record.get("train_seconds") or 0.0
        val = record.get("val_loss")
        val_text = f", val {val:.4f}" if val is not None and math.isfinite(val) else ""
        pace, own = self._epoch_seconds(record), _own_seconds(record)
        left_job = (job.epochs - epoch) * own
        left_all = (self.total - self.done) * pace
        tail = f"; {job.name} done" if epoch >= job.epochs else \
            f"; ~{minutes(left_job)} left for it"
        return (f"charlm: {job.name} epoch {epoch}/{job.epochs}: train {record['train_loss']:.4f}"
                f"{val_text}, {seconds:.0f} s{tail}, ~{minutes(left_all)} for all training "
                f"({self.done}/{self.total} epochs)")
