"""How long a run will take on this machine, said before it starts (`charlm report`).

Each distinct model of the run is timed on a few optimizer steps and one evaluation batch, here,
with the run's settings; the run's counts (trials and runs, steps, validation and test windows)
scale those up, one run at a time. A wide vocabulary, a GPU or an unusual batch size are timed
as they are, not guessed from FLOPs. The line per finished epoch refines the figure as the run
goes.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from charlm.checkpoint import history_so_far
from charlm.config import Configs
from charlm.data import Windows, make_windows
from charlm.device import resolve_device, sync
from charlm.evaluate import eval_subset, window_losses
from charlm.experiment import jobs
from charlm.experiment.progress import minutes
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec
from charlm.models import build
from charlm.step import ModelStep, adam
from charlm.train import steps_per_epoch, train_epoch

PROBE_STEPS = 6  # the first is a warm-up, not counted


def _probe(configs: Configs, spec: RunSpec, windows: Windows) -> tuple[float, float]:
    """(seconds per optimizer step, seconds per evaluated window) of one model, measured (on
    training windows: the probe's model is thrown away, and nothing reads its numbers)."""
    device = resolve_device(spec.execution.device)
    windows = windows.to(device)
    torch.manual_seed(configs.train.seed)
    model = build(windows.vocab.size, configs.model, windows.seq_len,
                  fused=spec.execution.fused).to(device)
    optimizer = adam(model.parameters(), configs.train.lr, device, graph=False)
    records = []
    for steps in (1, PROBE_STEPS - 1):  # a warm-up step (allocations, threads), then timed
        # a small learning rate: the pace does not depend on it, and no probe diverges
        train = dataclasses.replace(configs.train, max_steps=steps, lr=1e-6, min_lr=None,
                                    warmup_steps=0)
        records += train_epoch(ModelStep(model, optimizer, windows, train), windows, 1, 0,
                               steps, progress=False)
    per_step = records[-1]["train_seconds"] / records[-1]["steps"]
    starts = eval_subset(windows.train_starts, spec.execution.eval_batch_size)
    sync(device)
    start = time.perf_counter()
    window_losses(model, windows.data, starts, windows.seq_len, spec.execution.eval_batch_size)
    sync(device)
    return per_step, (time.perf_counter() - start) / max(1, starts.numel())


def seconds_left(run: Run, spec: RunSpec) -> float | None:
    """The run's training and evaluation still to do, in seconds at this machine's measured
    pace; None when everything is trained already."""
    todo = [j for j in jobs.all_jobs(run, spec) if not j.finished()]
    if not todo:
        return None
    pace: dict[str, tuple[float, float]] = {}
    split: dict[str, Windows] = {}
    total = 0.0
    for job in todo:
        cfg = job.configs
        data = repr(cfg.data)  # the windows depend on the data settings only
        if data not in split:
            split[data] = make_windows(cfg.data)
        windows = split[data]
        key = repr((cfg.model, cfg.train.batch_size, cfg.train.objective, data))
        if key not in pace:
            pace[key] = _probe(cfg, spec, windows)
        per_step, per_window = pace[key]
        epochs = cfg.train.epochs - len(history_so_far(job.folder))
        steps = steps_per_epoch(windows.train_starts.numel(), cfg.train) * epochs
        val = windows.val_starts.numel()
        evaluated = (min(val, cfg.train.eval_windows or val) * epochs + val
                     + (0 if job.trial else windows.test_starts.numel()))
        total += steps * per_step + evaluated * per_window
    return total


say = minutes  # a duration as the epoch lines say it (charlm.experiment.progress)
