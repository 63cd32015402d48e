"""Seeds trained at the same time (jobs > 1) give the runs that one after another give."""

import pandas as pd
import pytest

from charlm.checkpoint import load_checkpoint
from charlm.errors import CorpusError, ParameterError
from charlm.run import Run
from charlm.spec import resolve
from charlm.steps import seed_jobs, train_model

TINY = {"max_chars": 20_000, "hidden_size": 32, "max_steps": 8, "epochs": 2,
        "eval_windows": 200, "seeds": [0, 1], "tune_space": {}}  # no search: train at once
TIMING = ["train_seconds", "eval_seconds", "elapsed_train_seconds"]


def test_concurrent_seeds_match_sequential(tmp_path, corpus_text):
    one = train_model(Run(tmp_path / "one"), resolve("smoke", {**TINY, "jobs": 1}), "gru",
                      progress=False)
    two = train_model(Run(tmp_path / "two"), resolve("smoke", {**TINY, "jobs": 2}), "gru",
                      progress=False)
    assert len(two) == 4 and sorted(two["seed"].unique()) == [0, 1]
    # one thread per worker against two in this process: equal up to float summation order
    pd.testing.assert_frame_equal(one.drop(columns=TIMING), two.drop(columns=TIMING), rtol=1e-4)
    for seed in (0, 1):  # every seed wrote its own checkpoint, as a sequential run does
        assert load_checkpoint(Run(tmp_path / "two").model("gru", seed).checkpoint)["epoch"] == 2
    assert not one[one.seed == 0]["test_loss"].equals(one[one.seed == 1]["test_loss"])


def test_worker_error_reaches_the_caller_with_its_message(tmp_path):
    spec = resolve("smoke", {**TINY, "corpus": str(tmp_path / "missing.txt"), "jobs": 2})
    with pytest.raises(CorpusError, match="missing.txt"):
        train_model(Run(tmp_path / "run"), spec, "gru", progress=False)


def test_a_model_outside_the_run_is_refused(tmp_path):
    with pytest.raises(ParameterError, match="'lstm@contiguous' is not one of this run"):
        train_model(Run(tmp_path), resolve("fast"), "lstm@contiguous", progress=False)


@pytest.mark.parametrize("jobs", [0, -1, 1.5, "two", "auto", True])
def test_invalid_jobs_are_refused(jobs):
    with pytest.raises(ParameterError, match="jobs="):
        resolve("smoke", {"jobs": jobs})


def test_jobs_never_exceed_the_seeds():
    assert seed_jobs(resolve("smoke", {"seeds": [0, 1, 2], "jobs": 8})) == 3
    assert seed_jobs(resolve("smoke", {"seeds": [0, 1, 2], "jobs": 1})) == 1
