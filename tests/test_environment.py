"""environment.json's description: every installed package, the commit, uncommitted changes."""

import shutil
import subprocess

import pytest

from charlm.experiment import environment
from charlm.experiment.environment import (
    describe_environment,
    git_commit,
    git_dirty,
    installed_packages,
)


def test_installed_packages_are_all_there_with_versions_sorted():
    packages = installed_packages()
    assert packages["torch"] == environment._version("torch")
    assert {"numpy", "pandas", "papermill", "pytest"} <= set(packages)
    assert list(packages) == sorted(packages, key=str.lower)


def test_describe_environment_keeps_the_old_keys_and_adds_packages():
    env = describe_environment()
    assert {"device", "gpu", "cpu", "cpu_cores", "torch_version", "git_commit"} <= set(env)
    assert env["packages"]["torch"] == env["torch_version"]
    assert env["git_dirty"] in (True, False, None)


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_dirty_follows_changes_to_tracked_files(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "model.py").write_text("hidden_size = 512\n")
    _git(tmp_path, "add", "model.py")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com",
         "commit", "-q", "-m", "first")
    assert git_dirty(tmp_path) is False
    assert git_commit(tmp_path) != "unknown"

    (tmp_path / "run.log").write_text("untracked output\n")
    assert git_dirty(tmp_path) is False  # untracked files are outputs, not the code that ran
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "loss.png").write_text("v1")
    _git(tmp_path, "add", "figures")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com",
         "commit", "-q", "-m", "figures")
    (tmp_path / "figures" / "loss.png").write_text("v2")  # what every report does
    assert git_dirty(tmp_path) is False

    (tmp_path / "model.py").write_text("hidden_size = 256\n")
    assert git_dirty(tmp_path) is True
    _git(tmp_path, "add", "model.py")
    assert git_dirty(tmp_path) is True  # staged is still uncommitted


def test_git_answers_none_outside_a_checkout_or_without_git(tmp_path, monkeypatch):
    assert git_dirty(tmp_path) is None
    assert git_commit(tmp_path) == "unknown"
    assert git_dirty(None) is None

    monkeypatch.setenv("PATH", str(tmp_path))  # no git to be found
    assert git_dirty(environment.PROJECT_ROOT) is None
    assert git_commit(environment.PROJECT_ROOT) == "unknown"


def test_a_git_that_hangs_times_out_softly(tmp_path, monkeypatch):
    fake = tmp_path / "git"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")  # exec: no grandchild holding the pipes
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(environment, "COMMAND_TIMEOUT_S", 0.2)
    assert git_dirty(tmp_path) is None
