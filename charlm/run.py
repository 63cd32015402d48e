"""The run folder: the one module that knows its layout, and reads and writes its files.

    reports/<run>/                                  written by             read by
      params.json        the resolved RunSpec        pipeline (or a         every notebook
                                                     notebook on its own)
      environment.json   hardware, versions, commit  pipeline               06
      steps.json         each step's parameters      pipeline               pipeline (resume)
      data_overview.csv  corpus, windows, split      01                     06
      tuning/            the search (tune_space)     02 (charlm.tuning)     03, 06
        trials/<model>/<setting>-s<seed>/            one model folder per trial (no test file;
                                                     diverged.txt where its loss diverged)
        trials.csv       one row per trial: setting, seed, validation loss, time
        chosen.json      each model's chosen setting, the shared one, the mean scores
      models/<model>-s<seed>/                        03 (charlm.train)      04, 05
        checkpoint.pt    state_dicts + configs, history, vocabulary, RNG state
        history.csv      one row per epoch (validation columns; test columns in the last row)
        vocab.json       the characters
        test_windows.pt  per-window test loss and correctness (final epoch)
      metrics.json       runs, summary over seeds,   04                     06
                         every comparison, the
                         held-out text checks
      metrics.csv, runs.csv, histories.csv           04                     people, spreadsheets
      samples.json       generated text              05                     06
      figures/*.png                                  01, 02, 03, 04         06
      notebooks/*.ipynb  executed copies             pipeline               people
      report.html, report.md + report_files/         pipeline (06 exported) people

With executor=ray, this process writes every file: the workers send them (charlm.executor).
A live run holds the folder (`Run.hold`): a second run on it stops at once, naming the holder.
The hold is an OS file lock, so a killed process never leaves it behind.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from charlm.atomic import atomic_torch_save, atomic_write_json, atomic_write_text
from charlm.errors import PipelineError, RunBusyError

# -- one model's folder
CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.csv"
STEP_LOSSES_FILE = "step_losses.csv"  # the training loss every LOG_EVERY steps (charlm/train.py)
LOG_EVERY = 50  # steps between the training loop's looks at the loss (its only CUDA host syncs)
VOCAB_FILE = "vocab.json"
TEST_WINDOWS_FILE = "test_windows.pt"
DIVERGED_FILE = "diverged.txt"  # a trial of a search whose loss diverged: why, in words
# -- the run folder
MODELS_DIR = "models"
PARAMS_FILE = "params.json"
ENVIRONMENT_FILE = "environment.json"
STEPS_FILE = "steps.json"
DATA_OVERVIEW_FILE = "data_overview.csv"
METRICS_FILE = "metrics.json"
METRICS_CSV = "metrics.csv"
RUNS_CSV = "runs.csv"
HISTORIES_CSV = "histories.csv"
TUNING_DIR = "tuning"
TRIALS_CSV = "trials.csv"
CHOSEN_FILE = "chosen.json"
SAMPLES_FILE = "samples.json"
FIGURES_DIR = "figures"
NOTEBOOKS_DIR = "notebooks"
REPORT_HTML = "report.html"
REPORT_MD = "report.md"
REPORT_FILES_DIR = "report_files"
LOCK_FILE = ".lock"
HOLDER_FILE = ".holder.json"
HELD_BY_PARENT_ENV = "CHARLM_RUN_HELD"  # set by a holder for the notebooks it starts


def _path(base: str, name: str) -> property:
    """A read-only path attribute: `name` inside the folder held in attribute `base`."""
    return property(lambda self: getattr(self, base) / name)


def produced(path: Path, producer: str) -> Path:
    """`path`, which notebook `producer` writes: a clear error, naming it, where it is missing
    (a notebook opened on its own before the ones it reads)."""
    if not path.exists():
        raise PipelineError(
            f"{path} does not exist yet: notebook {producer} writes it. Run the notebooks in "
            "order (01 to 06) on this run folder, or the whole chain with python -m charlm "
            "report."
        )
    return path


def _frame(rows: list[dict]) -> pd.DataFrame:
    """Records read back from JSON: a column of nulls (NaN written as null) is a NaN column."""
    df = pd.DataFrame(rows)
    for col in df.columns[df.isna().all()]:
        df[col] = float("nan")
    return df


def _records(df: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON-ready dicts (NaN written as null)."""
    return df.astype(object).where(df.notna(), None).to_dict(orient="records")


@dataclass(frozen=True)
class ModelFolder:
    """One trained model's files: a run's models/<model>-s<seed>/, or `train --out`."""

    path: Path

    checkpoint = _path("path", CHECKPOINT_FILE)
    history = _path("path", HISTORY_FILE)
    step_losses = _path("path", STEP_LOSSES_FILE)
    vocab = _path("path", VOCAB_FILE)
    test_windows = _path("path", TEST_WINDOWS_FILE)
    diverged = _path("path", DIVERGED_FILE)

    def history_so_far(self) -> list[dict]:
        """The records of the finished epochs ([] before the first)."""
        from charlm.checkpoint import load_checkpoint

        return load_checkpoint(self.checkpoint)["history"] if self.checkpoint.exists() else []

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

    def write_test_windows(self, per_window: dict) -> None:
        """Per-window results {starts, losses, correct} (tensors) of the final evaluation."""
        atomic_torch_save(self.test_windows, per_window)

    def read_test_windows(self) -> dict[str, Any]:
        """Per-window results as numpy arrays, in text order (sorted by window start)."""
        import torch

        d = torch.load(self.test_windows, weights_only=True)
        order = torch.argsort(d["starts"])
        return {k: v[order].numpy() for k, v in d.items()}


@dataclass(frozen=True)
class Figures:
    """The figures of a run: written by notebooks 01-04, shown by the report (06)."""

    folder: Path

    char_frequencies = _path("folder", "char_frequencies.png")
    loss_curves = _path("folder", "loss_curves.png")
    accuracy = _path("folder", "accuracy.png")
    time_and_size = _path("folder", "time_and_size.png")
    loss_vs_time = _path("folder", "loss_vs_time.png")
    step_losses = _path("folder", "step_losses.png")
    tuning = _path("folder", "tuning.png")

    @staticmethod
    def producer(name: str) -> str:
        """The notebook that draws the figure `name` (a name of this class)."""
        return {"char_frequencies": "01_explore_data", "tuning": "02_tune"}.get(
            name, "03_train" if name.startswith("loss_curves_") else "04_evaluate")

    def loss_curves_of(self, model: str) -> Path:
        """One model's loss curves over its seeds (written by its 03_train)."""
        return self.folder / f"loss_curves_{model}.png"

    def written(self) -> list[Path]:
        return sorted(self.folder.glob("*.png"))


class Run:
    """A run folder: every path in it, and reading and writing its files."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.figures = Figures(self.root / FIGURES_DIR)

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r})"

    # -- paths
    params_file = _path("root", PARAMS_FILE)
    environment_file = _path("root", ENVIRONMENT_FILE)
    steps_file = _path("root", STEPS_FILE)
    metrics_file = _path("root", METRICS_FILE)
    samples_file = _path("root", SAMPLES_FILE)
    notebooks_dir = _path("root", NOTEBOOKS_DIR)
    report_html = _path("root", REPORT_HTML)
    report_md = _path("root", REPORT_MD)
    report_files_dir = REPORT_FILES_DIR  # relative to the root, as the Markdown links it
    models_dir = _path("root", MODELS_DIR)

    def model(self, model: str, seed: int) -> ModelFolder:
        """The folder of one model (a name such as gru-h149) and seed."""
        return ModelFolder(self.root / MODELS_DIR / f"{model}-s{seed}")

    tuning_dir = _path("root", TUNING_DIR)

    def trial(self, model: str, setting: str, seed: int) -> ModelFolder:
        """The folder of one trial of the search: a model at a setting ("lr=0.02"), a seed."""
        return ModelFolder(self.root / TUNING_DIR / "trials" / model / f"{setting}-s{seed}")

    def executed_notebook(self, name: str) -> Path:
        return self.notebooks_dir / name

    # -- parameters, environment, steps
    def write_spec(self, spec) -> None:
        atomic_write_json(self.params_file, spec.params())

    def read_params(self) -> dict[str, Any] | None:
        """The flat parameters the folder holds, or None for a new folder."""
        return json.loads(self.params_file.read_text()) if self.params_file.exists() else None

    def read_spec(self):
        from charlm.spec import RunSpec

        params = self.read_params()
        if params is None:
            raise PipelineError(
                f"{self.params_file} does not exist: run the chain with python -m charlm report, "
                "or give the notebook a profile so it resolves the run itself."
            )
        return RunSpec.from_params(params)

    def write_environment(self, env: dict) -> None:
        atomic_write_json(self.environment_file, env)

    def read_environment(self) -> dict:
        return json.loads(self.environment_file.read_text())

    def read_steps(self) -> dict[str, dict]:
        """{executed notebook: {"reads": parameters it ran with, "finished": time}}."""
        return json.loads(self.steps_file.read_text()) if self.steps_file.exists() else {}

    def record_step(self, name: str, reads: dict[str, Any], seconds: float) -> None:
        steps = self.read_steps()
        steps[name] = {"reads": reads, "seconds": round(seconds, 1),
                       "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        atomic_write_json(self.steps_file, steps)

    def forget_steps(self) -> None:
        """Forget every finished step: the pipeline will run them all again (models resume)."""
        self.steps_file.unlink(missing_ok=True)

    def forget_step(self, name: str) -> None:
        steps = self.read_steps()
        if steps.pop(name, None) is not None:
            atomic_write_json(self.steps_file, steps)

    # -- what the notebooks write and read
    def write_data_overview(self, overview: pd.DataFrame) -> None:
        atomic_write_text(self.root / DATA_OVERVIEW_FILE, overview.to_csv(index=False))

    def read_data_overview(self) -> pd.DataFrame:
        return pd.read_csv(produced(self.root / DATA_OVERVIEW_FILE, "01_explore_data"))

    def write_metrics(self, tables: dict[str, pd.DataFrame], histories: pd.DataFrame) -> None:
        """metrics.json (the runs, the summary over seeds, every comparison, the held-out text
        checks) and CSV copies of the comparisons, runs and histories."""
        atomic_write_json(self.metrics_file, {k: _records(df) for k, df in tables.items()})
        atomic_write_text(self.root / METRICS_CSV, tables["comparisons"].to_csv(index=False))
        atomic_write_text(self.root / RUNS_CSV, tables["runs"].to_csv(index=False))
        atomic_write_text(self.root / HISTORIES_CSV, histories.to_csv(index=False))

    def read_metrics(self) -> dict[str, pd.DataFrame]:
        """{"runs", "summary", "comparisons", "held_out", "split_gaps"} as DataFrames, as
        notebook 04 wrote them."""
        payload = json.loads(produced(self.metrics_file, "04_evaluate").read_text())
        return {key: _frame(rows) for key, rows in payload.items()}

    def read_runs(self) -> pd.DataFrame:
        """The runs table (one row per model and seed) as notebook 04 wrote it as CSV."""
        return pd.read_csv(produced(self.root / RUNS_CSV, "04_evaluate"))

    def read_histories(self) -> pd.DataFrame:
        return pd.read_csv(produced(self.root / HISTORIES_CSV, "04_evaluate"))

    def write_tuning(self, trials: pd.DataFrame, choice: dict) -> None:
        """The search's trials (one row each) and its choice (charlm.tuning.choose)."""
        atomic_write_text(self.tuning_dir / TRIALS_CSV, trials.to_csv(index=False))
        atomic_write_json(self.tuning_dir / CHOSEN_FILE, choice)

    def read_trials(self) -> pd.DataFrame:
        return pd.read_csv(produced(self.tuning_dir / TRIALS_CSV, "02_tune"))

    def read_choice(self) -> dict | None:
        """The search's choice, or None where this run has not searched (yet)."""
        path = self.tuning_dir / CHOSEN_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def write_samples(self, samples: pd.DataFrame) -> None:
        atomic_write_json(self.samples_file, _records(samples))

    def read_samples(self) -> pd.DataFrame:
        return pd.DataFrame(json.loads(produced(self.samples_file, "05_generate").read_text()))

    # -- holding the folder while a run is active
    def holder(self) -> str:
        """Who holds the folder, in words (from the holder's own note)."""
        try:
            h = json.loads((self.root / HOLDER_FILE).read_text())
        except (OSError, ValueError):
            return "another process (it has not written its name yet)"
        return (f"process {h['pid']} on {h['host']} ({h['command']}), running since "
                f"{h['since']}")

    @contextmanager
    def hold(self):
        """Hold the folder for this process and the notebooks it starts; refuse if held.

        A second holder gets RunBusyError at once, naming the holder. The lock is an OS file
        lock (filelock: flock on POSIX), released by the OS when its process dies.
        """
        from filelock import FileLock, Timeout

        key = str(self.root.resolve())
        if os.environ.get(HELD_BY_PARENT_ENV) == key:  # the pipeline that started us holds it
            yield self
            return
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / LOCK_FILE), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunBusyError(
                f"The run folder {self.root} is in use by {self.holder()}. Wait for that run to "
                "finish or stop it; or use --name (or --fresh) for a run folder of your own."
            ) from None
        previous = os.environ.get(HELD_BY_PARENT_ENV)
        try:
            atomic_write_json(self.root / HOLDER_FILE, {
                "pid": os.getpid(), "host": socket.gethostname(),
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "since": time.strftime("%Y-%m-%d %H:%M:%S")})
            os.environ[HELD_BY_PARENT_ENV] = key
            yield self
        finally:
            if previous is None:
                os.environ.pop(HELD_BY_PARENT_ENV, None)
            else:
                os.environ[HELD_BY_PARENT_ENV] = previous
            (self.root / HOLDER_FILE).unlink(missing_ok=True)
            lock.release()
