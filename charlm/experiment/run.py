"""The run folder: every path in it (charlm.experiment.layout names them), and reading and
writing its files.

With executor=ray, this process writes every file: the workers send them
(charlm.scale.ray_executor). A live run holds the folder (`Run.hold`, charlm.experiment.lock):
a second run on it stops at once, naming the holder.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from charlm.atomic import atomic_write_json, atomic_write_text
from charlm.errors import PipelineError
from charlm.experiment import lock
from charlm.experiment.layout import (
    CHOSEN_FILE,
    DATA_OVERVIEW_FILE,
    ENVIRONMENT_FILE,
    FIGURES_DIR,
    HISTORIES_CSV,
    METRICS_CSV,
    METRICS_FILE,
    MODELS_DIR,
    NOTEBOOKS_DIR,
    PARAMETERS_COPY,
    PARAMS_FILE,
    REPORT_FILES_DIR,
    REPORT_HTML,
    REPORT_MD,
    RUNS_CSV,
    SAMPLES_FILE,
    STEPS_FILE,
    TRIALS_CSV,
    TUNING_DIR,
    file_part,
    produced,
    run_name,
)
from charlm.experiment.spec import ADDED, REMOVED, RunSpec
from charlm.folder import ModelFolder, path_in


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
class Figures:
    """The figures of a run: written by notebooks 01-04, shown by the report (06)."""

    folder: Path

    char_frequencies = path_in("folder", "char_frequencies.png")
    loss_curves = path_in("folder", "loss_curves.png")
    accuracy = path_in("folder", "accuracy.png")
    time_and_size = path_in("folder", "time_and_size.png")
    loss_vs_time = path_in("folder", "loss_vs_time.png")
    budget = path_in("folder", "verdict_by_budget.png")
    step_losses = path_in("folder", "step_losses.png")
    tuning = path_in("folder", "tuning.png")
    expected_best = path_in("folder", "expected_best.png")

    def loss_curves_of(self, model: str) -> Path:
        """One model's loss curves over its seeds (written by its 03_train)."""
        return self.folder / f"loss_curves_{file_part(model)}.png"

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
    params_file = path_in("root", PARAMS_FILE)
    environment_file = path_in("root", ENVIRONMENT_FILE)
    steps_file = path_in("root", STEPS_FILE)
    metrics_file = path_in("root", METRICS_FILE)
    samples_file = path_in("root", SAMPLES_FILE)
    notebooks_dir = path_in("root", NOTEBOOKS_DIR)
    report_html = path_in("root", REPORT_HTML)
    report_md = path_in("root", REPORT_MD)
    report_files_dir = REPORT_FILES_DIR  # relative to the root, as the Markdown links it
    models_dir = path_in("root", MODELS_DIR)

    def model(self, model: str, seed: int) -> ModelFolder:
        """The folder of one model (a name such as gru-h149) and seed."""
        return ModelFolder(self.root / MODELS_DIR / run_name(model, seed))

    tuning_dir = path_in("root", TUNING_DIR)

    def trial(self, model: str, setting: str, seed: int) -> ModelFolder:
        """The folder of one trial of the search: a model at a setting ("lr=0.02"), a seed."""
        return ModelFolder(self.root / TUNING_DIR / "trials" / file_part(model)
                           / f"{setting}-s{seed}")

    def executed_notebook(self, name: str) -> Path:
        return self.notebooks_dir / name

    # -- parameters, environment, steps
    def write_spec(self, spec) -> None:
        atomic_write_json(self.params_file, spec.params())

    def write_parameters_file(self, source: Path | None) -> None:
        """A copy of the parameters file (-f) the run was given, or none (an older copy would
        describe other parameters); the resolved parameters are the run's own file."""
        if source is None:
            (self.root / PARAMETERS_COPY).unlink(missing_ok=True)
        else:
            atomic_write_text(self.root / PARAMETERS_COPY, source.read_text(encoding="utf-8"))

    def read_params(self) -> dict[str, Any] | None:
        """The flat parameters the folder holds, or None for a new folder; a parameter an
        earlier charlm stored and this one removed (spec.REMOVED) is left out, one added since
        (spec.ADDED) is the value the run had."""
        if not self.params_file.exists():
            return None
        params = json.loads(self.params_file.read_text(encoding="utf-8"))
        return {**ADDED, **{k: v for k, v in params.items() if k not in REMOVED}}

    def read_spec(self):
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
        return json.loads(self.environment_file.read_text(encoding="utf-8"))

    def read_steps(self) -> dict[str, dict]:
        """{executed notebook: {"reads": parameters it ran with, "notebook": its hash, "code":
        what charlm ran it, "finished": time}}."""
        if not self.steps_file.exists():
            return {}
        return json.loads(self.steps_file.read_text(encoding="utf-8"))

    def record_step(self, name: str, record: dict[str, Any], seconds: float) -> None:
        """A finished step: what it read and what code ran it (`record`), and when."""
        steps = self.read_steps()
        steps[name] = {**record, "seconds": round(seconds, 1),
                       "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        atomic_write_json(self.steps_file, steps)

    def annotate_step(self, name: str, **fields: Any) -> None:
        """Add fields to a finished step's record; when it finished stays as it was."""
        steps = self.read_steps()
        steps[name] = {**steps[name], **fields}
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
        return pd.read_csv(produced(self.root, DATA_OVERVIEW_FILE))

    def write_metrics(self, tables: dict[str, pd.DataFrame], histories: pd.DataFrame) -> None:
        """The metrics (the runs, the summary over seeds, every comparison, the held-out text
        checks) and CSV copies of the comparisons, runs and histories."""
        atomic_write_json(self.metrics_file, {k: _records(df) for k, df in tables.items()})
        atomic_write_text(self.root / METRICS_CSV, tables["comparisons"].to_csv(index=False))
        atomic_write_text(self.root / RUNS_CSV, tables["runs"].to_csv(index=False))
        atomic_write_text(self.root / HISTORIES_CSV, histories.to_csv(index=False))

    def read_metrics(self) -> dict[str, pd.DataFrame]:
        """{"runs", "summary", "comparisons", "held_out", "split_gaps"} as DataFrames, as
        notebook 04 wrote them."""
        payload = json.loads(produced(self.root, METRICS_FILE).read_text(encoding="utf-8"))
        return {key: _frame(rows) for key, rows in payload.items()}

    def read_runs(self) -> pd.DataFrame:
        """The runs table (one row per model and seed) as notebook 04 wrote it as CSV."""
        return pd.read_csv(produced(self.root, RUNS_CSV))

    def read_histories(self) -> pd.DataFrame:
        return pd.read_csv(produced(self.root, HISTORIES_CSV))

    def write_tuning(self, trials: pd.DataFrame, choice: dict) -> None:
        """The search's trials (one row each) and its choice (charlm.stats.search.choose)."""
        atomic_write_text(self.tuning_dir / TRIALS_CSV, trials.to_csv(index=False))
        atomic_write_json(self.tuning_dir / CHOSEN_FILE, choice)

    def read_trials(self) -> pd.DataFrame:
        return pd.read_csv(produced(self.root, f"{TUNING_DIR}/{TRIALS_CSV}"))

    def read_choice(self) -> dict | None:
        """The search's choice, or None where this run has not searched (yet)."""
        path = self.tuning_dir / CHOSEN_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def write_samples(self, samples: pd.DataFrame) -> None:
        atomic_write_json(self.samples_file, _records(samples))

    def read_samples(self) -> pd.DataFrame:
        samples = produced(self.root, SAMPLES_FILE).read_text(encoding="utf-8")
        return pd.DataFrame(json.loads(samples))

    # -- holding the folder while a run is active (charlm.experiment.lock)
    def holder(self) -> str:
        """Who holds the folder, in words."""
        return lock.holder(self.root)

    @contextmanager
    def hold(self):
        """Hold the folder for this process and the notebooks it starts; refuse if held."""
        with lock.hold(self.root):
            yield self
