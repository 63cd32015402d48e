"""The seeds of one model trained together, as one stacked computation (a `batched` run).

`train_group` takes K configs that differ only in their seed. Each model gets the initialisation
its seed gives it alone, its own data order, its own Adam state (Adam is elementwise, so one Adam
over the stacked parameters is K Adams) and its own gradient clipping; after every epoch each model
is evaluated, checkpointed and resumable exactly as if it had been trained alone. The epoch loop
is charlm.train's, driving a `StackedStep`. On CUDA the whole step (batch gather, forward, loss,
backward, clipping, Adam) is captured once in a CUDA graph and replayed; if capture fails there,
the models are trained one by one (cuDNN) instead, not through the slower eager stacked step.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch

from charlm.best import BestSoFar
from charlm.config import Configs, ExecutionConfig, ModelConfig, TrainConfig
from charlm.data import make_windows
from charlm.device import resolve_device, set_precision
from charlm.errors import CheckpointError, ParameterError
from charlm.folder import ModelFolder
from charlm.models import CharRNN
from charlm.resume import resumable_checkpoint, say_interrupted
from charlm.scale.stacked import StackedCharRNN, clip_per_model, stacked_loss
from charlm.step import Step, adam, can_capture
from charlm.train import finish_epoch, steps_per_epoch, train, train_epoch


def _check_dropout(configs) -> None:
    if any(c.model.dropout for c in configs):
        raise ParameterError("the stacked layers have no dropout: train models with dropout "
                             "one by one (batched=false).")


def _check_group(configs: list[Configs]) -> None:
    unseeded = [replace(c, train=replace(c.train, seed=0)) for c in configs]
    if any(u != unseeded[0] for u in unseeded):
        raise ValueError("a group trains models that differ only in their seed")


def seeded_model(vocab_size: int, cfg: ModelConfig, seed: int) -> CharRNN:
    """The initialisation a seed gives a model trained alone (as run_training makes it)."""
    torch.manual_seed(seed)
    return CharRNN(vocab_size, cfg)


def group_stepper(models: list[CharRNN], train_configs: list[TrainConfig], windows,
                  optimizer_states: list[dict | None] | None = None, graph: bool = True,
                  compiled: bool = False) -> StackedStep:
    """The K models stacked on windows' device, their Adam, and the step that trains them.
    graph: capture the step in a CUDA graph (CUDA only). compiled: torch.compile the forward
    and loss (fused elementwise kernels; compile time up front)."""
    device = windows.data.device
    graph = graph and can_capture(device)
    stacked = StackedCharRNN(models, fused=not compiled).to(device).train()
    optimizer = stacked_optimizer(stacked, train_configs[0].lr,
                                  optimizer_states or [None] * len(models), device, graph)
    return StackedStep(stacked, optimizer, windows, train_configs, graph, compiled)


def train_group(configs: list[Configs], out_dirs: list[Path] | None = None,
                progress: bool = True, graph: bool = True,
                execution: ExecutionConfig | None = None) -> list[list[dict]]:
    """Train K models that differ only in their seed together; returns K histories.

    out_dirs: a model folder per model (checkpoints, resumed per model), or None.
    graph: on CUDA, capture the step in a CUDA graph (if capture fails: one by one).
    """
    _check_group(configs)
    _check_dropout(configs)
    execution = execution or ExecutionConfig()
    device = resolve_device(execution.device)
    set_precision(execution.precision)
    if execution.deterministic and device.type == "cuda":
        torch.use_deterministic_algorithms(True, warn_only=True)
    windows = make_windows(configs[0].data).to(device)
    folders = [ModelFolder(Path(d)) for d in out_dirs] if out_dirs else [None] * len(configs)
    models, histories, optimizer_states = [], [], []
    for cfg, folder in zip(configs, folders):
        model = seeded_model(windows.vocab.size, cfg.model, cfg.train.seed)
        ckpt = resumable_checkpoint(folder.checkpoint if folder else None, cfg)
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
        models.append(model)
        histories.append(list(ckpt["history"]) if ckpt else [])
        optimizer_states.append(ckpt.get("optimizer") if ckpt else None)
    # models at the same epoch train together (an interruption while the K checkpoints were
    # being written can leave some one epoch ahead: each epoch-mate group goes on by itself)
    for done in sorted({len(h) for h in histories}):
        idx = [i for i, h in enumerate(histories) if len(h) == done]
        _train_stacked([models[i] for i in idx], [configs[i] for i in idx], windows,
                       [histories[i] for i in idx], [optimizer_states[i] for i in idx],
                       [folders[i] for i in idx], progress, graph, execution)
    return histories


def stacked_optimizer(stacked: StackedCharRNN, lr: float, states: list[dict | None],
                      device: torch.device, graph: bool = False) -> torch.optim.Adam:
    """Adam over the stacked parameters, from the K models' own Adam states when resuming."""
    optimizer = adam(stacked.parameters(), lr, device, graph)
    if any(s is None for s in states) and not all(s is None for s in states):
        raise CheckpointError("Some checkpoints of this group hold an optimizer state and some "
                              "do not: resume them one by one (-p batched=False).")
    if states[0] is not None:
        per_param = states[0]["state"]
        optimizer.load_state_dict({
            "state": {i: {"step": per_param[i]["step"],
                          **{key: torch.stack([s["state"][i][key] for s in states])
                             for key in ("exp_avg", "exp_avg_sq")}}
                      for i in per_param},
            "param_groups": optimizer.state_dict()["param_groups"],
        })
    return optimizer


def optimizer_state_of(optimizer: torch.optim.Adam, k: int, model: CharRNN) -> dict:
    """Model k's Adam state, as an Adam over model k alone (on the CPU) would save it."""
    group = optimizer.param_groups[0]
    alone = torch.optim.Adam(model.parameters(), lr=float(group["lr"])).state_dict()
    alone["state"] = {
        i: {"step": st["step"].detach().cpu().float(), "exp_avg": st["exp_avg"][k].cpu().clone(),
            "exp_avg_sq": st["exp_avg_sq"][k].cpu().clone()}
        for i, st in enumerate(optimizer.state[p] for p in group["params"]) if st
    }
    return alone


def _train_stacked(models, configs, windows, histories, optimizer_states, folders, progress,
                   graph, execution):
    """Train one group of epoch-mates to the last epoch, checkpointing each model per epoch;
    one by one instead if the stacked step cannot be captured (before any step ran)."""
    try:
        _train_together(models, configs, windows, histories, optimizer_states, folders,
                        progress, graph, execution)
    except CaptureFailed as exc:
        print(f"charlm: CUDA graph capture of the stacked step failed ({exc}); training the "
              f"{len(models)} models one by one (cuDNN) instead.", file=sys.stderr)
        for model, cfg, history, folder in zip(models, configs, histories, folders):
            history[:] = train(model, windows, cfg.train, folder.path if folder else None,
                               cfg.data, progress, eval_batch_size=execution.eval_batch_size)


def _train_together(models, configs, windows, histories, optimizer_states, folders, progress,
                    graph, execution):
    device, cfg = windows.data.device, configs[0].train
    stepper = group_stepper(models, [c.train for c in configs], windows, optimizer_states, graph,
                            execution.compile_step)
    stacked, optimizer = stepper.module, stepper.optimizer
    per_epoch = steps_per_epoch(windows.train_starts.numel(), cfg)
    bests = [BestSoFar(folder) for folder in folders]
    for epoch in range(len(histories[0]) + 1, cfg.epochs + 1):
        try:
            records = train_epoch(stepper, windows, epoch, (epoch - 1) * per_epoch,
                                  per_epoch * cfg.epochs, progress)
            for k, (model, record) in enumerate(zip(models, records)):
                model.load_state_dict(stacked.state_dict_of(k))
                model.to(device)
                finish_epoch(model, optimizer_state_of(optimizer, k, model), windows,
                             configs[k], record, histories[k], folders[k],
                             eval_batch_size=execution.eval_batch_size, best=bests[k])
        except KeyboardInterrupt:
            for f, h in zip(folders, histories):
                say_interrupted(epoch, f.checkpoint if f else None, len(h))
            raise


class CaptureFailed(Exception):
    """The stacked step could not be captured in a CUDA graph (raised before any step ran)."""


class StackedStep(Step):
    """The step of K stacked models (charlm.scale.stacked): starts (K, B), one loss per model,
    each model's gradient clipped on its own. On CUDA a failed capture raises CaptureFailed:
    without a graph, K models one by one through cuDNN are faster than the eager stacked step."""

    def __init__(self, stacked: StackedCharRNN, optimizer, windows, configs, graph: bool,
                 compiled: bool = False):
        super().__init__(stacked, optimizer, windows, configs, graph)
        self.compiled = compiled
        self._losses = torch.compile(self._stacked_losses) if compiled else self._stacked_losses

    def _stacked_losses(self, x, y, skip):
        return stacked_loss(self.module, x, y, self.cfg.objective, skip)

    def losses(self, x, y, skip):
        return self._losses(x, y, skip)

    def clip(self, max_norm: float) -> None:
        clip_per_model(self.module.parameters(), max_norm)

    def on_capture_failed(self, exc: Exception) -> None:
        self.graph, self.use_graph, self.capture_error = None, False, exc
        raise CaptureFailed(repr(exc)) from exc
