"""Device choice, with torch's availability checks faked: no GPU or Mac is needed (or used)."""

import os

import pytest
import torch

from charlm import train
from charlm.environment import describe_environment, hardware_line
from charlm.errors import ParameterError
from charlm.train import MPS_FALLBACK, resolve_device


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a machine with the given accelerators; the MPS line not yet printed."""
    monkeypatch.setattr(train, "_mps_announced", False)
    monkeypatch.setenv(MPS_FALLBACK, "")  # recorded, so that what resolve_device sets is undone
    monkeypatch.delenv(MPS_FALLBACK)

    def pretend(cuda: bool, mps: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return pretend


@pytest.mark.parametrize(
    "cuda, mps, expected",
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert resolve_device("auto") == torch.device(expected)


def test_explicit_cpu_stays_on_the_cpu(machine):
    machine(cuda=True, mps=True)
    assert resolve_device("cpu") == torch.device("cpu")


def test_cuda_without_a_gpu_falls_back_to_the_cpu_saying_so(machine, capsys):
    machine(cuda=False, mps=True)
    assert resolve_device("cuda") == torch.device("cpu")
    assert "no CUDA GPU is available; using the CPU" in capsys.readouterr().err


def test_mps_sets_the_cpu_fallback_and_says_so_once(machine, capfd):
    machine(cuda=False, mps=True)
    assert resolve_device("auto") == torch.device("mps")
    assert os.environ[MPS_FALLBACK] == "1"  # for the kernels and workers started from here
    assert resolve_device("mps") == torch.device("mps")
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("charlm: device mps (Apple GPU); operations MPS lacks run on the")
    assert f"export {MPS_FALLBACK}=1" in lines[0]  # this process loaded torch without it


def test_mps_with_the_fallback_already_set(machine, monkeypatch, capsys):
    machine(cuda=False, mps=True)
    monkeypatch.setenv(MPS_FALLBACK, "1")
    resolve_device("mps")
    assert capsys.readouterr().err == (
        "charlm: device mps (Apple GPU); operations MPS lacks run on the CPU "
        f"({MPS_FALLBACK}=1).\n"
    )


def test_mps_fallback_turned_off_by_the_user_is_kept(machine, monkeypatch, capsys):
    machine(cuda=False, mps=True)
    monkeypatch.setenv(MPS_FALLBACK, "0")
    resolve_device("mps")
    assert os.environ[MPS_FALLBACK] == "0"
    assert "raises NotImplementedError" in capsys.readouterr().err


def test_mps_asked_for_but_unavailable_is_an_error(machine):
    machine(cuda=True, mps=False)
    with pytest.raises(ParameterError, match=r"device='mps'.*Use device='auto' or device='cpu'"):
        resolve_device("mps")


@pytest.mark.parametrize("cuda, mps, device", [(False, True, "mps"), (False, False, "cpu")])
def test_environment_reports_the_device(machine, cuda, mps, device):
    machine(cuda=cuda, mps=mps)
    env = describe_environment()
    assert env["device"] == device
    if device == "mps":
        assert env["gpu"].endswith("(MPS)")
        assert hardware_line(env).startswith(f"{env['gpu']}, device mps, torch ")
    else:
        assert env["gpu"] is None
