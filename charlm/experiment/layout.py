"""The run folder's layout and the notebook chain, in one table: which notebook writes which
file, and which files it reads. The pipeline derives its order and its dependencies from it;
a missing file's error names the notebook that writes it.

    reports/<run>/
      params.json        the resolved RunSpec (flat)          pipeline, or a notebook alone
      environment.json   hardware, versions, commit           pipeline, or a notebook alone
      steps.json         each finished step: parameters read, code hashes   pipeline (resume)
      data_overview.csv  corpus, windows, split               01
      tuning/trials/<model>/<setting>-s<seed>/   a model folder per trial   02
      tuning/trials.csv, tuning/chosen.json      the trials, the choice     02
      models/<model>-s<seed>/   a model folder (charlm.folder)              03
      metrics.json (+ metrics.csv, runs.csv, histories.csv)                 04
      samples.json       generated text                       05
      figures/*.png      01, 02, 03, 04; shown by 06
      notebooks/*.ipynb  executed copies                      pipeline
      report.html, report.md + report_files/                  pipeline (06 exported)
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from charlm.errors import PipelineError

MODELS_DIR = "models"
PARAMS_FILE = "params.json"
PARAMETERS_COPY = "parameters_file.yaml"  # the -f file the run was started with, as written
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
TRIALS_DIR = f"{TUNING_DIR}/trials"


def file_part(model: str) -> str:
    """A model's name as part of a file or folder name: an import path's / and : become _
    (examples/my_cell.py:MyCell -> examples_my_cell.py_MyCell); built-in names are kept."""
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", model)


def run_name(model: str, seed: int) -> str:
    """The name of one model and seed of a run: its folder, its progress lines."""
    return f"{file_part(model)}-s{seed}"


@dataclass(frozen=True)
class Notebook:
    """One notebook of the chain: the run-folder files it writes and those it reads (paths
    relative to the run folder; * matches any name)."""

    name: str
    writes: tuple[str, ...]
    reads: tuple[str, ...] = ()
    per_model: bool = False  # executed once per model of the run (parameter `model`)
    searches: bool = False  # executed only where the run searches (tune_space)
    trains: bool = False  # its outputs are trained models: kept when only charlm's code changed


CHAIN = (
    Notebook("01_explore_data",
             writes=(DATA_OVERVIEW_FILE, f"{FIGURES_DIR}/char_frequencies.png")),
    Notebook("02_tune", writes=(f"{TRIALS_DIR}/*", f"{TUNING_DIR}/{TRIALS_CSV}",
                                f"{TUNING_DIR}/{CHOSEN_FILE}", f"{FIGURES_DIR}/tuning.png",
                                f"{FIGURES_DIR}/expected_best.png"),
             searches=True, trains=True),
    Notebook("03_train", writes=(f"{MODELS_DIR}/*", f"{FIGURES_DIR}/loss_curves_*.png"),
             reads=(f"{TUNING_DIR}/{CHOSEN_FILE}",), per_model=True, trains=True),
    Notebook("04_evaluate", writes=(METRICS_FILE, METRICS_CSV, RUNS_CSV, HISTORIES_CSV,
                                    f"{FIGURES_DIR}/loss_curves.png",
                                    f"{FIGURES_DIR}/step_losses.png",
                                    f"{FIGURES_DIR}/accuracy.png",
                                    f"{FIGURES_DIR}/time_and_size.png",
                                    f"{FIGURES_DIR}/loss_vs_time.png",
                                    f"{FIGURES_DIR}/verdict_by_budget.png"),
             reads=(f"{MODELS_DIR}/*",)),
    Notebook("05_generate", writes=(SAMPLES_FILE,), reads=(f"{MODELS_DIR}/*",)),
    Notebook("06_report", writes=(), reads=(
        DATA_OVERVIEW_FILE, f"{TUNING_DIR}/{TRIALS_CSV}", f"{TUNING_DIR}/{CHOSEN_FILE}",
        METRICS_FILE, HISTORIES_CSV, SAMPLES_FILE, f"{FIGURES_DIR}/*")),
)


def _matches(path: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(pattern, path)


def producer(path: str) -> str:
    """The notebook that writes `path` (relative to the run folder)."""
    for notebook in CHAIN:
        if any(_matches(path, pattern) for pattern in notebook.writes):
            return notebook.name
    raise KeyError(f"no notebook of the chain writes {path}")


def reads_from(notebook: Notebook) -> list[str]:
    """The earlier notebooks whose files `notebook` reads."""
    before = CHAIN[:CHAIN.index(notebook)]
    return [n.name for n in before
            if any(_matches(r, w) for r in notebook.reads for w in n.writes)]


def produced(root: Path, path: str, producer_name: str | None = None) -> Path:
    """root/path, which a notebook of the chain writes: a clear error, naming that notebook,
    where it is missing (a notebook opened on its own before the ones it reads)."""
    full = root / path
    if not full.exists():
        raise PipelineError(
            f"{full} does not exist yet: notebook {producer_name or producer(path)} writes it. "
            "Run the notebooks in order (01 to 06) on this run folder, or the whole chain with "
            "python -m charlm report."
        )
    return full
