"""Which device a run uses: `auto` resolved (CUDA, else Apple's MPS, else the CPU), the
fallbacks said in one line, and waiting for a device's queued work before a timing."""

from __future__ import annotations

import os
import sys

import torch

from charlm import _mps
from charlm._mps import MPS_FALLBACK
from charlm.errors import ParameterError

_mps_announced = False  # the MPS line is printed once per process


def available_device() -> str:
    """The device `auto` means here: "cuda", else "mps" (Apple silicon), else "cpu"."""
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(name: str = "auto") -> torch.device:
    """auto: CUDA, else Apple's MPS, else the CPU. "cuda" without a GPU falls back to the CPU,
    saying so; "mps" without MPS is a ParameterError. On MPS, what it lacks runs on the CPU."""
    if name == "auto":
        name = available_device()
    elif name == "cuda" and not torch.cuda.is_available():
        print(
            "charlm: device='cuda' asked for but no CUDA GPU is available; using the CPU.",
            file=sys.stderr,
        )
        name = "cpu"
    return _mps_device() if name == "mps" else torch.device(name)


def _mps_device() -> torch.device:
    """The MPS device, with PyTorch's CPU fallback for the operations MPS lacks, said in one line.

    torch reads PYTORCH_ENABLE_MPS_FALLBACK once, when it loads: charlm sets it on macOS when
    imported (charlm/__init__.py), which is in time unless torch was imported first. The line
    says what this process's torch read; the processes charlm starts from here (notebook
    kernels, workers) get the variable either way."""
    global _mps_announced
    if not torch.backends.mps.is_available():
        raise ParameterError(
            "device='mps' asked for but Apple's MPS is not available here (it needs an Apple "
            "silicon Mac with macOS 12.3 or later and a torch built with MPS). Use device='auto' "
            "or device='cpu'."
        )
    os.environ.setdefault(MPS_FALLBACK, "1")  # for the processes started from here
    seen = _mps.MPS_FALLBACK_SEEN
    if seen is None:
        how = (f"this process imported torch before charlm, without {MPS_FALLBACK}, so an "
               f"operation MPS lacks raises NotImplementedError here (not in the notebooks and "
               f"workers charlm starts): export {MPS_FALLBACK}=1 before starting Python")
    elif seen.strip() == "0":
        how = f"{MPS_FALLBACK}=0, so an operation MPS lacks raises NotImplementedError"
    else:
        how = f"operations MPS lacks run on the CPU ({MPS_FALLBACK}={seen})"
    if not _mps_announced:
        _mps_announced = True
        print(f"charlm: device mps (Apple GPU); {how}.", file=sys.stderr)
    return torch.device("mps")


def precision_settings(precision: str = "fp32") -> dict[str, str]:
    """torch's float32 settings for a run's `precision`, as set_precision sets them."""
    mode = {"fp32": "ieee", "tf32": "tf32"}[precision]
    return {"precision": precision, "cudnn_rnn": mode, "cudnn_conv": mode, "cuda_matmul": mode}


def set_precision(precision: str = "fp32") -> dict[str, str]:
    """Set how CUDA computes float32 products. torch's defaults differ by kernel: cuDNN's
    recurrent kernels use TF32 on Ampere and later, plain products IEEE float32. fp32: IEEE
    everywhere, the faithful protocol; tf32: TensorFloat-32 everywhere. Returns the settings."""
    settings = precision_settings(precision)
    if hasattr(torch.backends.cudnn, "rnn"):  # torch 2.9 and later
        torch.backends.cudnn.rnn.fp32_precision = settings["cudnn_rnn"]
        torch.backends.cudnn.conv.fp32_precision = settings["cudnn_conv"]
        torch.backends.cuda.matmul.fp32_precision = settings["cuda_matmul"]
    else:  # the older switches: one for cuDNN (its RNNs and convolutions), one for products
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    return settings


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timing covers it (CUDA and MPS run async)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()
