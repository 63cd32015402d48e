"""What several test files share: the corpus, a tiny run's settings, timing columns to drop
before comparing numbers, and the smoke run of the whole chain (made once per session)."""

import os

import pandas as pd
import pytest

from charlm.data import default_corpus_path, load_text
from charlm.experiment.pipeline import run_report
from charlm.experiment.run import Run

# every measured time a record or table holds: two runs of the same numbers differ only there
TIMING = {"train_seconds", "eval_seconds", "elapsed_train_seconds", "train_time"}
# a run small enough to train in seconds: a slice of the corpus, a small model, a few steps
TINY = {"max_chars": 20_000, "hidden_size": 32, "max_steps": 8, "epochs": 2,
        "eval_windows": 200, "seeds": [0, 1], "tune_space": {}}  # no search: train at once


def without_timing(data):
    """A history (list of records) or a table without its measured times."""
    if isinstance(data, pd.DataFrame):
        return data.drop(columns=[c for c in TIMING if c in data])
    return [{k: v for k, v in r.items() if k not in TIMING} for r in data]


@pytest.fixture(scope="session")
def corpus_text() -> str:
    """The real corpus; CI copies it into data/. Elsewhere, skip when it cannot be had."""
    if not default_corpus_path().exists() and not os.environ.get("CI"):
        pytest.skip("Tiny Shakespeare is not in data/ (run `make data`)")
    return load_text()


@pytest.fixture(scope="session")
def small_text(corpus_text) -> str:
    return corpus_text[:30_000]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, corpus_text) -> Run:
    """The whole chain on the smoke profile, through papermill (the slow tier's base)."""
    reports = tmp_path_factory.mktemp("reports")
    return run_report("smoke", reports_dir=reports, figures_dir=reports / "figures",
                      progress=False)
