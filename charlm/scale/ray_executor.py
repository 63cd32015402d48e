"""Training runs (`charlm.job.Job`s) as Ray tasks (executor=ray); the files in the run folder
are the same as a local run's.

With Ray, this process (the driver) owns the run folder, and no filesystem is shared with the
workers. A Ray task trains one epoch of one run: it receives the run's checkpoint after its last
finished epoch (none at first) and the corpus, trains the next epoch in a private temporary
folder with `charlm.train`, and sends that folder's files back; the driver writes them
atomically and submits the run's next epoch. So a task lost with its worker or node is retried
by Ray (`max_retries`) from the last finished epoch, and an interrupted run resumes from the run
folder like a local one. Ray places the tasks on the cluster's resources (`cpus_per_run`,
`gpus_per_run` each); charlm only chains each run's epochs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

import charlm
from charlm.atomic import atomic_write_bytes
from charlm.checkpoint import history_so_far, load_checkpoint
from charlm.config import Configs, ExecutionConfig
from charlm.data import load_text
from charlm.errors import CharlmError, ParameterError, PipelineError, TrainingDivergedError
from charlm.folder import BEST_FILE, CHECKPOINT_FILE, STEP_LOSSES_FILE, ModelFolder
from charlm.job import Job, record_divergence
from charlm.scale.config import ScaleConfig
from charlm.train import resumable_checkpoint, run_training

RAY_RETRIES = 3  # a task lost with its worker or node is run again this many times
GPU_SHARE = 0.25  # gpus_per_run=None on a cluster with GPUs: four small runs share one GPU
OWN_INSTANCE_ENV = "CHARLM_RAY_INSTANCE"  # the address of the local instance the pipeline started
RAY_MISSING = ("executor=ray needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.9'), "
               "or use executor=local.")


def import_ray():
    try:
        import ray
    except ImportError:
        raise ParameterError(RAY_MISSING) from None
    return ray


def connect(address: str = ""):
    """The Ray module, connected: to `address` ("auto", "ray://host:port", "host:port"); else
    to the instance named by RAY_ADDRESS (the pipeline's); else to a new local instance, which
    lives as long as this process (or until ray.shutdown())."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    options = {"logging_level": logging.WARNING, "log_to_driver": True}
    ours = os.environ.get(OWN_INSTANCE_ENV)  # the pipeline's instance, on this machine
    if address or (os.environ.get("RAY_ADDRESS") and os.environ["RAY_ADDRESS"] != ours):
        # another machine's workers may lack charlm: ship this package to them
        ray.init(address=address or None, **options,
                 runtime_env={"py_modules": [str(Path(charlm.__file__).parent)]})
    elif ours:
        ray.init(**options)
    else:
        ray.init(include_dashboard=False, **options)
    return ray


@contextlib.contextmanager
def ray_instance(scale: ScaleConfig):
    """For the pipeline: with executor=ray and no ray_address, one local Ray instance for the
    whole chain, which its notebooks join through RAY_ADDRESS (instead of each starting its
    own); stopped at the end. Otherwise nothing."""
    if scale.executor != "ray" or scale.ray_address or os.environ.get("RAY_ADDRESS"):
        yield
        return
    ray = connect()
    address = ray.get_runtime_context().gcs_address
    os.environ["RAY_ADDRESS"] = os.environ[OWN_INSTANCE_ENV] = address
    print(f"charlm: started a local Ray instance at {address} for this run.", file=sys.stderr)
    try:
        yield
    finally:
        os.environ.pop("RAY_ADDRESS", None)
        os.environ.pop(OWN_INSTANCE_ENV, None)
        ray.shutdown()


def _train_epoch_remotely(configs: Configs, execution: ExecutionConfig, trial: bool,
                          checkpoint: bytes | None, epoch: int, text: str, threads: int,
                          best: bytes | None = None) -> dict[str, bytes]:
    """A Ray task: train `epoch` of one run from its checkpoint (and the best epoch's
    so far); the run's files, as bytes."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="charlm-run-") as tmp:
        if checkpoint is not None:
            (Path(tmp) / CHECKPOINT_FILE).write_bytes(checkpoint)
            if best is not None:
                (Path(tmp) / BEST_FILE).write_bytes(best)
        with contextlib.redirect_stderr(io.StringIO()):  # "resuming ...": the driver says it
            run_training(configs.data, configs.model, configs.train, out_dir=tmp,
                         progress=False, text=text, test=not trial, until=epoch,
                         execution=execution)
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}


def _write_files(folder: ModelFolder, files: dict[str, bytes]) -> None:
    """A finished epoch's files, each written atomically; the checkpoint last. The task's
    step losses hold only its own epoch: they go after the earlier epochs' rows."""
    folder.path.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n == CHECKPOINT_FILE):
        if name == STEP_LOSSES_FILE:
            folder.write_step_losses(pd.read_csv(io.BytesIO(files[name])).to_dict("records"))
        else:
            atomic_write_bytes(folder.path / name, files[name])


def _resources(ray, scale: ScaleConfig, device: str) -> dict:
    """What one run asks of the cluster. gpus_per_run None: a share of a GPU where the cluster
    has GPUs and the run may use one. cpus_per_run None: one CPU for a run on a GPU (the GPU
    computes; asking for a CPU run's threads would let one run fill a node, and the GPU share
    would never be shared), else a local run's thread count here, at most the CPUs of the
    largest node (a request no node can meet would wait forever)."""
    gpus = scale.gpus_per_run
    if gpus is None:
        gpus = GPU_SHARE if device != "cpu" and ray.cluster_resources().get("GPU", 0) > 0 else 0
    cpus = scale.cpus_per_run
    if cpus is None and gpus > 0:
        cpus = 1
    elif cpus is None:
        largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]),
                      default=0)
        cpus = max(1, min(torch.get_num_threads(), int(largest) or torch.get_num_threads()))
    return {"num_cpus": cpus, "num_gpus": gpus}


class _Driver:
    """Chains each job's epochs as Ray tasks: the next epoch of a job is submitted when its
    last one comes back, with that epoch's checkpoint."""

    def __init__(self, ray, scale: ScaleConfig, jobs: list[Job]):
        self.ray = ray
        self.resources = _resources(ray, scale, jobs[0].execution.device)
        self.task = ray.remote(max_retries=RAY_RETRIES, retry_exceptions=False,
                               **self.resources)(_train_epoch_remotely)
        self.threads = max(1, int(self.resources["num_cpus"]))
        self.texts = {}  # one copy of each corpus in the object store, shared by every task
        self.pending = {}  # task -> its job

    def describe(self, n: int) -> str:
        gpus = self.resources["num_gpus"]
        return (f"{n} runs on Ray ({self.resources['num_cpus']:g} CPU"
                + (f", {gpus:g} GPU" if gpus else "") + " each)")

    def submit(self, job: Job, done: int, checkpoint: bytes | None) -> None:
        """Submit the job's next epoch, if it has one."""
        if done >= job.epochs:
            return
        corpus = job.configs.data.corpus
        if corpus not in self.texts:
            self.texts[corpus] = self.ray.put(load_text(corpus))
        best = job.folder.best.read_bytes() if checkpoint and job.folder.best.exists() else None
        ref = self.task.options(name=f"charlm {job.name} epoch {done + 1}").remote(
            job.configs, job.execution, job.trial, checkpoint, done + 1, self.texts[corpus],
            self.threads, best)
        self.pending[ref] = job

    def receive(self, bar) -> None:
        """Wait for one finished epoch, write its files, submit its job's next epoch."""
        [ref], _ = self.ray.wait(list(self.pending), num_returns=1)
        job = self.pending.pop(ref)
        try:
            files = _result(self.ray, ref, job)
        except TrainingDivergedError as exc:
            if not job.trial:
                raise
            record_divergence(job, exc)
            bar.update(job.epochs - len(history_so_far(job.folder)))
            return
        _write_files(job.folder, files)
        history = load_checkpoint(job.folder.checkpoint)["history"]
        bar.update(1)
        bar.set_postfix_str(_last_line(job, history[-1]), refresh=False)
        self.submit(job, len(history), files[CHECKPOINT_FILE])

    def cancel(self) -> None:
        for ref in self.pending:
            with contextlib.suppress(Exception):  # a lost connection must not hide the error
                self.ray.cancel(ref, force=True)


def _epochs_done(jobs: list[Job]) -> list[int]:
    """Each job's finished epochs in the run folder (other settings refused)."""
    starts = []
    for job in jobs:
        ckpt = resumable_checkpoint(job.folder.checkpoint, job.configs)
        starts.append(job.epochs if job.diverged() else ckpt["epoch"] if ckpt else 0)
    return starts


def run_on_ray(jobs: list[Job], scale: ScaleConfig, progress: bool = True) -> list[list[dict]]:
    """Train the jobs as Ray tasks, one epoch each; this process writes every file. Jobs already
    finished in the run folder need no Ray at all (the pipeline trains before its notebooks)."""
    if all(job.finished() for job in jobs):
        return [history_so_far(job.folder) for job in jobs]
    driver = _Driver(connect(scale.ray_address), scale, jobs)
    starts = _epochs_done(jobs)
    bar = tqdm(total=sum(job.epochs for job in jobs), initial=sum(starts), disable=not progress,
               unit="epoch", desc=driver.describe(len(jobs)))
    try:
        for job, done in zip(jobs, starts):
            resume = 0 < done < job.epochs
            driver.submit(job, done, job.folder.checkpoint.read_bytes() if resume else None)
        while driver.pending:
            driver.receive(bar)
    except BaseException as exc:
        driver.cancel()
        if isinstance(exc, KeyboardInterrupt):
            bar.close()  # the message on a line of its own
            print(f"charlm: interrupted: cancelled {len(driver.pending)} training run(s) on Ray; "
                  "every finished epoch is in the run folder. Run the same command again to "
                  "resume.", file=sys.stderr)
        raise
    finally:
        bar.close()
    return [history_so_far(job.folder) for job in jobs]


def _result(ray, ref, job: Job) -> dict[str, bytes]:
    """A task's files; its error as charlm's own where it is one, else named with the run."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, CharlmError):
            raise exc.cause from None
        raise PipelineError(f"training run {job.name} failed on Ray: {exc}") from exc
    except ray.exceptions.RayError as exc:
        raise PipelineError(
            f"training run {job.name} failed on Ray ({type(exc).__name__}; a lost worker or "
            f"node is retried {RAY_RETRIES} times): {exc}. Every finished epoch is in the run "
            "folder; run the same command again to resume."
        ) from exc


def _last_line(job: Job, last: dict) -> str:
    """A finished epoch in a few words, for the progress bar."""
    loss = last.get("val_loss", last["train_loss"])
    return f"{job.name} epoch {last['epoch']}: loss {loss:.4f}"
