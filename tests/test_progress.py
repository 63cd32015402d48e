"""The per-epoch lines `charlm report` prints while the notebooks train."""

import pandas as pd

from charlm.experiment.profiles import resolve
from charlm.experiment.progress import EpochLines
from charlm.experiment.run import Run


def _epoch(epoch, val=1.5):
    return {"epoch": epoch, "train_loss": 2.0 / epoch, "val_loss": val, "train_seconds": 30.0,
            "eval_seconds": 2.0}


def test_a_line_per_new_epoch_with_the_time_left(tmp_path):
    spec = resolve("smoke", {"models": ["lstm", "gru"], "pairs": [], "seeds": [0, 1],
                             "epochs": 3, "tune_space": {}})
    run = Run(tmp_path)
    folder = run.model("gru", 1)
    folder.path.mkdir(parents=True)
    folder.write_history([_epoch(1)])  # finished before: a resumed run does not repeat it
    printed = []
    lines = EpochLines(run, spec, write=printed.append)
    assert lines.poll() == [] and lines.done == 1 and lines.total == 12
    lstm = run.model("lstm", 0)
    lstm.path.mkdir(parents=True)
    lstm.write_history([_epoch(1), _epoch(2, val=float("nan"))])
    assert lines.poll() == printed and len(printed) == 2
    assert printed[0] == ("charlm: lstm-s0 epoch 1/3: train 2.0000, val 1.5000, 30 s; ~64 s "
                          "left for it, ~5 min for all training (2/12 epochs)")
    assert "val" not in printed[1] and "(3/12 epochs)" in printed[1]
    lstm.write_history([_epoch(1), _epoch(2), _epoch(3)])
    assert lines.poll()[0].startswith("charlm: lstm-s0 epoch 3/3: train 0.6667, val 1.5000, 30 s;"
                                      " lstm-s0 done")
    assert lines.poll() == []  # each epoch once


def test_the_searchs_trials_are_watched_too(tmp_path):
    spec = resolve("smoke", {"models": ["lstm", "gru"], "pairs": [], "seeds": [0],
                             "tune_space": {"lr": [0.01, 0.02]}, "tune_seeds": [100]})
    lines = EpochLines(Run(tmp_path), spec, write=lambda line: None)
    names = [job.name for job in lines.jobs]
    assert names[:4] == ["trial lstm lr=0.01 s100", "trial lstm lr=0.02 s100",
                         "trial gru lr=0.01 s100", "trial gru lr=0.02 s100"]
    assert names[4:] == ["lstm-s0", "gru-s0"]


def test_the_watcher_thread_stops_and_reads_the_last_epochs(tmp_path):
    spec = resolve("smoke", {"models": ["lstm", "gru"], "pairs": [], "seeds": [0],
                             "epochs": 1, "tune_space": {}})
    run, printed = Run(tmp_path), []
    with EpochLines(run, spec, every=60, write=printed.append):
        run.model("gru", 0).path.mkdir(parents=True)
        pd.DataFrame([_epoch(1)]).to_csv(run.model("gru", 0).history, index=False)
    assert len(printed) == 1 and "gru-s0 epoch 1/1" in printed[0]
