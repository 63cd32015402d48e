import pytest

from charlm.config import DataConfig, ModelConfig, TrainConfig, split_params
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
    ],
)
def test_invalid_values_are_named(make, match):
    with pytest.raises(ParameterError, match=match):
        make()


def test_unknown_parameter_is_refused():
    with pytest.raises(ParameterError, match="unknown parameter.*: epoch\\b"):
        split_params({"epoch": 3})


def test_split_params_builds_configs():
    out = split_params(
        {"cell": "gru", "epochs": 2, "split": "contiguous", "seeds": [1]}, extra={"seeds"}
    )
    assert out["model"].cell == "gru" and out["train"].epochs == 2
    assert out["data"].split == "contiguous" and out["seeds"] == [1]
