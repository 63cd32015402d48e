import pytest
import torch

from charlm.config import ModelConfig
from charlm.data import Vocab
from charlm.errors import ParameterError, VocabularyError
from charlm.generate import DEFAULT_PROMPT, generate
from charlm.models import CharRNN


@pytest.fixture(scope="module")
def model_and_vocab(corpus_text):
    vocab = Vocab.from_text(corpus_text)
    torch.manual_seed(0)
    return CharRNN(vocab.size, ModelConfig("lstm")), vocab


def test_same_seed_same_text(model_and_vocab):
    model, vocab = model_and_vocab
    a = generate(model, vocab, length=60, seed=3)
    assert a == generate(model, vocab, length=60, seed=3)
    assert a != generate(model, vocab, length=60, seed=4)
    assert a.startswith(DEFAULT_PROMPT) and len(a) == len(DEFAULT_PROMPT) + 60
    assert set(a) <= set(vocab.chars)


def test_greedy_and_top_k(model_and_vocab):
    model, vocab = model_and_vocab
    assert generate(model, vocab, "ROMEO:", 30, greedy=True, seed=1) == generate(
        model, vocab, "ROMEO:", 30, greedy=True, seed=2
    )
    top1 = generate(model, vocab, "ROMEO:", 30, top_k=1, seed=5)
    assert top1 == generate(model, vocab, "ROMEO:", 30, greedy=True)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"prompt": ""}, ParameterError, "prompt is empty"),
        ({"prompt": "Zoë ~ {x}"}, VocabularyError, r"4 character.*'\{', '\}', '~', 'ë'"),
        ({"temperature": 0}, ParameterError, "temperature=0"),
        ({"temperature": -1.0}, ParameterError, "temperature=-1.0"),
        ({"length": 0}, ParameterError, "length=0"),
        ({"top_k": 0}, ParameterError, "top_k=0 .* between 1 and 65"),
        ({"top_k": 66}, ParameterError, "top_k=66"),
    ],
)
def test_bad_arguments(model_and_vocab, kwargs, error, match):
    model, vocab = model_and_vocab
    with pytest.raises(error, match=match):
        generate(model, vocab, **kwargs)
