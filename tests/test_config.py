import pytest

from charlm.config import (
    Configs,
    DataConfig,
    ExecutionConfig,
    ModelConfig,
    TrainConfig,
    field_help,
)
from charlm.errors import ParameterError
from charlm.experiment.options import GenerationConfig, RunConfig


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: ModelConfig(cell="transfomer"), "cell=.transfomer.*lstm, gru, rnn, mingru"),
        (lambda: ModelConfig(model_args={"a b": 1}), "model_args=.*keyword argument name"),
        (lambda: RunConfig(per_model={"rnn": {"lr": 1}}), "per_model: .rnn. is not one of"),
        (lambda: RunConfig(per_model={"lstm": {"epochs": 1}}), "cannot be set per model"),
        (lambda: RunConfig(per_model={"lstm": {"lr": -1}}), "lr=-1 is invalid"),
        (lambda: ModelConfig(hidden_size=0), "hidden_size=0.*positive integer"),
        (lambda: TrainConfig(epochs=-1), "epochs=-1"),
        (lambda: TrainConfig(batch_size=0), "batch_size=0"),
        (lambda: TrainConfig(lr=0.0), "lr=0.0.*positive number"),
        (lambda: TrainConfig(seed=1.5), "seed=1.5.*integer"),
        (lambda: TrainConfig(objective="every"), "objective='every'"),
        (lambda: DataConfig(seq_len=0), "seq_len=0"),
        (lambda: DataConfig(train_frac=1.0), "train_frac=1.0.*between 0 and 1"),
        (lambda: DataConfig(split="shuffled"), "split='shuffled'.*random, contiguous"),
        (lambda: RunConfig(models=["lstm"]), "a comparison needs two"),
        (lambda: RunConfig(models=["lstm", "tcn"]), "model name 'tcn' is invalid"),
        (lambda: RunConfig(seeds=[0, 0]), "must not repeat"),
        (lambda: RunConfig(pairs=[["lstm", "rnn"]]), "each pair is two of the models"),
        (lambda: GenerationConfig(temperatures=[0]), "temperatures=0"),
        (lambda: GenerationConfig(prompts=[""]), "non-empty string"),
        (lambda: ExecutionConfig(fused="yes"), "fused='yes' is invalid: use true or false"),
    ],
)
def test_invalid_values_are_named(make, match):
    with pytest.raises(ParameterError, match=match):
        make()


def test_unknown_parameter_is_refused():
    with pytest.raises(ParameterError, match="unknown parameter.*: epoch\\b"):
        Configs.from_flat({"epoch": 3})


def test_configs_from_flat_and_back():
    cfg = Configs.from_flat({"cell": "gru", "epochs": 2, "split": "contiguous"})
    assert cfg.model.cell == "gru" and cfg.train.epochs == 2 and cfg.data.split == "contiguous"
    assert Configs.from_dict(cfg.to_dict()) == cfg


def test_configs_hold_only_what_changes_the_numbers():
    execution = {f for f in ExecutionConfig.__dataclass_fields__}
    assert execution == {"device", "fused", "deterministic", "eval_batch_size", "precision",
                         "compile_step"}
    assert not execution & Configs.names()


def test_a_checkpoint_of_charlm_0_1_loads_without_its_execution_fields():
    old = Configs.from_flat({"cell": "gru"}).to_dict()
    old["train"].update(device="cpu", fused=True, deterministic=False, eval_batch_size=4096)
    assert Configs.from_dict(old) == Configs.from_flat({"cell": "gru"})


def test_every_field_declares_its_help():
    for cls in (DataConfig, ModelConfig, TrainConfig, ExecutionConfig, RunConfig,
                GenerationConfig):
        assert all(field_help(cls).values()), cls.__name__
