"""The run folder: one module knows its layout, and a live run holds it."""

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from charlm import folder
from charlm.errors import RunBusyError
from charlm.experiment import layout, lock
from charlm.experiment.run import Run
from charlm.project import PROJECT_ROOT


def _names(module) -> list[str]:
    return [value for name, value in vars(module).items()
            if name.endswith(("_FILE", "_CSV", "_HTML", "_MD")) and "." in value]


FIGURE_NAMES = [getattr(Run("x").figures, name).name for name in
                ("char_frequencies", "loss_curves", "accuracy", "time_and_size", "loss_vs_time",
                 "tuning", "expected_best", "step_losses", "budget")]
OWNERS = {**{n: "charlm/experiment/layout.py" for n in _names(layout)},
          **{n: "charlm/folder.py" for n in _names(folder)},
          # a figure's name: the run folder's Figures, and the chain's table of who writes it
          **{n: "charlm/experiment/layout.py charlm/experiment/run.py" for n in FIGURE_NAMES}}


def test_each_run_folder_file_name_is_written_in_one_module_only():
    assert {"metrics.json", "params.json", "samples.json", "history.csv",
            "test_windows.pt"} <= set(OWNERS)
    sources = [*(PROJECT_ROOT / "charlm").rglob("*.py"), *(PROJECT_ROOT / "notebooks").glob(
        "*.ipynb"), *(PROJECT_ROOT / "benchmarks").glob("*.py"),
        *(PROJECT_ROOT / "benchmarks").glob("*.sh")]
    texts = {path: path.read_text() for path in sources}
    for name, owner in OWNERS.items():
        pattern = re.compile(rf"(?<![\w.]){re.escape(name)}\b")
        holders = sorted(p.relative_to(PROJECT_ROOT).as_posix() for p, t in texts.items()
                         if pattern.search(t))
        assert " ".join(holders) == owner, (name, holders)


HOLDER = textwrap.dedent("""
    import sys, time
    from charlm.experiment.run import Run
    with Run(sys.argv[1]).hold():
        print("held", flush=True)
        time.sleep(120)
""")


def test_a_held_folder_refuses_a_second_holder_until_its_holder_dies(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "r")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunBusyError, match=rf"in use by process {proc.pid} on .*--name"):
            with Run(tmp_path / "r").hold():
                pass
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Run(tmp_path / "r").hold():  # a killed holder leaves nothing behind
        assert Run(tmp_path / "r").holder().startswith(f"process {os.getpid()}")


def test_notebooks_started_by_the_holder_share_its_hold(tmp_path):
    with Run(tmp_path).hold():
        with Run(Path(tmp_path)).hold():  # what a notebook's training step does
            pass
    code = "from charlm.experiment.run import Run; import sys; Run(sys.argv[1]).hold().__enter__()"
    with Run(tmp_path).hold():  # a child process (a papermill kernel) inherits the hold
        subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert not os.environ.get(lock.HELD_BY_PARENT_ENV)
