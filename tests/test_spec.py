"""One typed description of a run: profiles resolved, configs per model and seed, comparisons."""

import json

import pytest

from charlm.errors import ParameterError
from charlm.profiles import PROFILES
from charlm.spec import RunSpec, resolve


def test_every_profile_resolves_and_round_trips_through_json():
    for name in PROFILES:
        spec = resolve(name)
        assert spec.profile == name
        assert RunSpec.from_params(json.loads(json.dumps(spec.params()))) == spec


def test_reference_is_the_faithful_run_and_seed_its_deprecated_name(capsys):
    spec = resolve("reference")
    assert (spec.train.objective, spec.train.epochs, spec.train.batch_size, spec.train.lr,
            spec.data.split, spec.train.min_lr) == ("last", 30, 128, 1e-3, "random", None)
    assert capsys.readouterr().err == ""
    old = resolve("seed")
    assert old == spec
    err = capsys.readouterr().err
    assert "'seed' is deprecated, use 'reference'" in err and err.count("\n") == 1


def test_configs_for_model_and_seed():
    spec = resolve("smoke")
    cfg = spec.configs("gru-h149@contiguous", seed=1)
    assert (cfg.model.cell, cfg.model.hidden_size, cfg.data.split, cfg.train.seed) == (
        "gru", 149, "contiguous", 1)
    assert spec.configs("lstm", 0).data.split == "random"
    assert spec.configs().train.seed == spec.train.seed


def test_comparisons_main_pair_first_each_once():
    spec = resolve("smoke", {"pairs": [["lstm", "gru"], ["lstm", "rnn"]]})
    assert spec.main_pair == ("lstm", "gru")
    assert spec.comparisons() == [("lstm", "gru"), ("lstm", "rnn")]


@pytest.mark.parametrize("overrides,match", [
    ({"epoch": 3}, "unknown parameter.*epoch"),
    ({"seeds": []}, "seeds=.*non-empty list"),
    ({"jobs": 0}, "jobs=0"),
])
def test_bad_overrides_are_refused(overrides, match):
    with pytest.raises(ParameterError, match=match):
        resolve("smoke", overrides)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ParameterError, match="choose one of smoke, fast, reference, study, auto"):
        resolve("fastest")
