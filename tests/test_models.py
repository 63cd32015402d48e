import pytest
import torch
import torch.nn.functional as F

from charlm.config import ModelConfig
from charlm.fused import fused_rnn
from charlm.models import CharRNN, num_parameters, size_mb


@pytest.mark.parametrize("cell,params,mb", [("lstm", 240_321, 0.92), ("gru", 182_337, 0.70)])
def test_reference_sizes(cell, params, mb):
    model = CharRNN(65, ModelConfig(cell))
    assert num_parameters(model) == params
    assert round(size_mb(model), 2) == mb
    assert size_mb(model.state_dict()) == size_mb(model)  # what the runs table computes
    assert num_parameters(model.state_dict()) == params


def test_parameter_matched_gru():
    assert num_parameters(CharRNN(65, ModelConfig("gru", hidden_size=149))) == 240_402


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_shapes_and_state(cell):
    model = CharRNN(65, ModelConfig(cell))
    x = torch.randint(0, 65, (4, 20))
    logits, state = model(x)
    assert logits.shape == (4, 20, 65)
    last, _ = model(x, last_only=True)
    assert last.shape == (4, 65)
    torch.testing.assert_close(last, logits[:, -1])
    if cell == "lstm":
        assert isinstance(state, tuple) and state[0].shape == state[1].shape == (2, 4, 128)
    else:
        assert isinstance(state, torch.Tensor) and state.shape == (2, 4, 128)


@pytest.mark.parametrize("last_only", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fused_layers_match_pytorch(cell, last_only):
    """Outputs and every parameter gradient equal nn.LSTM/GRU/RNN's (float64)."""
    torch.manual_seed(0)
    model = CharRNN(11, ModelConfig(cell, hidden_size=16, num_layers=3)).double()
    x = torch.randint(0, 11, (5, 7))
    weights = torch.randn(7, 5, 16, dtype=torch.float64)
    if last_only:  # objective "last": a gradient at the final step only
        weights[:-1] = 0
    ref, _ = model.rnn(F.one_hot(x, 11).double())
    (ref.transpose(0, 1) * weights).sum().backward()
    ref_grads = [p.grad.clone() for p in model.rnn.parameters()]
    model.zero_grad()
    out = fused_rnn(model.rnn, x, last_only)
    (out * weights).sum().backward()
    torch.testing.assert_close(out, ref.transpose(0, 1))
    for p, g in zip(model.rnn.parameters(), ref_grads):
        torch.testing.assert_close(p.grad, g)


def test_fused_model_forward_equals_plain():
    torch.manual_seed(0)
    model = CharRNN(65, ModelConfig("lstm"))
    x = torch.randint(0, 65, (8, 20))
    plain, _ = model(x)
    fused_model = CharRNN(65, ModelConfig("lstm"), fused=True)
    fused_model.load_state_dict(model.state_dict())
    fused, _ = fused_model(x)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)


def test_training_flops_are_six_per_weight_and_token():
    """A training step costs 6 FLOPs per multiply-add weight and predicted token (forward 2,
    backward 4); the one-hot input is a lookup and costs none."""
    from charlm.models import training_flops

    model = CharRNN(65, ModelConfig("lstm"))
    rnn_weights = sum(p.numel() for n, p in model.rnn.named_parameters()
                      if n.startswith("weight") and n != "weight_ih_l0")
    head = model.head.weight.numel()
    assert training_flops(65, model.cfg, 128, 20, "all") == 6 * 128 * 20 * (rnn_weights + head)
    assert training_flops(65, model.cfg, 128, 20, "last") == 6 * 128 * (20 * rnn_weights + head)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_large_vocabulary_looks_its_input_up_with_the_one_hot_numbers(cell):
    """Wider than the gates (700 > 4 x 16): the input is a lookup, no one-hot tensor is built,
    and the output is the one-hot path's to the bit; gradients to rounding; state carries on."""
    torch.manual_seed(0)
    model = CharRNN(700, ModelConfig(cell, hidden_size=16))
    x = torch.randint(0, 700, (8, 12))
    logits, state = model(x)
    onehot_out, onehot_state = model.rnn(F.one_hot(x, 700).float())
    assert torch.equal(logits, model.head(onehot_out))
    more, _ = model(x[:, :3], state=state)  # generation: from a state
    expected, _ = model.rnn(F.one_hot(x[:, :3], 700).float(), onehot_state)
    assert torch.equal(more, model.head(expected))
    logits.logsumexp(-1).sum().backward()
    lookup = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.head(model.rnn(F.one_hot(x, 700).float())[0]).logsumexp(-1).sum().backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(lookup[name], p.grad, rtol=1e-5, atol=1e-6)
    assert set(model.state_dict()) == set(CharRNN(65, ModelConfig(cell)).state_dict())
    model.eval()
    with torch.inference_mode():  # evaluation on the CPU: the fused lookup, to rounding
        torch.testing.assert_close(model(x, last_only=True)[0], model.head(
            model.rnn(F.one_hot(x, 700).float())[0][:, -1]), rtol=1e-5, atol=1e-6)


def test_dropout_acts_in_training_only_and_is_searchable():
    from charlm.errors import ParameterError
    from charlm.experiment.profiles import resolve

    torch.manual_seed(0)
    model = CharRNN(65, ModelConfig("lstm", hidden_size=16, dropout=0.5), fused=True)
    plain = CharRNN(65, ModelConfig("lstm", hidden_size=16))
    plain.load_state_dict(model.state_dict())  # dropout adds no parameter
    x = torch.randint(0, 65, (4, 10))
    a, b = model(x)[0], model(x)[0]  # training: two masks (and the torch layers, not fused)
    assert not torch.equal(a, b) and a.requires_grad
    model.eval()
    plain.eval()
    assert torch.equal(model(x)[0], plain(x)[0])  # evaluation: no dropout
    spec = resolve("smoke", {"dropout": 0.2, "tune_space": {"dropout": [0.0, 0.3]}})
    assert spec.configs("gru-h149", 0).model.dropout == 0.2
    assert spec.configs("gru-h149", 0, {"dropout": 0.3}).model.dropout == 0.3
    assert spec.base_setting() == {"dropout": 0.2}
    with pytest.raises(ParameterError, match="dropout=1.*below 1"):
        ModelConfig(dropout=1)
    with pytest.raises(ParameterError, match="batched=true.*dropout"):
        resolve("smoke", {"dropout": 0.2, "batched": True})
