"""charlm installed as a user without a checkout has it: `pip install .` (not editable), then
`charlm report` from an empty folder."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from charlm.data import default_corpus_path
from charlm.project import PROJECT_ROOT

TINY = ["-p", "models=['lstm','gru']", "-p", "pairs=[]", "-p", "seeds=[0]", "-p", "epochs=1",
        "-p", "max_steps=3", "-p", "eval_windows=100", "-p", "tune_space={}",
        "-p", "gen_length=20"]


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if "__pycache__" not in p.parts}


@pytest.mark.slow
def test_pip_install_dot_then_charlm_report_from_an_empty_folder(tmp_path, corpus_text):
    wheels, env = tmp_path / "wheels", tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(PROJECT_ROOT)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    # the dependencies from this environment (a path, not a site dir: its editable charlm is
    # not seen), charlm itself from the wheel
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps",
                    *map(str, wheels.glob("*.whl"))], check=True)
    installed = site / "charlm"
    assert (installed / "notebooks" / "06_report.ipynb").exists()
    before = _files(installed)

    work = tmp_path / "empty"
    (work / "data").mkdir(parents=True)  # the corpus under the current folder
    shutil.copy(default_corpus_path(), work / "data" / "tinyshakespeare.txt")
    environ = {k: v for k, v in os.environ.items() if k not in ("CHARLM_DATA", "PYTHONPATH")}
    # nbconvert's templates are data files of this environment, as pip puts them in the new one
    environ["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    out = subprocess.run([env / "bin" / "charlm", "report", "--profile", "smoke", *TINY],
                         cwd=work, env=environ, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (work / "reports" / "smoke" / "report.html").exists()
    assert "charlm: lstm-s0 epoch 1/1: train" in out.stderr  # the per-epoch lines
    assert "without encryption" not in out.stderr
    assert _files(installed) == before  # nothing written into site-packages
    assert not (work / "figures").exists()  # figures/ is a checkout's, for its README
    version = subprocess.run([env / "bin" / "charlm", "--version"], capture_output=True,
                             text=True, env=environ, check=True).stdout
    assert version.startswith("charlm 0.1.0 (torch ")


def test_the_lock_pins_every_dependency_with_hashes_but_torch():
    """requirements-lock.txt (make lock): each requirement of pyproject and its extras pinned,
    for every platform (markers), with hashes; torch and its CUDA libraries left out."""
    import re

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(r for extra in ("dev", "lab", "ray", "tensorboard")
                                          for r in project["optional-dependencies"][extra])]
    assert set(project["optional-dependencies"]) == {"dev", "lab", "ray", "tensorboard"}
    lock = (PROJECT_ROOT / "requirements-lock.txt").read_text()
    pinned = {m.lower().replace("_", "-") for m in re.findall(r"^([A-Za-z0-9_.-]+)==", lock,
                                                             flags=re.M)}
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in wanted}
    assert names - pinned == {"torch"}
    assert not {"torch", "nvidia-cublas"} & pinned
    entries = re.split(r"\n(?=[A-Za-z])", lock.split("\n", 5)[-1])
    assert all("--hash=sha256:" in e for e in entries if "==" in e)
    assert "python_full_version < '3.11'" in lock  # the lowest Python claimed has its versions
