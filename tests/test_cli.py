import json
import subprocess
import sys

from charlm.__main__ import main


def test_help_runs():
    out = subprocess.run(
        [sys.executable, "-m", "charlm", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("train", "evaluate", "generate"):
        assert command in out


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
    assert capsys.readouterr().out.startswith("The quick brown fox")


def test_bad_input_exits_with_message(capsys, tmp_path):
    assert main(["train", "--cell", "tcn", "--out", str(tmp_path)]) == 2
    assert "cell='tcn' is invalid" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "missing.pt")]) == 2
    assert "No checkpoint" in capsys.readouterr().err
