"""Every kind of model through one protocol: the Transformer, minGRU/minLSTM, the user's class."""

import dataclasses
import math
import sys

import pytest
import torch

from charlm import models
from charlm.checkpoint import load_model
from charlm.config import DataConfig, ModelConfig, TrainConfig, parse_model_name
from charlm.errors import ParameterError
from charlm.experiment.options import RunConfig
from charlm.experiment.pipeline import run_report
from charlm.folder import ModelFolder
from charlm.kinds import KIND_NAME, fields_read, kinds, model_label
from charlm.models import (
    build,
    check,
    describe,
    forward_flops,
    num_parameters,
    resolved,
    training_flops,
)
from charlm.models.minrnn import coefficients, log_scan, scan, sequential
from charlm.project import PROJECT_ROOT
from charlm.train import run_training

MY_CELL = "examples/my_cell.py:MyCell"


def forget_user_modules(monkeypatch):
    """The user's files are imported afresh on the next build, as in a new process."""
    for name in [n for n in sys.modules if n.startswith("charlm_user_")]:
        monkeypatch.delitem(sys.modules, name)


def test_every_kind_is_found_from_its_module():
    assert kinds()[:3] == ("lstm", "gru", "rnn")  # the reference's cells first
    assert {"mingru", "minlstm", "transformer"} <= set(kinds())  # a new kind adds to these
    assert all(KIND_NAME.fullmatch(k) for k in kinds())  # each can be named in `models`
    assert fields_read("transformer") == ("hidden_size", "num_layers", "dropout", "width",
                                          "heads")


def test_only_a_kind_that_reads_width_is_matched_and_a_width_that_changes_nothing_is_refused(
        monkeypatch):
    assert resolved(ModelConfig("lstm"), 65, 20).width is None  # sized by hidden_size
    assert parse_model_name("mingru-h64")[0].width == 64  # -h sets what the kind is sized by
    assert parse_model_name("gru-h64")[0].hidden_size == 64

    class Fixed:  # a kind whose size ignores its width
        @staticmethod
        def build(vocab_size, cfg, seq_len, fused=False):
            return torch.nn.Linear(3, 3)

    real = models.kind_module  # the LSTM it is matched to stays itself
    monkeypatch.setattr(models, "kind_module", lambda cell: Fixed if cell == "mingru" else
                        real(cell))
    models.matched_width.cache_clear()
    try:
        with pytest.raises(ValueError, match="does not grow with its width"):
            models.matched_width("mingru", 65, 20, 128, 2, 4)  # built as Fixed
    finally:
        models.matched_width.cache_clear()


def test_a_field_a_kind_never_reads_leaves_its_config_alone():
    base, other = ModelConfig(), ModelConfig(heads=8, width=64, model_args={"k": 1})
    for name in ("lstm", "gru-h149", "mingru"):
        assert (parse_model_name(name, base)[0] == parse_model_name(name, other)[0]) is (
            name != "mingru")  # mingru reads the width
    assert parse_model_name("mingru", other)[0].heads == 4
    assert parse_model_name("transformer", other)[0].heads == 8
    assert parse_model_name(MY_CELL, other)[0].model_args == {"k": 1}
    with pytest.raises(ParameterError, match="would be printed as 'MyCell'"):
        RunConfig(models=[MY_CELL, "other/my_cell.py:MyCell"])


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
@pytest.mark.parametrize("steps", [1, 7, 20, 33])
def test_the_parallel_scan_equals_the_sequential_recurrence(kind, steps):
    torch.manual_seed(0)
    pre = torch.randn(3, steps, 3 * 8 if kind == "minlstm" else 2 * 8, dtype=torch.float64) * 3
    a, b = coefficients(kind, pre)
    h0 = torch.rand(3, 8, dtype=torch.float64) + 0.1
    torch.testing.assert_close(scan(a, b), sequential(a, b))
    torch.testing.assert_close(scan(a, b, h0), sequential(a, b, h0))
    torch.testing.assert_close(scan(a, b), log_scan(a, b))  # the paper's log-space form
    # the coefficients are the paper's: minGRU's a = 1 - z; minLSTM's a = f / (f + i)
    if kind == "mingru":
        torch.testing.assert_close(a, 1 - torch.sigmoid(pre[..., :8]))
    else:
        f, i = torch.sigmoid(pre[..., :8]), torch.sigmoid(pre[..., 8:16])
        torch.testing.assert_close(a, f / (f + i))
    assert (a > 0).all() and (a < 1).all() and (b > 0).all()


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_a_min_rnn_continues_a_window_from_its_state(kind):
    torch.manual_seed(0)
    model = build(11, ModelConfig(kind, width=8), seq_len=10).eval()
    x = torch.randint(0, 11, (2, 10))
    whole, _ = model(x)
    first, state = model(x[:, :6])
    rest, _ = model(x[:, 6:], state=state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)


def test_the_transformer_is_causal():
    torch.manual_seed(0)
    model = build(11, ModelConfig("transformer", width=16, heads=4), seq_len=10).eval()
    x = torch.randint(0, 11, (2, 10))
    before, _ = model(x)
    for t in range(10):
        y = x.clone()
        y[:, t] = (y[:, t] + 1) % 11
        after, _ = model(y)
        torch.testing.assert_close(after[:, :t], before[:, :t])  # nothing before t moves
        assert not torch.allclose(after[:, t], before[:, t])  # position t itself does
    last, _ = model(x, last_only=True)
    torch.testing.assert_close(last, before[:, -1])
    with pytest.raises(ValueError, match="longer than the 10 positions"):
        model(torch.zeros(1, 11, dtype=torch.long))


def test_the_new_kinds_match_the_lstms_parameters():
    lstm = num_parameters(build(65, ModelConfig("lstm"), 20))
    assert lstm == 240_321
    widths = {k: resolved(ModelConfig(k), 65, 20).width for k in ("transformer", "mingru",
                                                                  "minlstm")}
    assert widths == {"transformer": 96, "mingru": 189, "minlstm": 165}
    counts = {k: num_parameters(build(65, ModelConfig(k), 20)) for k in widths}
    assert counts["transformer"] == 238_337
    for kind, count in counts.items():  # the nearest a width step can get
        step = 4 if kind == "transformer" else 1
        others = [num_parameters(build(65, ModelConfig(kind, width=widths[kind] + d), 20))
                  for d in (-step, step)]
        assert all(abs(count - lstm) <= abs(o - lstm) for o in others)
    # a width given by name is kept; the matched width stays None in the config a checkpoint
    # stores, and the model built from it is the matched one
    assert parse_model_name("transformer-h128")[0].width == 128
    assert parse_model_name("gru-h149")[0].hidden_size == 149
    assert build(65, ModelConfig("mingru"), 20).cfg.width is None


def test_flops_per_step_are_counted_for_every_kind():
    for kind in ("transformer", "mingru"):
        cfg = ModelConfig(kind)
        all_positions = training_flops(65, cfg, 128, 20, "all")
        assert training_flops(65, cfg, 256, 20, "all") == 2 * all_positions
        assert training_flops(65, cfg, 128, 20, "last") < all_positions
        # at least the products of every weight matrix, 6 FLOPs each per position
        weights = sum(p.numel() for n, p in build(65, cfg, 20).named_parameters()
                      if p.dim() == 2 and "embed" not in n and "position" not in n)
        assert all_positions >= 6 * 128 * 20 * weights
    # the Transformer's: every weight matrix once per position, and attention's two products
    # over the 20 x 20 square per layer (counted on the CPU too, where torch has no formula)
    cfg = ModelConfig("transformer")
    weights = sum(p.numel() for n, p in build(65, cfg, 20).named_parameters()
                  if p.dim() == 2 and "embed" not in n and "position" not in n)
    assert forward_flops(65, cfg, 20, False) == 2 * 20 * weights + 2 * (2 * 2 * 20 * 20 * 96)
    info = describe(65, ModelConfig("transformer"), 20)
    assert (info["kind"], info["width"], info["layers"], info["parameters"]) == (
        "transformer", 96, 2, 238_337)


def test_a_user_class_is_built_from_the_run_parameters_it_declares():
    cfg, split = parse_model_name(MY_CELL + "@contiguous", ModelConfig(hidden_size=24))
    assert (cfg.cell, split, model_label(MY_CELL + "@contiguous")) == (MY_CELL, "contiguous",
                                                                      "MyCell@contiguous")
    model = build(11, cfg, 20)
    assert model.net.hidden_size == 24  # from the run's hidden_size
    logits, state = model(torch.randint(0, 11, (3, 20)))
    assert logits.shape == (3, 20, 11) and state.shape == (3, 24)
    assert describe(11, cfg, 20)["layers"] is None  # MyCell says nothing of layers
    with pytest.raises(ParameterError, match=r"model_args \['kernel'\].*does not take"):
        check(11, dataclasses.replace(cfg, model_args={"kernel": 3}), 20)
    with pytest.raises(ParameterError, match="no such file"):
        check(11, dataclasses.replace(cfg, cell="examples/none.py:MyCell"), 20)
    with pytest.raises(ParameterError, match="no torch.nn.Module subclass named 'Nope'"):
        check(11, dataclasses.replace(cfg, cell="examples/my_cell.py:Nope"), 20)


def test_a_user_class_is_refused_by_name_for_what_it_lacks(tmp_path):
    (tmp_path / "cells.py").write_text(
        "import torch.nn as nn\n\n"
        "class NeedsKernel(nn.Module):\n"
        "    def __init__(self, vocab_size, kernel):\n"
        "        super().__init__()\n"
        "        self.head = nn.Linear(1, vocab_size)\n\n"
        "class WrongShape(nn.Module):\n"
        "    def __init__(self, vocab_size):\n"
        "        super().__init__()\n"
        "        self.head = nn.Embedding(vocab_size, 3)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(x)\n\n"
        "class NoState(WrongShape):\n"
        "    def __init__(self, vocab_size):\n"
        "        super().__init__(vocab_size)\n"
        "        self.head = nn.Embedding(vocab_size, vocab_size)\n\n"
        "class Broken(nn.Module):\n"
        "    def __init__(self, vocab_size):\n"
        "        raise RuntimeError('my bug')\n")
    path = f"{tmp_path / 'cells.py'}"
    with pytest.raises(ParameterError, match=r"NeedsKernel needs kernel.*model_args"):
        check(11, ModelConfig(f"{path}:NeedsKernel"), 20)
    with pytest.raises(ParameterError, match=r"logits of shape \(1, 20, 3\).*\(1, 20, 11\)"):
        check(11, ModelConfig(f"{path}:WrongShape"), 20)
    with pytest.raises(ParameterError, match="given a state, but its forward takes no state="):
        build(11, ModelConfig(f"{path}:NoState"), 20)(torch.zeros(1, 20, dtype=torch.long),
                                                       state=torch.zeros(1))
    with pytest.raises(RuntimeError, match="my bug"):
        check(11, ModelConfig(f"{path}:Broken"), 20)


def test_a_user_models_checkpoint_reloads(small_text, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the file is found from the checkout as well
    data = DataConfig(max_chars=20_000, val_frac=0.1)
    train = TrainConfig(epochs=1, max_steps=5, batch_size=32, lr=1e-2, eval_windows=100,
                        objective="all")
    cfg, _ = parse_model_name(MY_CELL, ModelConfig(hidden_size=16))
    result = run_training(data, cfg, train, tmp_path / "mine", progress=False, text=small_text)
    assert math.isfinite(result.history[-1]["test_loss"])
    capsys.readouterr()
    model, vocab, ckpt = load_model(ModelFolder(tmp_path / "mine").checkpoint)
    assert "user code, examples/my_cell.py:MyCell" in capsys.readouterr().err
    assert ckpt["configs"]["model"]["cell"] == MY_CELL  # what to import, as plain data
    x = torch.randint(0, vocab.size, (2, 20))
    torch.testing.assert_close(model.eval()(x)[0], result.model.eval()(x)[0])
    assert (PROJECT_ROOT / "examples" / "my_cell.py").exists()
    assert ckpt["source"]["file"] == str(PROJECT_ROOT / "examples" / "my_cell.py")
    forget_user_modules(monkeypatch)
    fresh, _, _ = load_model(ModelFolder(tmp_path / "mine").checkpoint)
    torch.testing.assert_close(fresh.eval()(x)[0], result.model.eval()(x)[0])
    assert "warning" not in capsys.readouterr().err


def test_reloading_a_user_model_from_an_edited_file_says_so(small_text, tmp_path, capsys,
                                                           monkeypatch):
    cell = tmp_path / "cell.py"
    cell.write_text((PROJECT_ROOT / "examples" / "my_cell.py").read_text())
    data = DataConfig(max_chars=20_000, val_frac=0.1)
    train = TrainConfig(epochs=1, max_steps=2, batch_size=32, eval_windows=50)
    cfg = ModelConfig(f"{cell}:MyCell", hidden_size=8)
    run_training(data, cfg, train, tmp_path / "mine", progress=False, text=small_text)
    cell.write_text(cell.read_text() + "\n# edited after training\n")
    forget_user_modules(monkeypatch)
    capsys.readouterr()
    load_model(ModelFolder(tmp_path / "mine").checkpoint)
    assert "differs from the one it was trained with" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["transformer", "mingru"])
def test_the_new_kinds_train_and_reload(small_text, tmp_path, kind):
    data = DataConfig(max_chars=20_000, val_frac=0.1)
    train = TrainConfig(epochs=1, max_steps=20, batch_size=32, lr=3e-3, eval_windows=200,
                        objective="all")
    result = run_training(data, ModelConfig(kind, width=32), train, tmp_path / kind,
                          progress=False, text=small_text)
    assert result.history[-1]["val_loss"] < math.log(result.windows.vocab.size)
    model, _, _ = load_model(ModelFolder(tmp_path / kind).checkpoint)
    x = torch.randint(0, result.windows.vocab.size, (2, 20))
    torch.testing.assert_close(model.eval()(x)[0], result.model.eval()(x)[0])


@pytest.mark.slow
def test_a_user_model_goes_through_the_whole_chain(tmp_path, corpus_text, monkeypatch):
    """The user's file, named relative to the folder the command runs in, through every
    notebook (their kernels run in the run folder): trained, compared, printed by its name."""
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "mine.py").write_text(
        (PROJECT_ROOT / "examples" / "my_cell.py").read_text())
    monkeypatch.chdir(tmp_path)
    model = "cells/mine.py:MyCell"
    models = ["lstm", "transformer", "mingru", model]  # the command, on a smaller budget
    run = run_report("smoke", {"models": models, "max_steps": 4, "epochs": 1},
                     reports_dir=tmp_path / "reports", figures_dir=None, progress=False)
    runs = run.read_runs()
    assert list(dict.fromkeys(runs.model)) == models and runs.test_loss.notna().all()
    assert (run.models_dir / "cells_mine.py_MyCell-s0").is_dir()
    assert set(run.read_choice()["chosen"]) == set(models)  # each searched its learning rate
    report = run.report_md.read_text(encoding="utf-8")
    assert "# LSTM vs TRANSFORMER vs MINGRU vs MyCell on" in report
    arch = report.split("## Model Architectures")[1].split("##")[0]
    assert "| MyCell |" not in arch and f"| {model} | {model} |" in arch  # name, kind
    assert "| transformer | transformer |" in arch and "| mingru | mingru |" in arch
    with pytest.raises(ParameterError, match="no such file"):  # refused before any work
        run_report("smoke", {"models": ["lstm", "cells/none.py:MyCell"]},
                   reports_dir=tmp_path / "other", figures_dir=None, progress=False)
    assert not (tmp_path / "other").exists()
