"""Where training runs execute: in this process (`local`) or as Ray tasks (`ray`).

A training run, one model and seed or one trial of a search, is a `Job`: its configs, the
folder that keeps its files, and whether it may read the test set. `run_jobs` trains jobs and
returns their histories; the files in the run folder are the same either way.

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
import json
import multiprocessing
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from charlm.atomic import atomic_write_bytes, atomic_write_json
from charlm.checkpoint import load_checkpoint
from charlm.config import Configs, RunConfig
from charlm.data import load_text
from charlm.errors import CharlmError, ParameterError, PipelineError, TrainingDivergedError
from charlm.run import CHECKPOINT_FILE, STEP_LOSSES_FILE, ModelFolder
from charlm.train import resumable_checkpoint, resume_conflicts, run_training

RAY_RETRIES = 3  # a task lost with its worker or node is run again this many times
GPU_SHARE = 0.25  # gpus_per_run=None on a cluster with GPUs: four small runs share one GPU
OWN_INSTANCE_ENV = "CHARLM_RAY_INSTANCE"  # the address of the local instance the pipeline started
RAY_MISSING = ("executor=ray needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.9'), "
               "or use executor=local.")


@dataclass(frozen=True)
class Job:
    """One training run: what to train, where its files live, and whether it reads test."""

    name: str  # how progress lines and errors name it, e.g. "lstm-s0", "gru lr=0.02 s100"
    configs: Configs
    folder: ModelFolder
    # a trial of a search: scored on validation only, never on test; if its loss diverges,
    # that is recorded in its folder (a result of the search) and the search goes on
    trial: bool = False

    @property
    def epochs(self) -> int:
        return self.configs.train.epochs

    def diverged(self) -> bool:
        """Whether this trial diverged at these very configs (a mark left by other settings
        is dropped: those settings are not these)."""
        mark = self.folder.diverged
        if not mark.exists():
            return False
        try:
            same = json.loads(mark.read_text())["configs"] == self.configs.to_dict()
        except (ValueError, KeyError, TypeError):
            same = False
        if not same:
            mark.unlink(missing_ok=True)
        return same

    def finished(self) -> bool:
        """Every epoch done at these configs (a checkpoint of other settings is not)."""
        if self.diverged():
            return True
        if not self.folder.checkpoint.exists():
            return False
        ckpt = load_checkpoint(self.folder.checkpoint)
        return ckpt["epoch"] >= self.epochs and not resume_conflicts(ckpt, self.configs)


def run_jobs(jobs: list[Job], run_cfg: RunConfig, progress: bool = True) -> list[list[dict]]:
    """Train every job (each resuming after its last finished epoch); their histories."""
    if run_cfg.executor == "ray":
        return run_on_ray(jobs, run_cfg, progress)
    if min(run_cfg.jobs, len(jobs)) <= 1:
        return [_train_here(job, None, progress) for job in jobs]
    return _train_in_processes(jobs, min(run_cfg.jobs, len(jobs)), progress)


# -- local
def _train_here(job: Job, threads: int | None, progress: bool) -> list[dict]:
    """Train one job in this process (or in a worker with `threads` threads)."""
    if threads:
        torch.set_num_threads(threads)
    if job.diverged():
        return job.folder.history_so_far()
    cfg = job.configs
    try:
        return run_training(cfg.data, cfg.model, cfg.train, out_dir=job.folder.path,
                            progress=progress, test=not job.trial).history
    except TrainingDivergedError as exc:
        if not job.trial:
            raise
        return _record_divergence(job, exc)


def _record_divergence(job: Job, exc: TrainingDivergedError) -> list[dict]:
    """A trial that diverged is a result of the search (that setting fails), not its end."""
    atomic_write_json(job.folder.diverged, {"message": str(exc),
                                            "configs": job.configs.to_dict()})
    print(f"charlm: trial {job.name} diverged; recorded, the search goes on.", file=sys.stderr)
    return job.folder.history_so_far()


def _train_in_processes(jobs: list[Job], at_once: int, progress: bool) -> list[list[dict]]:
    """`at_once` jobs at the same time, each in its own process with its share of threads.

    spawn: no fork of a process holding torch threads. Leaving the block terminates the pool,
    so an error in one job (raised here, with its type and message) or a Ctrl-C stops every job
    at once; each keeps its finished epochs.
    """
    work = partial(_train_here, threads=max(1, torch.get_num_threads() // at_once),
                   progress=False)
    with multiprocessing.get_context("spawn").Pool(at_once) as pool:
        return list(tqdm(pool.imap(work, jobs), total=len(jobs), disable=not progress,
                         desc=f"{len(jobs)} runs, {at_once} at a time"))


# -- Ray
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
    import logging

    import charlm

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
def ray_instance(run_cfg: RunConfig):
    """For the pipeline: with executor=ray and no ray_address, one local Ray instance for the
    whole chain, which its notebooks join through RAY_ADDRESS (instead of each starting its
    own); stopped at the end. Otherwise nothing."""
    if run_cfg.executor != "ray" or run_cfg.ray_address or os.environ.get("RAY_ADDRESS"):
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


def _train_epoch_remotely(configs: Configs, trial: bool, checkpoint: bytes | None, epoch: int,
                          text: str, threads: int) -> dict[str, bytes]:
    """A Ray task: train `epoch` of one run from its checkpoint; the run's files, as bytes."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="charlm-run-") as tmp:
        if checkpoint is not None:
            (Path(tmp) / CHECKPOINT_FILE).write_bytes(checkpoint)
        with contextlib.redirect_stderr(io.StringIO()):  # "resuming ...": the driver says it
            run_training(configs.data, configs.model, configs.train, out_dir=tmp,
                         progress=False, text=text, test=not trial, until=epoch)
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


def _resources(ray, run_cfg: RunConfig, device: str) -> dict:
    """What one run asks of the cluster. gpus_per_run None: a share of a GPU where the cluster
    has GPUs and the run may use one. cpus_per_run None: a local run's thread count here, at
    most the CPUs of the largest node (a request no node can meet would wait forever)."""
    gpus = run_cfg.gpus_per_run
    if gpus is None:
        gpus = GPU_SHARE if device != "cpu" and ray.cluster_resources().get("GPU", 0) > 0 else 0
    cpus = run_cfg.cpus_per_run
    if cpus is None:
        largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]),
                      default=0)
        cpus = max(1, min(torch.get_num_threads(), int(largest) or torch.get_num_threads()))
    return {"num_cpus": cpus, "num_gpus": gpus}


def run_on_ray(jobs: list[Job], run_cfg: RunConfig, progress: bool = True) -> list[list[dict]]:
    """Train the jobs as Ray tasks, one epoch each; this process writes every file. Jobs already
    finished in the run folder need no Ray at all (the pipeline trains before its notebooks)."""
    if all(job.finished() for job in jobs):
        return [job.folder.history_so_far() for job in jobs]
    ray = connect(run_cfg.ray_address)
    resources = _resources(ray, run_cfg, jobs[0].configs.train.device)
    task = ray.remote(max_retries=RAY_RETRIES, retry_exceptions=False, **resources)(
        _train_epoch_remotely)
    threads = max(1, int(resources["num_cpus"]))
    texts = {}  # one copy of each corpus in the object store, shared by every task

    pending = {}

    def submit(job: Job, done: int, checkpoint: bytes | None) -> None:
        """Submit the job's next epoch, if it has one."""
        if done >= job.epochs:
            return
        corpus = job.configs.data.corpus
        if corpus not in texts:
            texts[corpus] = ray.put(load_text(corpus))
        ref = task.options(name=f"charlm {job.name} epoch {done + 1}").remote(
            job.configs, job.trial, checkpoint, done + 1, texts[corpus], threads)
        pending[ref] = job

    starts = []  # from the run folder: other settings refused, finished epochs kept
    for job in jobs:
        ckpt = resumable_checkpoint(job.folder.checkpoint, job.configs)
        starts.append(job.epochs if job.diverged() else ckpt["epoch"] if ckpt else 0)
    bar = tqdm(total=sum(job.epochs for job in jobs), initial=sum(starts), disable=not progress,
               unit="epoch",
               desc=f"{len(jobs)} runs on Ray ({resources['num_cpus']:g} CPU"
                    + (f", {resources['num_gpus']:g} GPU" if resources["num_gpus"] else "")
                    + " each)")
    try:
        for job, done in zip(jobs, starts):
            resume = 0 < done < job.epochs
            submit(job, done, job.folder.checkpoint.read_bytes() if resume else None)
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ref)
            try:
                files = _result(ray, ref, job)
            except TrainingDivergedError as exc:
                if not job.trial:
                    raise
                _record_divergence(job, exc)
                bar.update(job.epochs - len(job.folder.history_so_far()))
                continue
            _write_files(job.folder, files)
            history = load_checkpoint(job.folder.checkpoint)["history"]
            bar.update(1)
            bar.set_postfix_str(_last_line(job, history[-1]), refresh=False)
            submit(job, len(history), files[CHECKPOINT_FILE])
    except BaseException as exc:
        for ref in pending:
            with contextlib.suppress(Exception):  # a lost connection must not hide `exc`
                ray.cancel(ref, force=True)
        if isinstance(exc, KeyboardInterrupt):
            bar.close()  # the message on a line of its own
            print(f"charlm: interrupted: cancelled {len(pending)} training run(s) on Ray; every "
                  "finished epoch is in the run folder. Run the same command again to resume.",
                  file=sys.stderr)
        raise
    finally:
        bar.close()
    return [job.folder.history_so_far() for job in jobs]


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
