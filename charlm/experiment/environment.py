"""The hardware and software a run used, detected, for the report and the run folder."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

import torch

import charlm
from charlm.config import ExecutionConfig
from charlm.device import available_device, precision_settings
from charlm.project import PACKAGE_DIR, PROJECT_ROOT, in_checkout

PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "seaborn", "papermill", "nbconvert")
CODE_SUFFIXES = (".py", ".j2", ".css", ".js", ".json")  # charlm's source, its template included
COMMAND_TIMEOUT_S = 10  # git or sysctl slower than this (a huge tree, a hung mount) says nothing


def _output(*command: str) -> str | None:
    """What the command prints, or None when it is missing, fails or times out."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":  # "Apple M2 Pro"; platform.processor() only says "arm"
        brand = (_output("sysctl", "-n", "machdep.cpu.brand_string") or "").strip()
        if brand:
            return brand
    return platform.processor() or platform.machine()


def gpu_name(device: str) -> str | None:
    """The accelerator `device` runs on: the CUDA GPU's name, "Apple M2 (MPS)", or None."""
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    if device == "mps":
        chip = cpu_model()
        return f"{chip if chip.startswith('Apple') else 'Apple GPU'} (MPS)"
    return None


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def installed_packages() -> dict[str, str]:
    """Every installed distribution, name -> version, sorted by name; where one is installed
    twice, the one found first on sys.path (the one Python imports)."""
    found: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(name, dist.version)
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def git_commit(root: Path | None = PROJECT_ROOT) -> str:
    """The short commit of the checkout at `root`; "unknown" without git or a checkout."""
    out = _output("git", "-C", str(root), "rev-parse", "--short", "HEAD") if root else None
    return (out or "").strip() or "unknown"


def git_dirty(root: Path | None = PROJECT_ROOT) -> bool | None:
    """Whether tracked files of the checkout at `root` have uncommitted changes (staged or not);
    None without git or a checkout. Untracked files do not count: they are the run folders,
    data and executed notebooks a run writes, not the code it ran; neither does figures/, which
    every report rewrites (the README's copy of the latest figures)."""
    out = None if root is None else _output(
        "git", "--no-optional-locks", "-C", str(root), "status", "--porcelain",
        "--untracked-files=no", "--", ".", ":(exclude)figures",
    )
    return None if out is None else bool(out.strip())


def describe_environment(execution: ExecutionConfig | None = None) -> dict:
    """Device, CPU/GPU names, core count, how CUDA computes float32 (`float32_precision`, the
    run's `precision` as charlm sets it), package versions (every installed one under
    `packages`), the commit and whether the checkout had uncommitted changes (`git_dirty`)."""
    device = available_device()
    checkout = PROJECT_ROOT if in_checkout() else None  # installed from site-packages: no commit
    return {
        "device": device,
        "gpu": gpu_name(device),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda_version": torch.version.cuda,
        "float32_precision": precision_settings((execution or ExecutionConfig()).precision),
        "git_commit": git_commit(checkout),
        "git_dirty": git_dirty(checkout),
        **{f"{p}_version": _version(p) for p in PACKAGES},
        "packages": installed_packages(),
    }


def code_hash(package: Path = PACKAGE_DIR) -> str:
    """A hash of charlm's own source (every .py file and the report's template): it changes
    with any edit, committed or not, as a commit and a dirty flag cannot tell apart."""
    digest = hashlib.sha256()
    files = sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in CODE_SUFFIXES
                   and "__pycache__" not in p.parts and p.parent.name != "notebooks")
    for path in files:
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def notebook_hash(path: Path) -> str:
    """A hash of a notebook's cells (their types and sources; not outputs, counts or metadata,
    which running or saving it rewrites)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = json.dumps([[c["cell_type"], "".join(c["source"])] for c in cells])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_record() -> dict:
    """What code ran a step: charlm's version, commit, dirty flag and source hash."""
    checkout = PROJECT_ROOT if in_checkout() else None
    return {"charlm_version": charlm.__version__, "git_commit": git_commit(checkout),
            "git_dirty": git_dirty(checkout), "code_hash": code_hash()}
