"""One typed description of a run: profiles resolved, configs per model and seed, comparisons."""

import json

import pytest

from charlm.data import check_comparable
from charlm.errors import CorpusError, ParameterError
from charlm.experiment.pipeline import run_report
from charlm.experiment.profiles import PROFILES, parse_override, resolve
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec
from charlm.report.tables import corpus_name


def test_every_profile_resolves_and_round_trips_through_json():
    for name in PROFILES:
        spec = resolve(name)
        assert spec.profile == name
        assert RunSpec.from_params(json.loads(json.dumps(spec.params()))) == spec


def test_reference_is_the_faithful_run(capsys):
    spec = resolve("reference")
    assert (spec.train.objective, spec.train.epochs, spec.train.batch_size, spec.train.lr,
            spec.data.split, spec.train.min_lr) == ("last", 30, 128, 1e-3, "random", None)
    assert capsys.readouterr().err == ""
    with pytest.raises(ParameterError, match="profile='seed' is unknown"):
        resolve("seed")


def test_the_removed_jobs_parameter_points_to_ray_and_old_run_folders_still_read(tmp_path):
    with pytest.raises(ParameterError, match="jobs was removed: several runs at once are "
                                             "executor=ray"):
        resolve("smoke", {"jobs": 2})
    run = Run(tmp_path)  # a run folder of charlm 0.1, which stored jobs
    run.params_file.write_text(json.dumps({**resolve("smoke").params(), "jobs": 3}))
    assert run.read_spec() == resolve("smoke") and "jobs" not in run.read_params()


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
    ({"jobs": 0}, "jobs was removed"),
])
def test_bad_overrides_are_refused(overrides, match):
    with pytest.raises(ParameterError, match=match):
        resolve("smoke", overrides)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ParameterError,
                       match="choose one of smoke, fast, reference, study, tune, zoo, auto"):
        resolve("fastest")


def test_split_per_seed_gives_each_seed_its_own_split():
    spec = resolve("smoke", {"split_per_seed": True, "tune_space": {}})
    assert [spec.configs("lstm", s).data.split_seed for s in (0, 1, 2)] == [0, 1, 2]
    assert resolve("smoke").configs("lstm", 2).data.split_seed == 0
    with pytest.raises(ParameterError, match="split_per_seed"):
        resolve("smoke", {"split_per_seed": True, "batched": True, "tune_space": {}})


def test_val_frac_is_checked_and_the_reference_keeps_80_20():
    assert resolve("reference").data.val_frac == 0
    assert resolve("fast").data.val_frac == resolve("smoke").data.val_frac == 0.1
    with pytest.raises(ParameterError, match="val_frac"):
        resolve("smoke", {"val_frac": 1.0})


def test_the_title_names_the_corpus():
    assert corpus_name("", None) == "Tiny Shakespeare"
    assert corpus_name("/data/moby.txt", 5000) == "`moby.txt` (first 5,000 characters)"
    assert corpus_name("/data/moby.txt", 5000, 5000) == "`moby.txt` (first 5,000 characters)"
    assert corpus_name("/data/tiny.txt", 40_000, 3_000) == "`tiny.txt` (all 3,000 characters)"


def test_a_text_too_short_to_compare_is_refused_before_any_training(tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("To be, or not to be: that is the question.", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"42 characters: 5 test windows \(at least 200.*"
                                          r"1 validation windows.*at least 1,016 characters"):
        run_report("smoke", {"corpus": str(tiny)}, reports_dir=tmp_path / "reports",
                   progress=False)
    assert not (tmp_path / "reports").exists()  # refused before any folder or training
    tiny.write_text("To be, or not to be. " * 50, encoding="utf-8")  # 1,050: enough
    check_comparable(resolve("smoke").data, tiny.read_text(encoding="utf-8"))


def test_a_pair_given_both_ways_is_one_comparison():
    spec = resolve("smoke", {"pairs": [["gru", "lstm"], ["lstm", "rnn"], ["rnn", "lstm"]]})
    assert spec.comparisons() == [("lstm", "gru"), ("lstm", "rnn")]


def test_the_profiles_pairs_follow_the_models_a_user_gives():
    spec = resolve("smoke", {"models": ["lstm", "gru"]})  # smoke's pairs name rnn, lstm@contiguous
    assert spec.run.pairs == [] and spec.comparisons() == [("lstm", "gru")]
    kept = resolve("smoke", {"models": ["lstm", "gru", "rnn"]})
    assert kept.run.pairs == [["lstm", "rnn"]]
    with pytest.raises(ParameterError, match="pairs.*rnn.*invalid"):  # a pair the user names
        resolve("smoke", {"models": ["lstm", "gru"], "pairs": [["lstm", "rnn"]]})


@pytest.mark.parametrize("typed,value", [
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False),
    ("null", None), ("None", None), ("none", None), ("3", 3), ("1e-2", 0.01),
    ("[true, null]", [True, None]), ("['lstm','gru']", ["lstm", "gru"]), ("lstm", "lstm"),
    ('{"lr": [0.01, 0.02]}', {"lr": [0.01, 0.02]}),
])
def test_values_are_read_the_way_users_type_them(typed, value):
    """-p flag=true is what the README writes and what --show prints: accepted, as are Python's
    True/False/None, literals and JSON."""
    assert parse_override(f"key={typed}") == ("key", value)


def test_the_readme_boolean_overrides_resolve():
    for flag in ("split_per_seed", "batched", "deterministic", "fused", "compile_step"):
        for typed in ("true", "false"):
            key, value = parse_override(f"{flag}={typed}")
            spec = resolve("smoke", {key: value, **({"tune_space": {}} if key ==
                                                    "split_per_seed" else {})})
            assert spec.params()[key] is (typed == "true")


def test_a_run_folder_from_before_a_parameter_was_added_reads_at_its_value(tmp_path):
    spec = resolve("smoke")
    old = {k: v for k, v in spec.params().items() if k not in ("dropout", "test_model")}
    (tmp_path / "params.json").write_text(json.dumps(old), encoding="utf-8")
    assert Run(tmp_path).read_params() == spec.params()  # nothing changed: its models resume


def test_per_model_settings_reach_only_their_model_and_a_search_replaces_them():
    spec = resolve("smoke", {"per_model": {"lstm": {"lr": 0.02, "dropout": 0.1}},
                             "tune_space": {}})
    lstm, gru = spec.configs("lstm", 0), spec.configs("gru", 0)
    assert (lstm.train.lr, lstm.model.dropout) == (0.02, 0.1)
    assert (gru.train.lr, gru.model.dropout) == (spec.train.lr, 0.0)
    assert spec.configs("lstm", 0, {"lr": 0.03}).train.lr == 0.03  # the search's setting wins
    assert spec.configs("lstm", 0, {"lr": 0.03}).model.dropout == 0.1


def test_a_profiles_per_model_settings_follow_the_models_given(monkeypatch):
    monkeypatch.setitem(PROFILES, "fast", {**PROFILES["fast"], "per_model": {
        "lstm": {"lr": 0.02}, "gru": {"lr": 0.01}}})
    assert resolve("fast", {"models": ["gru", "rnn"]}).run.per_model == {"gru": {"lr": 0.01}}
    assert resolve("fast").run.per_model == {"lstm": {"lr": 0.02}, "gru": {"lr": 0.01}}
    # a setting given for the whole run replaces the profile's per-model values of it
    spec = resolve("fast", {"lr": 0.005})
    assert spec.run.per_model == {} and spec.configs("lstm", 0).train.lr == 0.005
