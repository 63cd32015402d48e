"""The search: trials on validation only, each model's choice, the shared setting, divergence."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from charlm.errors import ParameterError, PipelineError
from charlm.experiment import jobs
from charlm.experiment.jobs import model_configs
from charlm.experiment.profiles import resolve
from charlm.experiment.resuming import check_resumable
from charlm.experiment.run import Run
from charlm.experiment.steps import train_model, tune_models
from charlm.job import Job
from charlm.report.search_prose import shared_sentence
from charlm.stats import search as tuning

TINY = {"max_chars": 20_000, "hidden_size": 32, "max_steps": 6, "epochs": 2,
        "eval_windows": 200, "seeds": [0], "models": ["lstm", "gru"], "pairs": [],
        "tune_space": {"lr": [1e-2, 3e-2]}, "tune_seeds": [100, 101]}


@pytest.mark.slow
def test_the_search_reads_validation_only_and_training_follows_its_choice(tmp_path, monkeypatch,
                                                                          corpus_text):
    from charlm import train as train_module

    seen = []
    real = train_module.window_losses
    monkeypatch.setattr(train_module, "window_losses",
                        lambda model, data, starts, *a: seen.append(starts.clone()) or real(
                            model, data, starts, *a))
    run, spec = Run(tmp_path), resolve("smoke", TINY)
    trials = tune_models(run, spec, progress=False)
    test = _test_starts(spec)
    assert seen and not any(test & set(s.tolist()) for s in seen)  # never a test window
    assert len(trials) == 2 * 2 * 2 and trials["val_loss"].notna().all()
    assert "test_loss" not in trials and not list(run.tuning_dir.rglob("test_windows.pt"))
    # each model's choice: its lowest mean validation loss over the tune seeds
    means = trials.groupby(["model", "lr"])["val_loss"].mean()
    choice = run.read_choice()
    for model in ("lstm", "gru"):
        assert choice["chosen"][model] == {"lr": means[model].idxmin()}
    # training follows the choice, at the run's seeds; the test set is read once, at the end
    seen.clear()
    history = train_model(run, spec, "gru", progress=False)
    assert model_configs(run, spec, "gru", 0).train.lr == choice["chosen"]["gru"]["lr"]
    assert history["test_loss"].notna().sum() == 1
    assert [i for i, s in enumerate(seen) if test & set(s.tolist())] == [len(seen) - 1]
    # another search cannot reuse models trained at this one's choice: refused before any work
    run.write_spec(spec)
    with pytest.raises(PipelineError, match="gru-s0 trained at the choice of another search"):
        check_resumable(run, resolve("smoke", {**TINY, "tune_space": {"lr": [1e-2, 2e-2]}}))
    with pytest.raises(PipelineError, match="trial lstm lr=0.01 s100 max_steps: 6 -> 7"):
        check_resumable(run, resolve("smoke", {**TINY, "max_steps": 7}))
    check_resumable(run, resolve("smoke", {**TINY, "gen_length": 10}))  # fits: no refusal


@pytest.mark.slow
def test_a_trial_and_a_run_of_the_same_seed_and_setting_are_the_same_training(tmp_path,
                                                                             corpus_text):
    """Trials and runs take one code path: with the same seed and setting, the trial's
    validation loss and the run's are equal to the last bit (on the CPU). A gap between the
    search and the run's seeds is then seed noise, never the code."""
    spec = resolve("smoke", {**TINY, "tune_space": {"lr": [1e-2]}, "tune_seeds": [0],
                             "seeds": [0]})
    run = Run(tmp_path)
    trials = tune_models(run, spec, progress=False).set_index("model")
    history = train_model(run, spec, progress=False)
    last = history[history.epoch == history.epoch.max()].set_index("model")
    for model in ("lstm", "gru"):
        assert last.loc[model, "val_loss"] == trials.loc[model, "val_loss"]  # bit for bit


def _test_starts(spec) -> set:
    from charlm.data import make_windows

    return set(make_windows(spec.configs("lstm", 0).data).test_starts.tolist())


def test_training_refuses_to_run_before_the_search(tmp_path):
    with pytest.raises(PipelineError, match="run the tuning notebook"):
        train_model(Run(tmp_path), resolve("smoke", TINY), "lstm", progress=False)


def test_a_diverged_trial_is_a_result_and_never_chosen(tmp_path, corpus_text, capfd):
    spec = resolve("smoke", {**TINY, "tune_space": {"lr": [1e-2, 50.0]}, "tune_seeds": [100],
                             "grad_clip": None, "models": ["rnn", "gru"]})
    trials = tune_models(Run(tmp_path), spec, progress=False)
    assert "diverged; recorded, the search goes on" in capfd.readouterr().err
    bad = trials[trials.lr == 50.0]
    assert bad["diverged"].all() and bad["val_loss"].isna().all()
    assert Run(tmp_path).read_choice()["chosen"] == {"rnn": {"lr": 0.01}, "gru": {"lr": 0.01}}
    again = tune_models(Run(tmp_path), spec, progress=False)  # recorded: not trained again
    pd.testing.assert_frame_equal(trials, again)


def test_a_divergence_mark_left_by_other_settings_is_dropped(tmp_path):
    spec = resolve("smoke", TINY)
    [job, *_] = jobs.trials(Run(tmp_path), spec)
    job.folder.path.mkdir(parents=True)
    other = spec.configs("lstm", 100, {"lr": 0.5}).to_dict()
    job.folder.diverged.write_text(json.dumps({"message": "diverged", "configs": other}))
    assert not job.diverged() and not job.folder.diverged.exists()
    job.folder.diverged.write_text(json.dumps({"message": "diverged",
                                               "configs": job.configs.to_dict()}))
    assert job.diverged() and job.finished()
    assert isinstance(job, Job) and job.trial
    # a mark written by charlm 0.1, whose train config held how the run executed, still holds
    old = job.configs.to_dict()
    old["train"].update(device="auto", fused=True, deterministic=False, eval_batch_size=4096)
    job.folder.diverged.write_text(json.dumps({"message": "diverged", "configs": old}))
    assert job.diverged()


def test_a_model_whose_every_setting_diverged_stops_the_search_with_its_name():
    table = _table([("gru", "lr=0.01", 0.01, 0, math.nan), ("gru", "lr=0.02", 0.02, 0, math.nan),
                    ("lstm", "lr=0.01", 0.01, 0, 1.5), ("lstm", "lr=0.02", 0.02, 0, 1.4)])
    with pytest.raises(PipelineError, match="every setting of the search diverged for gru"):
        tuning.choose(table, {"lr": [0.01, 0.02]}, ["lstm", "gru"])


def _table(rows):
    return pd.DataFrame(rows, columns=["model", "setting", "lr", "seed", "val_loss"])


def test_choice_shared_setting_and_the_sentence():
    space = {"lr": [0.01, 0.02]}
    table = _table([
        ("lstm", "lr=0.01", 0.01, 0, 1.50), ("lstm", "lr=0.01", 0.01, 1, 1.52),
        ("lstm", "lr=0.02", 0.02, 0, 1.40), ("lstm", "lr=0.02", 0.02, 1, 1.42),
        ("gru", "lr=0.01", 0.01, 0, 1.45), ("gru", "lr=0.01", 0.01, 1, 1.47),
        ("gru", "lr=0.02", 0.02, 0, 1.60), ("gru", "lr=0.02", 0.02, 1, math.nan),
    ])
    choice = tuning.choose(table, space, ["lstm", "gru"])
    assert choice["chosen"] == {"lstm": {"lr": 0.02}, "gru": {"lr": 0.01}}
    assert choice["scores"]["gru"]["lr=0.02"] is None  # a diverged seed: no mean, never chosen
    assert choice["shared"] == {"lr": 0.01}  # the only setting every model finished
    assert choice["seeds_per_setting"] == 2
    sentence = shared_sentence(choice, ("lstm", "gru"))
    assert "+0.0500" in sentence and "-0.0500" in sentence and "flips" in sentence
    table.loc[table.model == "gru", "val_loss"] = [1.30, 1.30, 1.45, 1.45]
    choice = tuning.choose(table, space, ["lstm", "gru"])
    same = shared_sentence(choice, ("lstm", "gru"), base={"lr": 0.02})
    assert "The sign is the same either way" in same
    assert "At the run's own setting without a search (lr=0.02), lstm minus gru is -0.0400" in same
    # every difference carries its own standard error from its two settings' variances
    assert choice["variances"]["lstm"]["lr=0.02"] == pytest.approx(0.0002)
    assert choice["variances"]["gru"]["lr=0.01"] == 0.0
    assert "SE 0.0100, beyond its 95% noise band" in same  # the shared lr=0.01: +0.21
    noisy = {**choice, "variances": {m: {k: 0.09 for k in v}
                                     for m, v in choice["variances"].items()}}
    assert shared_sentence(noisy, ("lstm", "gru")).count("within its 95% noise band") == 2


def test_the_expected_best_of_k_trials():
    """Dodge et al. 2019: the expected minimum of k draws with replacement from the trials."""
    assert tuning.expected_best([1.0, 2.0, 3.0], 1) == pytest.approx(2.0)  # one trial: the mean
    assert tuning.expected_best([1.0, 2.0, 3.0], 2) == pytest.approx(14 / 9)  # 5/9, 3/9, 1/9
    assert tuning.expected_best([3.0, 1.0, 2.0], 200) == pytest.approx(1.0)
    table = _table([("lstm", "lr=0.01", 0.01, 0, 1.5), ("lstm", "lr=0.02", 0.02, 0, 1.4),
                    ("lstm", "lr=0.04", 0.04, 0, math.nan), ("gru", "lr=0.01", 0.01, 0, 1.3)])
    curve = tuning.expected_best_curve(table)
    lstm = curve[curve.model == "lstm"]
    assert list(lstm.trials) == [1, 2] and lstm.diverged.iloc[0] == 1
    assert lstm.expected_best.is_monotonic_decreasing
    assert lstm.expected_best.iloc[0] == pytest.approx(1.45)


def test_the_recheck_flags_a_gap_larger_than_the_noise():
    choice = {"chosen": {"lstm": {"lr": 0.02}}, "scores": {"lstm": {"lr=0.02": 1.421}},
              "seeds_per_setting": 2, "variances": {"lstm": {"lr=0.02": 0.00001}}}
    histories = pd.DataFrame({"model": "lstm", "seed": [0, 1, 2], "epoch": 1,
                              "val_loss": [1.454, 1.462, 1.470]})
    row = tuning.recheck(choice, histories).iloc[0]
    assert row["difference"] == pytest.approx(0.041) and row["beyond the noise"] == "yes"
    assert row["SE"] == pytest.approx(np.sqrt(0.00001 / 2 + 0.000064 / 3))
    histories["val_loss"] = [1.30, 1.45, 1.60]  # a noisy run: the same gap is within the noise
    assert tuning.recheck(choice, histories).iloc[0]["beyond the noise"] == "no"


def test_tuning_parameters_are_checked():
    with pytest.raises(ParameterError, match="'hidden_size' cannot be searched"):
        resolve("smoke", {"tune_space": {"hidden_size": [64, 128]}})
    with pytest.raises(ParameterError, match="lr=-1"):
        resolve("smoke", {"tune_space": {"lr": [0.01, -1]}})
    with pytest.raises(ParameterError, match="repeats"):
        resolve("smoke", {"tune_space": {"lr": [0.01, 0.01]}})
    with pytest.raises(ParameterError, match="needs validation windows"):
        resolve("smoke", {"val_frac": 0.0})  # smoke searches; nothing to score it on
    with pytest.raises(ParameterError, match="other seeds' test windows"):
        resolve("smoke", {"split_per_seed": True})
    with pytest.raises(ParameterError, match="cpus_per_run=1.5 is invalid"):
        resolve("smoke", {"cpus_per_run": 1.5})
    spec = resolve("smoke", {"tune_space": {"lr": (0.01, 0.02)}})  # as the run folder keeps it
    assert spec.search.tune_space == {"lr": [0.01, 0.02]}
    assert tuning.settings({"lr": [1, 2], "batch_size": [8, 16]})[1] == {"lr": 1,
                                                                         "batch_size": 16}
    assert tuning.setting_name({"batch_size": 64, "lr": 0.01}) == "batch_size=64,lr=0.01"
