import math

import pytest
import torch
from conftest import without_timing

from charlm.checkpoint import load_checkpoint, load_model
from charlm.config import DataConfig, ModelConfig, TrainConfig
from charlm.errors import CheckpointError, ParameterError, TrainingDivergedError
from charlm.evaluate import evaluate
from charlm.train import learning_rate, run_training

DATA = DataConfig(max_chars=30_000, val_frac=0.1)


def quick(**kw) -> TrainConfig:
    base = dict(epochs=2, batch_size=64, lr=1e-2, max_steps=40, eval_windows=500, seed=0)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("objective", ["last", "all"])
def test_training_learns(small_text, objective):
    result = run_training(
        DATA,
        ModelConfig("gru", hidden_size=64),
        quick(objective=objective),
        progress=False,
        text=small_text,
    )
    first, last = result.history[0], result.history[-1]
    bound = 2.9 if objective == "all" else 3.3
    assert last["test_loss"] < bound < math.log(65)
    assert last["val_loss"] < first["val_loss"]
    assert last["test_windows"] == result.windows.test_starts.numel()  # full test set at the end
    assert last["val_windows"] == result.windows.val_starts.numel()  # and every val window
    assert all("test_loss" not in r for r in result.history[:-1])  # test read once, at the end
    for key in ("train_loss", "test_accuracy", "test_bpc", "train_seconds", "eval_seconds"):
        assert key in last


def _hook_on_call(n: int, action):
    """A global forward hook that calls action(output) on the n-th module call."""
    calls = {"n": 0}

    def hook(module, inputs, output):
        calls["n"] += 1
        return action(output) if calls["n"] == n else output

    return torch.nn.modules.module.register_module_forward_hook(hook)


def _interrupt(output):
    raise KeyboardInterrupt




def test_resume_equals_uninterrupted(small_text, tmp_path, capsys):
    cfg = quick(epochs=3, max_steps=10)
    model_cfg = ModelConfig("lstm", hidden_size=32)
    full = run_training(DATA, model_cfg, cfg, tmp_path / "full", progress=False, text=small_text)
    # module calls: 2 a training step (model, head), 3 for the one evaluation batch of an epoch
    handle = _hook_on_call(2 * 10 + 3 + 2 * 5, _interrupt)  # step 5 of epoch 2
    try:
        with pytest.raises(KeyboardInterrupt):
            run_training(DATA, model_cfg, cfg, tmp_path / "cut", progress=False, text=small_text)
    finally:
        handle.remove()
    assert "holds epochs 1-1" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 1
    resumed = run_training(DATA, model_cfg, cfg, tmp_path / "cut", progress=False, text=small_text)
    strip = without_timing
    assert strip(resumed.history) == strip(full.history)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_refuses_other_settings(small_text, tmp_path):
    model_cfg = ModelConfig("lstm", hidden_size=32)
    run_training(
        DATA, model_cfg, quick(epochs=1, max_steps=5), tmp_path, progress=False, text=small_text
    )
    with pytest.raises(CheckpointError, match="batch_size: 64 -> 32"):
        run_training(
            DATA,
            model_cfg,
            quick(epochs=1, max_steps=5, batch_size=32),
            tmp_path,
            progress=False,
            text=small_text,
        )


def test_checkpoint_round_trip(small_text, tmp_path):
    result = run_training(
        DATA,
        ModelConfig("gru", hidden_size=32),
        quick(epochs=1),
        tmp_path,
        progress=False,
        text=small_text,
    )
    model, vocab, ckpt = load_model(tmp_path / "checkpoint.pt")
    w = result.windows
    again = evaluate(model, w.data, w.test_starts, w.seq_len)
    assert again["loss"] == pytest.approx(result.history[-1]["test_loss"], abs=1e-6)
    assert vocab == w.vocab and (tmp_path / "vocab.json").exists()
    assert (tmp_path / "history.csv").read_text().startswith("epoch,")
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_nan_loss_is_caught_and_checkpoint_kept(small_text, tmp_path):
    model_cfg = ModelConfig("lstm", hidden_size=32)
    run_training(
        DATA, model_cfg, quick(epochs=1, max_steps=5), tmp_path, progress=False, text=small_text
    )
    before = load_checkpoint(tmp_path / "checkpoint.pt")
    handle = _hook_on_call(2 * 3 - 1, lambda out: out * float("nan"))  # head, step 3, epoch 2
    try:
        with pytest.raises(TrainingDivergedError, match="epoch 2 at step 3"):
            run_training(
                DATA,
                model_cfg,
                quick(epochs=2, max_steps=5),
                tmp_path,
                progress=False,
                text=small_text,
            )
    finally:
        handle.remove()
    after = load_checkpoint(tmp_path / "checkpoint.pt")
    assert after["epoch"] == before["epoch"] == 1


def test_divergent_learning_rate_is_caught(small_text):
    with pytest.raises(TrainingDivergedError, match="Lower the learning rate"):
        run_training(
            DATA,
            ModelConfig("rnn", hidden_size=32),
            quick(lr=1e6, max_steps=40, epochs=1),
            progress=False,
            text=small_text,
        )


def test_cosine_schedule():
    cfg = TrainConfig(lr=4e-3, min_lr=2e-4, warmup_steps=10)
    assert learning_rate(cfg, 0, 100) == pytest.approx(4e-4)
    assert learning_rate(cfg, 10, 100) == pytest.approx(4e-3)
    assert learning_rate(cfg, 100, 100) == pytest.approx(2e-4)
    assert learning_rate(TrainConfig(), 500, 1000) == 1e-3


def test_same_seed_is_bit_identical_on_cpu(small_text):
    cfg, model_cfg = quick(epochs=2, max_steps=8, objective="all"), ModelConfig("gru", 32)
    a = run_training(DATA, model_cfg, cfg, progress=False, text=small_text)
    b = run_training(DATA, model_cfg, cfg, progress=False, text=small_text)
    assert without_timing(a.history) == without_timing(b.history)
    for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(x, y)
    c = run_training(DATA, model_cfg, quick(epochs=2, max_steps=8, objective="all", seed=1),
                     progress=False, text=small_text)
    assert without_timing(c.history) != without_timing(a.history)


def test_the_test_set_is_read_once_after_the_last_epoch(small_text, monkeypatch):
    from charlm import best as best_module
    from charlm import train as train_module

    seen = []
    real = train_module.window_losses
    for module in (train_module, best_module):  # every evaluation, the best epoch's choice too
        monkeypatch.setattr(module, "window_losses",
                            lambda model, data, starts, *a: seen.append(starts.clone()) or real(
                                model, data, starts, *a))
    result = run_training(DATA, ModelConfig("gru", hidden_size=16), quick(epochs=3, max_steps=5),
                          progress=False, text=small_text)
    test = set(result.windows.test_starts.tolist())
    reads = [i for i, starts in enumerate(seen) if test & set(starts.tolist())]
    assert reads == [len(seen) - 1]  # one read of the test windows, the very last evaluation
    # validation after each of 3 epochs (the last also on the per-epoch windows, which choose
    # the best epoch), then the test set
    assert len(seen) == 5
    seen.clear()
    run_training(DATA, ModelConfig("gru", hidden_size=16), quick(epochs=1, max_steps=5),
                 progress=False, text=small_text, test=False)
    assert not any(test & set(starts.tolist()) for starts in seen)  # a sweep trial: never


def test_the_best_validation_epoch_is_kept_and_can_be_the_one_tested(small_text, tmp_path):
    from charlm.best import BestSoFar

    best = BestSoFar()  # the rule: a lower per-epoch validation loss is a new best epoch
    model, history = torch.nn.Linear(1, 1), []
    for epoch, loss in enumerate([2.0, 1.5, 1.7, 1.5], start=1):
        record = {"epoch": epoch}
        best.update(model, loss, record, history, None, None)
        history.append(record)
    assert [r["best_epoch"] for r in history] == [1, 2, 2, 2]  # a tie is not better

    kept, scripted = {}, {1: 3.0, 2: 2.0, 3: 2.5}  # epoch 2 the best: best.pt is not the last
    real = BestSoFar.update
    for test_model in ("last", "best"):
        out = tmp_path / test_model
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(BestSoFar, "update", lambda self, model, loss, record, *a: real(
                self, model, scripted[record["epoch"]], record, *a))
            result = run_training(DATA, ModelConfig("gru", hidden_size=16),
                                  quick(epochs=3, max_steps=5, test_model=test_model),
                                  out_dir=out, progress=False, text=small_text)
        last, kept[test_model] = result.history[-1], result.history
        assert [r["best_epoch"] for r in result.history] == [1, 2, 2]
        saved = load_checkpoint(out / "best.pt")
        assert saved["epoch"] == 2 and saved["optimizer"] is None
        model, _, _ = load_model(out / "best.pt")
        w = result.windows
        best_test = evaluate(model, w.data, w.test_starts, w.seq_len)["loss"]
        assert last["tested_epoch"] == (2 if test_model == "best" else 3)
        assert (last["test_loss"] == best_test) == (test_model == "best")
    # the same training and validation: only the model the test set scores differs
    assert without_timing(kept["last"][:2]) == without_timing(kept["best"][:2])
    assert kept["last"][-1]["val_loss"] == kept["best"][-1]["val_loss"]  # the last epoch's
    with pytest.raises(ParameterError, match="test_model=best.*no validation set"):
        run_training(DataConfig(max_chars=30_000), ModelConfig("gru", hidden_size=16),
                     quick(epochs=1, max_steps=2, test_model="best"), progress=False,
                     text=small_text)
