import pytest

from charlm.config import Configs, DataConfig, ModelConfig, RunConfig, TrainConfig
from charlm.errors import ParameterError


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: ModelConfig(cell="transformer"), "cell='transformer'.*lstm, gru, rnn"),
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
        (lambda: RunConfig(temperatures=[0]), "temperatures=0"),
        (lambda: RunConfig(prompts=[""]), "non-empty string"),
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
