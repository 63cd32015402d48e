"""TensorBoard logs of a run (-p tensorboard=true): scalars per epoch and parameters, per run."""

import importlib.util

import pytest

from charlm.errors import ParameterError
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run


def test_tensorboard_needs_its_package(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ParameterError, match="tensorboard=true needs the tensorboard package"):
        resolve("smoke", {"tensorboard": True})


def test_every_model_and_seed_is_logged_once_per_epoch(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from charlm.experiment import tensorboard

    spec = resolve("smoke", {"models": ["lstm", "gru"], "seeds": [0], "tune_space": {},
                             "tensorboard": True})
    run = Run(tmp_path)
    for model, loss in (("lstm", 2.0), ("gru", 1.9)):
        run.model(model, 0).write_history([
            {"epoch": 1, "train_loss": loss + 0.5, "val_loss": loss + 0.6, "lr": 0.01},
            {"epoch": 2, "train_loss": loss, "val_loss": loss + 0.1, "lr": 0.005,
             "test_loss": loss + 0.12, "test_accuracy": 0.5}])
    for _ in range(2):  # written anew each time: one log per run, never two
        assert tensorboard.write_logs(run, spec) == ["lstm-s0", "gru-s0"]
    logs = sorted((tmp_path / "tensorboard").iterdir())
    assert [p.name for p in logs] == ["gru-s0", "lstm-s0"]
    events = EventAccumulator(str(logs[1])).Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss/train")] == [(1, 2.5), (2, 2.0)]
    assert [e.step for e in events.Scalars("loss/validation")] == [1, 2]
    assert events.Scalars("test/loss")[0].value == pytest.approx(2.12)
    assert len(list(logs[1].glob("events.out.tfevents.*"))) == 2  # the scalars, the parameters
