"""The hardware and software a run used, detected, for the report and the run folder."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from charlm.project import PROJECT_ROOT

PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "seaborn", "papermill", "nbconvert")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe_environment() -> dict:
    """Device, CPU/GPU names, core count and package versions."""
    cuda = torch.cuda.is_available()
    return {
        "device": "cuda" if cuda else "cpu",
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda_version": torch.version.cuda,
        "git_commit": git_commit(),
        **{f"{p}_version": _version(p) for p in PACKAGES},
    }


def hardware_line(env: dict) -> str:
    """One line for the report: what this run ran on."""
    where = env["gpu"] if env.get("gpu") else f"{env['cpu']} ({env['cpu_cores']} cores)"
    return f"{where}, device {env['device']}, torch {env['torch_version']}"
