"""Faults injected for real: SIGKILL mid-epoch and mid-write, Ctrl-C, then the same command."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from conftest import without_timing

from charlm.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # trains, or runs Ray or subprocesses: the slow tier

TRAIN = [sys.executable, "-m", "charlm", "train", "--cell", "gru", "--hidden-size", "32",
         "--max-chars", "20000", "--batch-size", "32", "--max-steps", "60", "--epochs", "4",
         "--eval-windows", "200"]


def _epoch(path) -> int:
    try:
        return load_checkpoint(path)["epoch"]
    except Exception:
        return 0


def _wait_for_epoch(path, epoch: int, proc, timeout=60.0) -> None:
    end = time.time() + timeout
    while _epoch(path) < epoch:
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < end, "training made no progress"
        time.sleep(0.05)


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run([*TRAIN, "--out", str(full)], check=True, capture_output=True)
    proc = subprocess.Popen([*TRAIN, "--out", str(cut)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_epoch(cut / "checkpoint.pt", 2, proc)
    time.sleep(0.3)  # into epoch 3
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _epoch(cut / "checkpoint.pt")
    assert 2 <= done < 4, "the kill should land mid-run"
    again = subprocess.run([*TRAIN, "--out", str(cut)], check=True, capture_output=True,
                           text=True)
    assert f"resuming {cut / 'checkpoint.pt'} after epoch {done}" in again.stderr
    a, b = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(cut / "checkpoint.pt")
    assert without_timing(a["history"]) == without_timing(b["history"])
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_ctrl_c_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    # A harness started in the background (`cmd &`) ignores SIGINT, and children inherit that:
    # give the child the default disposition, as a terminal's foreground process has.
    proc = subprocess.Popen([*TRAIN, "--epochs", "100", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_epoch(out / "checkpoint.pt", 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT  # dies by SIGINT, as Ctrl-C'd programs should
    assert "interrupted in epoch" in err and "Run the same command again" in err
    assert _epoch(out / "checkpoint.pt") >= 1


WRITER = textwrap.dedent("""
    import sys, torch
    from charlm.checkpoint import atomic_torch_save
    path = sys.argv[1]
    atomic_torch_save(path, {"version": 0, "w": torch.zeros(10)})
    print("ready", flush=True)
    big = {"version": 1, "w": torch.ones(50_000_000)}  # 200 MB: a slow write
    while True:
        atomic_torch_save(path, big)
""")


def test_sigkill_during_write_keeps_previous_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.4)  # in the middle of writing 200 MB
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = torch.load(path, weights_only=True)  # never a half-written file
    assert state["version"] in (0, 1)
    assert state["w"].numel() == (10 if state["version"] == 0 else 50_000_000)


def test_live_run_folder_refuses_a_second_run_and_a_killed_run_resumes(tmp_path, capfd,
                                                                         corpus_text):
    from charlm.errors import RunBusyError
    from charlm.experiment.pipeline import run_report
    from charlm.experiment.run import Run

    overrides = {"models": ["lstm", "gru"], "seeds": [0], "pairs": []}
    cli = [sys.executable, "-m", "charlm", "report", "--profile", "smoke", "--name", "r",
           "--reports-dir", str(tmp_path), *[f"-p{k}={v!r}" for k, v in overrides.items()]]
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cli, stdout=log, stderr=log, start_new_session=True)
    run = Run(tmp_path / "r")
    try:
        _wait_for_epoch(run.model("lstm", 0).checkpoint, 1, first, timeout=240)
        with pytest.raises(RunBusyError, match=f"in use by process {first.pid} "):
            run_report("smoke", overrides, name="r", reports_dir=tmp_path, figures_dir=None,
                       progress=False)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the pipeline and its notebook kernel
        first.wait()
    capfd.readouterr()
    run_report("smoke", overrides, name="r", reports_dir=tmp_path, figures_dir=None,
               progress=False)
    err = capfd.readouterr().err
    assert "resuming the run in" in err and "01_explore_data.ipynb is up to date" in err
    assert len(run.read_metrics()["runs"]) == 2 and run.report_html.exists()
