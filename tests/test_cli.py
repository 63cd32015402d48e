import json
import re
import subprocess
import sys

import pytest

from charlm.__main__ import build_parser, main, prog_name
from charlm.checkpoint import load_model
from charlm.experiment.profiles import resolve
from charlm.generate import stream
from charlm.reference import PROMPT


def test_help_runs():
    out = subprocess.run(
        [sys.executable, "-m", "charlm", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("train", "evaluate", "generate", "report", "compare", "--version"):
        assert command in out
    assert out.startswith("usage: python -m charlm ")  # as typed, not __main__.py


def test_prog_is_the_command_as_typed_and_choices_are_listed(capsys):
    assert prog_name("/venv/bin/charlm") == "charlm"
    assert prog_name("/src/charlm/__main__.py") == "python -m charlm"
    with pytest.raises(SystemExit):
        build_parser("charlm").parse_args(["report", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: charlm report ")
    assert "{smoke,fast,reference,study,tune,zoo,auto}" in out
    assert "tune       each model at its own learning rate" in out  # the profiles, described
    with pytest.raises(SystemExit):
        build_parser("charlm").parse_args(["train", "--help"])
    out = capsys.readouterr().out
    assert "--cell CELL" in out and "transformer" in out and "{auto,cpu,cuda,mps}" in out
    assert "Adam's (peak) learning rate (default 0.001)" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert re.fullmatch(r"charlm \d+\.\d+\.\d+\S* \(torch \S+, python \S+\)\n",
                        capsys.readouterr().out)
    import importlib.metadata

    import charlm

    assert importlib.metadata.version("charlm") == charlm.__version__  # declared once (dynamic)


def test_show_prints_the_resolved_parameters_without_running(capsys, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--profile", "fast", "--show", "-p", "epochs=3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("profile 'fast' (the CPU default")
    assert " + epochs = 3  # passes over the training windows" in out  # from -p
    assert " * lr = 0.01  # Adam's (peak) learning rate" in out  # from the profile
    assert "   hidden_size = 128  # units per recurrent layer" in out  # the default
    lines = [x for x in out.splitlines() if " = " in x]
    assert len(lines) == len(resolve("fast").params()) - 1  # every parameter but the profile
    assert all("  # " in x for x in lines), [x for x in lines if "  # " not in x]
    assert not (tmp_path / "reports").exists()  # nothing ran


def test_train_evaluate_generate(tmp_path, capsys, corpus_text):
    out = tmp_path / "gru"
    assert (
        main(
            [
                "train",
                "--cell",
                "gru",
                "--hidden-size",
                "32",
                "--epochs",
                "1",
                "--max-steps",
                "5",
                "--max-chars",
                "20000",
                "--eval-windows",
                "200",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert (out / "checkpoint.pt").exists() and (out / "history.csv").exists()
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.pt")]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["split"] == "random" and metrics["n_windows"] == 3996
    assert main(["generate", str(out / "checkpoint.pt"), "--length", "20"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("The quick brown fox") and len(text) == len(PROMPT) + 20 + 1
    model, vocab, _ = load_model(out / "checkpoint.pt")
    chunks = list(stream(model, vocab, PROMPT, 20, seed=0))  # what the command prints, as it goes
    assert chunks[0] == PROMPT and len(chunks) == 21 and "".join(chunks) + "\n" == text


def test_bad_input_exits_with_message(capsys, tmp_path):
    assert main(["train", "--cell", "tcn", "--out", str(tmp_path)]) == 2
    assert "cell='tcn' is invalid: allowed values are lstm, gru, rnn" in capsys.readouterr().err
    assert main(["train", "--hidden-size", "0", "--out", str(tmp_path)]) == 2
    assert "hidden_size=0 is invalid" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "missing.pt")]) == 2
    assert "No checkpoint" in capsys.readouterr().err


def _documented_report_commands() -> list[list[str]]:
    """Every `charlm report` command line the README and docs/ show, as arguments (`make report
    PROFILE=.. ARGS=".."` as the Makefile passes them on)."""
    import shlex

    from charlm.project import PROJECT_ROOT

    commands = []
    for path in [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("  #")[0].strip()
            if "python -m charlm report" in line and not line.startswith(("-", "`", "|")):
                commands.append(shlex.split(line.split("python -m charlm report", 1)[1]))
            elif line.startswith("make report ") and "=" in line:
                words = dict(w.split("=", 1) for w in shlex.split(line)[2:] if "=" in w)
                commands.append(["--profile", words.get("PROFILE", "auto"),
                                 *shlex.split(words.get("ARGS", ""))])
    return commands


def test_a_parameters_file_is_merged_under_p(capsys, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("# my run\nepochs: 1\nlr: 3e-2\nmodels: [lstm, gru]\ntune-space: "
                      "{min_lr: [1e-4, 1e-3]}\nfused: true\n", encoding="utf-8")
    assert main(["report", "--profile", "smoke", "-f", str(params), "-p", "epochs=3",
                 "--show"]) == 0
    out = capsys.readouterr().out
    assert " + epochs = 3 " in out  # -p wins over -f, as in papermill
    assert " f lr = 0.03 " in out and ' f models = ["lstm", "gru"] ' in out  # 3e-2: a number
    assert ' f tune_space = {"min_lr": [0.0001, 0.001]} ' in out  # 1e-4 in a list: a number
    assert " * pairs = [] " in out
    for text, error in [("- epochs\n", "holds a list: write one 'parameter: value'"),
                        ("epochs: [1\n", "is not valid YAML or JSON"),
                        ("epoch: 1\n", "unknown parameter.*epoch")]:
        params.write_text(text, encoding="utf-8")
        assert main(["report", "-f", str(params), "--show"]) == 2
        assert re.search(error, capsys.readouterr().err)
    assert main(["report", "-f", str(tmp_path / "missing.yaml"), "--show"]) == 2
    assert "the parameters file does not exist" in capsys.readouterr().err


def test_every_documented_report_command_resolves(capsys, tmp_path, monkeypatch):
    """Each report command of the README and docs/, in its --show form: its parameters
    resolve as written (`-p split=contiguous`, `-p executor=ray`, ...), nothing runs."""
    commands = _documented_report_commands()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("epochs: 3\n", encoding="utf-8")  # as docs/ say
    assert len(commands) >= 6, commands
    for args in commands:
        try:
            main(["report", *[a for a in args if a != "--fresh"], "--show"])
        except SystemExit as done:
            assert done.code in (0, None), (args, capsys.readouterr().err)
        assert "profile '" in capsys.readouterr().out, args
