"""The training loss every LOG_EVERY steps, beside each model's per-epoch history."""

import numpy as np
import pandas as pd
import pytest

from charlm.config import LOG_EVERY
from charlm.experiment.profiles import resolve
from charlm.folder import ModelFolder
from charlm.train import run_training

pytestmark = pytest.mark.slow  # trains, or runs Ray or subprocesses: the slow tier


def _configs(epochs=2):
    return resolve("smoke", {"models": ["lstm", "gru"], "pairs": [], "epochs": epochs,
                             "max_steps": 2 * LOG_EVERY + 20, "eval_windows": 100,
                             "tune_space": {}}).configs("gru", 0)


def test_every_log_every_steps_and_they_average_to_the_epoch(tmp_path, corpus_text):
    c = _configs()
    result = run_training(c.data, c.model, c.train, out_dir=tmp_path, progress=False)
    steps = ModelFolder(tmp_path).read_step_losses()
    n = 2 * LOG_EVERY + 20
    assert list(steps.step) == [50, 100, n, n + 50, n + 100, 2 * n]
    assert list(steps.epoch) == [1, 1, 1, 2, 2, 2]
    for record in result.history:  # the intervals' means, weighted by their steps
        rows = steps[steps.epoch == record["epoch"]]
        sizes = np.diff([(record["epoch"] - 1) * n, *rows.step])
        assert np.isclose((rows.train_loss * sizes).sum() / n, record["train_loss"], rtol=1e-5)
    assert "step_log" not in pd.read_csv(tmp_path / "history.csv")  # not in the history


def test_a_resumed_run_keeps_the_earlier_epochs_rows_once(tmp_path, corpus_text):
    c = _configs(epochs=2)
    run_training(c.data, c.model, c.train, out_dir=tmp_path, progress=False, until=1)
    folder = ModelFolder(tmp_path)
    first = folder.read_step_losses()
    assert set(first.epoch) == {1}
    # an interrupted epoch 2 had written nothing; a stale row of it is replaced on the rerun
    folder.write_step_losses([{"epoch": 2, "step": 1, "train_loss": 9.0, "objective_loss": 9.0}])
    run_training(c.data, c.model, c.train, out_dir=tmp_path, progress=False)
    steps = folder.read_step_losses()
    assert list(steps.epoch) == [1, 1, 1, 2, 2, 2] and 9.0 not in set(steps.train_loss)
    pd.testing.assert_frame_equal(steps[steps.epoch == 1], first)
