"""K models trained as one stacked computation equal the same K trained one by one."""

from dataclasses import replace

import pytest
import torch

import charlm.scale.group as group_module
import charlm.step as step_module
from charlm.checkpoint import load_checkpoint
from charlm.config import Configs, DataConfig, ExecutionConfig, ModelConfig, TrainConfig
from charlm.data import make_windows
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.experiment.steps import batched, train_model
from charlm.models import CharRNN
from charlm.scale.group import group_stepper, seeded_model, train_group
from charlm.scale.stacked import StackedCharRNN
from charlm.train import epoch_order, run_training

DATA = DataConfig(max_chars=20_000, val_frac=0.1)


def _configs(cell, seeds, **train):
    base = dict(epochs=2, max_steps=25, batch_size=32, lr=1e-2, eval_windows=200)
    return [Configs(DATA, ModelConfig(cell, hidden_size=32), TrainConfig(**{**base, **train},
                                                                         seed=s)) for s in seeds]


def _assert_same(a: dict, b: dict, tol=1e-5, every_test=True):
    """Same history, weights and Adam state. every_test=False: held-out metrics of the last
    epoch only (an epoch that was once the last of a shorter run was scored on every window)."""
    assert len(a["history"]) == len(b["history"])
    for i, (x, y) in enumerate(zip(a["history"], b["history"])):
        last = i == len(a["history"]) - 1
        held_out = ("val_loss", "val_accuracy") * (every_test or last) + (
            "test_loss", "test_accuracy") * last
        for key in ("train_loss", "objective_loss", *held_out):
            assert x[key] == pytest.approx(y[key], abs=tol), key
    for name in a["model"]:
        torch.testing.assert_close(a["model"][name], b["model"][name], atol=tol, rtol=0)
    for i, state in a["optimizer"]["state"].items():
        other = b["optimizer"]["state"][i]
        assert float(state["step"]) == float(other["step"])
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(state[key], other[key], atol=tol, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("cell,train,data", [
    # what users run: objective all, clipping, warm-up and cosine (the lr set every step), and
    # a short last batch each epoch (an eager step between the full ones)
    ("lstm", dict(objective="all", grad_clip=1.0, min_lr=1e-4, warmup_steps=5,
                  max_steps=None), DataConfig(max_chars=1_400, val_frac=0.1)),
    ("gru", dict(objective="last", lr=1e-3), DATA),  # the faithful setting
])
def test_batched_equals_one_by_one_over_50_steps(tmp_path, corpus_text, cell, train, data):
    configs = [replace(c, data=data) for c in _configs(cell, [0, 1, 2], **train)]
    train_group(configs, [tmp_path / f"group-{i}" for i in range(3)], progress=False)
    for i, cfg in enumerate(configs):
        run_training(cfg.data, cfg.model, cfg.train, tmp_path / f"alone-{i}", progress=False)
        alone = load_checkpoint(tmp_path / f"alone-{i}" / "checkpoint.pt")
        group = load_checkpoint(tmp_path / f"group-{i}" / "checkpoint.pt")
        assert group["history"][-1]["trained_with"] == 3
        _assert_same(alone, group)  # weights, Adam state and every number, each model


@pytest.mark.slow
def test_each_model_resumes_on_its_own_even_a_step_apart(tmp_path, corpus_text, monkeypatch):
    three = _configs("gru", [0, 1], epochs=3, max_steps=10)
    train_group(three, [tmp_path / f"full-{i}" for i in range(2)], progress=False)
    cut = [tmp_path / f"cut-{i}" for i in range(2)]
    real_epoch = group_module.train_epoch

    def interrupt_in_epoch_2(stepper, windows, epoch, *args):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(stepper, windows, epoch, *args)

    monkeypatch.setattr(group_module, "train_epoch", interrupt_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_group(three, cut, progress=False)
    monkeypatch.setattr(group_module, "train_epoch", real_epoch)
    assert [load_checkpoint(d / "checkpoint.pt")["epoch"] for d in cut] == [1, 1]
    two = _configs("gru", [1], epochs=2, max_steps=10)[0]  # seed 1 goes on alone, one epoch
    run_training(two.data, two.model, two.train, cut[1], progress=False)
    train_group(three, cut, progress=False)  # epochs 1 and 2 done: each goes on by itself
    for i in range(2):
        _assert_same(load_checkpoint(tmp_path / f"full-{i}" / "checkpoint.pt"),
                     load_checkpoint(cut[i] / "checkpoint.pt"), every_test=False)


def test_stacked_forward_equals_each_model():
    torch.manual_seed(0)
    for cell in ("lstm", "gru", "rnn"):
        models = [CharRNN(11, ModelConfig(cell, hidden_size=8, num_layers=2)) for _ in range(3)]
        x = torch.randint(0, 11, (3, 4, 6))
        stacked = StackedCharRNN(models)
        together = stacked(x)
        for k, model in enumerate(models):
            alone, _ = model(x[k])
            torch.testing.assert_close(together[k], alone, atol=1e-5, rtol=1e-5)
            assert stacked.state_dict_of(k).keys() == model.state_dict().keys()


def test_batched_run_parameter(tmp_path, corpus_text):
    assert not batched(resolve("smoke"))  # default: on CUDA only
    spec = resolve("smoke", {"max_chars": 20_000, "hidden_size": 32, "max_steps": 5,
                             "epochs": 1, "eval_windows": 200, "batched": True,
                             "tune_space": {}})
    assert batched(spec)
    history = train_model(Run(tmp_path), spec, "gru", progress=False)
    assert list(history.seed) == [0, 1] and (history.trained_with == 2).all()
    with pytest.raises(Exception, match="batched="):
        resolve("smoke", {"batched": "yes"})


def test_a_failed_capture_trains_one_by_one(tmp_path, corpus_text, monkeypatch, capsys):
    """Where the stacked step cannot be captured, the K models train one by one (cuDNN on a
    GPU), with the numbers each gets alone; nothing of the failed attempt counts."""
    configs = _configs("gru", [0, 1], epochs=1, max_steps=6)

    def fail(self, starts):
        raise RuntimeError("operation not permitted when stream is capturing")

    for module in (step_module, group_module):
        monkeypatch.setattr(module, "can_capture", lambda device: True)
    monkeypatch.setattr(step_module.Step, "_capture", fail)
    histories = train_group(configs, [tmp_path / f"group-{i}" for i in range(2)],
                            progress=False)
    assert "training the 2 models one by one" in capsys.readouterr().err
    for i, cfg in enumerate(configs):
        alone = run_training(cfg.data, cfg.model, cfg.train, progress=False).history
        assert "trained_with" not in histories[i][-1] and not histories[i][-1]["cuda_graph"]
        assert histories[i][-1]["test_loss"] == pytest.approx(alone[-1]["test_loss"], abs=1e-6)
        assert load_checkpoint(tmp_path / f"group-{i}" / "checkpoint.pt")["epoch"] == 1


def _steps(stepper, windows, configs, n):
    orders = torch.stack([epoch_order(windows.train_starts.numel(), c, 1) for c in configs])
    b = configs[0].batch_size
    return torch.stack([stepper.run(windows.train_starts[orders[:, i * b:(i + 1) * b]]).clone()
                        for i in range(n)])


@pytest.mark.slow
def test_compiled_step_equals_eager(corpus_text):
    """torch.compile of the stacked step (fused kernels; what a GPU gets with compile_step)
    gives the eager step's numbers, here on the CPU."""
    windows = make_windows(DataConfig(max_chars=5_000, seq_len=6))
    configs = [TrainConfig(seed=s, batch_size=16, objective="all", grad_clip=1.0)
               for s in range(2)]
    runs = []
    for compiled in (False, True):
        models = [seeded_model(windows.vocab.size, ModelConfig("lstm", 16, 1), s)
                  for s in range(2)]
        stepper = group_stepper(models, configs, windows, compiled=compiled)
        runs.append((_steps(stepper, windows, configs, 4), list(stepper.module.parameters())))
    (loss_a, w_a), (loss_b, w_b) = runs
    torch.testing.assert_close(loss_a, loss_b, atol=1e-5, rtol=1e-5)
    for a, b in zip(w_a, w_b):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_execution_settings_are_checked():
    with pytest.raises(Exception, match="precision"):
        ExecutionConfig(precision="fp16")
    with pytest.raises(Exception, match="compile_step"):
        ExecutionConfig(compile_step="yes")
