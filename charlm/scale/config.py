"""How a run's many trainings execute: one stacked computation per model, or Ray tasks.

None of these change the numbers (a Ray run equals a local one, a batched model equals the same
model trained alone), so a resumed run may change them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from charlm.config import choice, param, positive_float
from charlm.errors import ParameterError

EXECUTORS = ("local", "ray")


@dataclass
class ScaleConfig:
    """Where and how the trainings of a run execute."""

    batched: bool | None = param(
        None, "the seeds of a model trained as one stacked computation (charlm/scale/group.py): "
        "None = on CUDA (one small model leaves a GPU idle), off on a CPU (true works there too)")
    executor: str = param(
        "local", 'where training runs execute: "local" (this process, one run at a time) or '
        '"ray" (every run, a trial or one model and seed, a Ray task; several at once)')
    ray_address: str = param(
        "", 'with executor=ray: "" starts a local Ray instance, "auto" joins the cluster '
        'running on this machine (ray start), "ray://host:10001" connects to a remote one')
    cpus_per_run: float | None = param(
        None, "Ray CPUs of one training run (its torch threads; None: 1 for a run with a GPU "
        "share, else a local run's thread count here, so that its numbers equal a local run's)")
    gpus_per_run: float | None = param(
        None, "Ray GPUs of one training run; None: 0.25 where the cluster has GPUs")

    def __post_init__(self) -> None:
        if self.batched not in (None, True, False):
            raise ParameterError(f"batched={self.batched!r} is invalid: use true, false or None "
                                 "(on CUDA only).")
        choice("executor", self.executor, EXECUTORS)
        address = self.ray_address
        if not isinstance(address, str) or not (
                address in ("", "auto") or address.startswith("ray://")
                or re.fullmatch(r"[\w.-]+:\d+", address)):
            raise ParameterError(
                f"ray_address={address!r} is invalid: use \"\" (a local Ray instance), \"auto\" "
                "(the cluster started on this machine with ray start), ray://host:10001 (a "
                "remote cluster) or the head's host:port."
            )
        positive_float("cpus_per_run", self.cpus_per_run, allow_none=True)
        gpus = self.gpus_per_run
        if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, (int, float))
                                 or not 0 <= gpus or not math.isfinite(gpus)):
            raise ParameterError(f"gpus_per_run={gpus!r} is invalid: a number >= 0 (a fraction "
                                 "lets several runs share a GPU), or None.")
        for name in ("cpus_per_run", "gpus_per_run"):  # Ray's rule for resources
            value = getattr(self, name)
            if value is not None and value > 1 and value != int(value):
                raise ParameterError(f"{name}={value!r} is invalid: above 1 it must be a whole "
                                     "number (Ray splits only single CPUs and GPUs).")
        if self.executor == "ray" and self.batched:
            raise ParameterError(
                "batched=true trains the seeds of a model as one computation in this process; "
                "executor=ray makes each seed its own Ray task. Drop one of them."
            )
