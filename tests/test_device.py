"""Device choice, with torch's availability checks faked: no GPU or Mac is needed (or used)."""

import os

import pytest
import torch

from charlm import _mps, device
from charlm._mps import MPS_FALLBACK
from charlm.config import ExecutionConfig
from charlm.device import resolve_device, set_precision
from charlm.errors import ParameterError
from charlm.experiment.environment import describe_environment
from charlm.report.tables import hardware_line


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a machine with the given accelerators; the MPS line not yet printed."""
    monkeypatch.setattr(device, "_mps_announced", False)
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


def test_mps_sets_the_cpu_fallback_and_says_so_once(machine, monkeypatch, capfd):
    machine(cuda=False, mps=True)
    monkeypatch.setattr(_mps, "MPS_FALLBACK_SEEN", "1")  # set by charlm before torch loaded
    assert resolve_device("auto") == torch.device("mps")
    assert os.environ[MPS_FALLBACK] == "1"  # for the kernels and workers started from here
    assert resolve_device("mps") == torch.device("mps")
    assert capfd.readouterr().err == (
        "charlm: device mps (Apple GPU); operations MPS lacks run on the CPU "
        f"({MPS_FALLBACK}=1).\n"
    )


def test_mps_when_torch_loaded_before_charlm_without_the_fallback(machine, monkeypatch,
                                                                   capsys):
    machine(cuda=False, mps=True)
    monkeypatch.setattr(_mps, "MPS_FALLBACK_SEEN", None)
    resolve_device("mps")
    err = capsys.readouterr().err
    assert "imported torch before charlm" in err and f"export {MPS_FALLBACK}=1" in err
    assert os.environ[MPS_FALLBACK] == "1"  # the notebooks and workers still get it


def test_mps_fallback_turned_off_by_the_user_is_kept(machine, monkeypatch, capsys):
    machine(cuda=False, mps=True)
    monkeypatch.setenv(MPS_FALLBACK, "0")
    monkeypatch.setattr(_mps, "MPS_FALLBACK_SEEN", "0")
    resolve_device("mps")
    assert os.environ[MPS_FALLBACK] == "0"
    assert "raises NotImplementedError" in capsys.readouterr().err


def test_charlm_sets_the_fallback_before_torch_loads_on_macos(tmp_path):
    """A fresh interpreter on 'darwin': the variable is set when charlm is imported first."""
    import subprocess
    import sys

    code = ("import sys; sys.platform = 'darwin'; import charlm, os; "
            "print(os.environ.get('PYTORCH_ENABLE_MPS_FALLBACK'), charlm._mps.MPS_FALLBACK_SEEN)")
    env = {k: v for k, v in os.environ.items() if k != MPS_FALLBACK}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["1", "1"]
    code = "import torch; " + code  # (torch itself cannot load as a faked darwin)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["1", "None"]  # torch loaded first: it read nothing


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


def test_precision_is_set_for_every_cuda_kernel_and_recorded(tmp_path):
    """fp32 (the default): IEEE float32 for cuDNN's recurrent kernels too, which torch would
    otherwise run in TF32 on recent GPUs; the run's environment.json says which."""
    try:
        assert set_precision("tf32")["cudnn_rnn"] == "tf32"
        assert torch.backends.cudnn.rnn.fp32_precision == "tf32"
        settings = set_precision("fp32")
        assert settings == {"precision": "fp32", "cudnn_rnn": "ieee", "cudnn_conv": "ieee",
                            "cuda_matmul": "ieee"}
        assert torch.backends.cudnn.rnn.fp32_precision == "ieee"
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    finally:
        set_precision("fp32")
    tf32 = describe_environment(ExecutionConfig(precision="tf32"))["float32_precision"]
    assert tf32["precision"] == "tf32" and tf32["cudnn_rnn"] == "tf32"
    assert describe_environment()["float32_precision"]["cudnn_rnn"] == "ieee"
