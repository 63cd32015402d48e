"""The time estimate charlm report says before training: measured here, scaled by the counts."""

from charlm.experiment import estimate
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run


def test_the_estimate_scales_a_measured_pace_by_the_runs_counts(tmp_path, monkeypatch):
    spec = resolve("smoke", {"models": ["lstm", "gru"], "seeds": [0, 1], "max_steps": 10})
    probes = []
    real = estimate._probe

    def probe(configs, spec, windows):
        probes.append(configs.model.cell)
        per_step, per_window = real(configs, spec, windows)
        assert per_step > 0 and per_window > 0
        return 0.5, 1e-4  # a fixed pace: the total is the counts' arithmetic

    monkeypatch.setattr(estimate, "_probe", probe)
    left = estimate.seconds_left(Run(tmp_path), spec)
    assert probes == ["lstm", "gru"]  # each model timed once, whatever its seeds and trials
    # 2 trials (tune_seeds [100]) x 2 models and 4 runs, 2 epochs of 10 steps at 0.5 s; windows:
    # validation 1,000 per epoch + all 3,198 after the last, and the 7,996 test windows per run
    trials, runs = 2 * 2, 2 * 2
    steps = (trials + runs) * 20 * 0.5
    windows = (trials + runs) * (1000 * 2 + 3198) + runs * 7996
    assert left == steps + windows * 1e-4
    assert estimate.say(45) == "45 s" and estimate.say(600) == "10 min"
