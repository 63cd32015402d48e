"""Training one model of a run once per seed (notebook 03's work)."""

import pytest
from conftest import TINY

from charlm.checkpoint import load_checkpoint
from charlm.errors import CorpusError, ParameterError
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.experiment.steps import train_model


def test_every_seed_writes_its_own_checkpoint_and_differs(tmp_path, corpus_text):
    history = train_model(Run(tmp_path), resolve("smoke", TINY), "gru", progress=False)
    assert len(history) == 4 and sorted(history["seed"].unique()) == [0, 1]
    for seed in (0, 1):
        assert load_checkpoint(Run(tmp_path).model("gru", seed).checkpoint)["epoch"] == 2
    last = history[history.epoch == 2].set_index("seed")["test_loss"]
    assert last[0] != last[1]


def test_a_corpus_error_reaches_the_caller_with_its_message(tmp_path):
    spec = resolve("smoke", {**TINY, "corpus": str(tmp_path / "missing.txt")})
    with pytest.raises(CorpusError, match="missing.txt"):
        train_model(Run(tmp_path / "run"), spec, "gru", progress=False)


def test_a_model_outside_the_run_is_refused(tmp_path):
    with pytest.raises(ParameterError, match="'lstm@contiguous' is not one of this run"):
        train_model(Run(tmp_path), resolve("fast"), "lstm@contiguous", progress=False)
