"""Executing one notebook with papermill, its failures said in charlm's words."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import papermill as pm
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from papermill.exceptions import PapermillExecutionError
from tqdm.auto import tqdm

from charlm.errors import PipelineError


class LocalKernelManager(AsyncKernelManager):
    """A kernel over local (IPC) sockets: nothing is sent over TCP in plain text, and the
    kernel has no warning to print about it."""

    transport = "ipc"


def _quiet_kernel() -> dict:
    """How papermill starts the kernel: over IPC where the platform has it (POSIX); elsewhere
    (Windows) over TCP with the kernel's warnings silenced."""
    if os.name == "posix":
        return {"kernel_manager_class": LocalKernelManager}
    return {"extra_arguments": ["--IPKernelApp.log_level=ERROR"]}


class KernelLines:
    """Where papermill writes a kernel's stderr: charlm's own lines ("charlm: ...": a device
    fallback, a diverged trial, "resuming after epoch N") go on to this terminal, above the
    progress bar; the rest (the kernel's progress bars, its warnings) stays in the notebook."""

    PREFIX = "charlm:"

    def __init__(self, write=None):
        self.write_line = write or (lambda line: tqdm.write(line, file=sys.stderr))
        self.pending = ""

    def write(self, text: str) -> int:
        lines = (self.pending + text).replace("\r", "\n").split("\n")
        self.pending = lines.pop()  # a line not finished yet
        for line in lines:
            at = line.find(self.PREFIX)  # after an unfinished text progress bar, too
            if at >= 0:
                self.write_line(line[at:])
        return len(text)

    def flush(self) -> None:
        """Lines are passed on whole, when they end."""


def execute(source: Path, output: Path, parameters: dict, progress: bool = True) -> None:
    """Run one notebook with papermill; a failure names the notebook and the failing cell."""
    try:
        pm.execute_notebook(str(source), str(output), parameters=parameters,
                            cwd=str(output.parent), kernel_name="python3",
                            progress_bar=progress, report_mode=False, stderr_file=KernelLines(),
                            **_quiet_kernel())
    except PapermillExecutionError as exc:
        raise PipelineError(
            f"notebook {source.name} failed in cell {exc.exec_count} with {exc.ename}: "
            f"{exc.evalue}\nThe partially executed notebook is {output}; fix the cause and run "
            "the same command again to resume."
        ) from None
    except DeadKernelError:
        raise PipelineError(
            f"the kernel running notebook {source.name} died (out of memory, or killed). The "
            f"partially executed notebook is {output}; every finished epoch is kept: run the "
            "same command again to resume (with less memory in use, or a smaller batch_size or "
            "eval_batch_size)."
        ) from None
