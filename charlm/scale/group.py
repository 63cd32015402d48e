"""The seeds of one model trained together, as one stacked computation (a `batched` run).

`train_group` takes K configs that differ only in their seed. Each model gets the initialisation
its seed gives it alone, its own data order, its own Adam state (Adam is elementwise, so one Adam
over the stacked parameters is K Adams) and its own gradient clipping; after every epoch each model
is evaluated, checkpointed and resumable exactly as if it had been trained alone. On CUDA the whole
step (batch gather, forward, loss, backward, clipping, Adam, loss accumulation) is captured once in
a CUDA graph and replayed; the learning rate is a device tensor; the host looks at the numbers only
every LOG_EVERY steps.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from charlm.config import LOG_EVERY, Configs, DataConfig, ExecutionConfig, ModelConfig, TrainConfig
from charlm.data import get_batch, make_windows
from charlm.device import resolve_device
from charlm.errors import CheckpointError
from charlm.folder import ModelFolder
from charlm.models import CharRNN
from charlm.resume import resumable_checkpoint, say_interrupted
from charlm.scale.stacked import StackedCharRNN, clip_per_model, stacked_loss
from charlm.train import (
    DIVERGENCE_FACTOR,
    STEP_LOG,
    StepLog,
    check_diverged,
    epoch_order,
    finish_epoch,
    learning_rate,
    steps_per_epoch,
)


def _check_group(configs: list[Configs]) -> None:
    unseeded = [replace(c, train=replace(c.train, seed=0)) for c in configs]
    if any(u != unseeded[0] for u in unseeded):
        raise ValueError("a group trains models that differ only in their seed")


def seeded_model(vocab_size: int, cfg: ModelConfig, seed: int) -> CharRNN:
    """The initialisation a seed gives a model trained alone (as run_training makes it)."""
    torch.manual_seed(seed)
    return CharRNN(vocab_size, cfg)


def group_stepper(models: list[CharRNN], train_configs: list[TrainConfig], windows,
                  optimizer_states: list[dict | None] | None = None,
                  graph: bool = True) -> GroupStep:
    """The K models stacked on windows' device, their Adam, and the step that trains them."""
    device = windows.data.device
    stacked = StackedCharRNN(models).to(device).train()
    optimizer = stacked_optimizer(stacked, train_configs[0].lr,
                                  optimizer_states or [None] * len(models), device)
    return GroupStep(stacked, optimizer, windows, train_configs,
                     graph=graph and device.type == "cuda")


def train_group(configs: list[Configs], out_dirs: list[Path] | None = None,
                progress: bool = True, graph: bool = True,
                execution: ExecutionConfig | None = None) -> list[list[dict]]:
    """Train K models that differ only in their seed together; returns K histories.

    out_dirs: a model folder per model (checkpoints, resumed per model), or None.
    graph: on CUDA, capture the step in a CUDA graph (falls back to eager if capture fails).
    """
    _check_group(configs)
    execution = execution or ExecutionConfig()
    device = resolve_device(execution.device)
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
                       [folders[i] for i in idx], progress, graph, execution.eval_batch_size)
    return histories


def stacked_optimizer(stacked: StackedCharRNN, lr: float, states: list[dict | None],
                      device: torch.device) -> torch.optim.Adam:
    """Adam over the stacked parameters, from the K models' own Adam states when resuming."""
    capturable = device.type == "cuda"  # graph-safe: step counts and the lr live on the device
    optimizer = torch.optim.Adam(stacked.parameters(),
                                 lr=torch.tensor(lr, device=device) if capturable else lr,
                                 capturable=capturable)
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
                   graph, eval_batch_size):
    """Train one group of epoch-mates to the last epoch, checkpointing each model per epoch."""
    device, cfg = windows.data.device, configs[0].train
    stepper = group_stepper(models, [c.train for c in configs], windows, optimizer_states, graph)
    stacked, optimizer = stepper.stacked, stepper.optimizer
    per_epoch = steps_per_epoch(windows.train_starts.numel(), cfg)
    for epoch in range(len(histories[0]) + 1, cfg.epochs + 1):
        try:
            records = stepper.epoch(epoch, (epoch - 1) * per_epoch, per_epoch * cfg.epochs,
                                    progress)
            for k, (model, record) in enumerate(zip(models, records)):
                model.load_state_dict(stacked.state_dict_of(k))
                model.to(device)
                finish_epoch(model, optimizer_state_of(optimizer, k, model), windows,
                             configs[k], record, histories[k], folders[k],
                             eval_batch_size=eval_batch_size)
        except KeyboardInterrupt:
            for f, h in zip(folders, histories):
                say_interrupted(epoch, f.checkpoint if f else None, len(h))
            raise


class GroupStep:
    """The training step of a group, eager or replayed from a CUDA graph, and its epoch loop."""

    def __init__(self, stacked, optimizer, windows, train_configs, graph: bool):
        self.stacked, self.optimizer, self.windows = stacked, optimizer, windows
        self.configs, self.cfg = train_configs, train_configs[0]
        device = windows.data.device
        self.target_offsets = torch.arange(1, windows.seq_len + 1, device=device)
        self.skip_mask = windows.held_out_target_mask() if self.cfg.objective == "all" else None
        self.capturable = isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)
        self.use_graph, self.graph = graph, None
        self.static_starts = None

    def set_lr(self, lr: float) -> None:
        group = self.optimizer.param_groups[0]
        if self.capturable:
            group["lr"].fill_(lr)  # a device tensor: no host sync, graph-safe
        else:
            group["lr"] = lr

    def step(self, starts: torch.Tensor, zero_grad: bool = True):
        """One step of the K models on starts (K, B): returns (objective, last) losses (K,)."""
        x, y = get_batch(self.windows.data, starts, self.windows.seq_len, self.cfg.objective)
        # positions of the `all` targets: text[start + 1 : start + seq_len + 1]
        skip = (None if self.skip_mask is None
                else self.skip_mask[starts[..., None] + self.target_offsets])
        loss, last = stacked_loss(self.stacked, x, y, self.cfg.objective, skip)
        loss.sum().backward()  # model k's gradient is that of its own loss
        if self.cfg.grad_clip:
            clip_per_model(self.stacked.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        if zero_grad:
            self.optimizer.zero_grad(set_to_none=True)
        return torch.stack([loss.detach(), last.detach()], 1)  # (K, 2)

    def run(self, starts: torch.Tensor) -> torch.Tensor:
        """One step on starts (K, B): replayed from the CUDA graph for full batches where there
        is one (captured on first use; eager if capture fails), else eager. Returns (K, 2)."""
        if self.graph is None and self.use_graph and starts.shape[1] == self.cfg.batch_size:
            try:
                self._capture(starts)
            except Exception as exc:  # an unsupported op or driver: train eagerly, say so
                print(f"charlm: CUDA graph capture failed ({exc!r}); training eagerly.",
                      file=sys.stderr)
                self.graph, self.use_graph = None, False
        if self.graph is None or starts.shape[1] != self.cfg.batch_size:
            # gradients from a graph (its static ones, or a failed capture's) must not add up
            self.optimizer.zero_grad(set_to_none=True)
            return self.step(starts)
        self.static_starts.copy_(starts)
        self.graph.replay()
        return self.static_out

    def _capture(self, starts: torch.Tensor) -> None:
        """Warm up on a side stream, undo the warm-up, then capture one whole step."""
        params = list(self.stacked.parameters())
        saved = [p.detach().clone() for p in params]
        saved_state = {p: {k: v.clone() for k, v in self.optimizer.state[p].items()}
                       for p in params if self.optimizer.state[p]}
        self.static_starts = starts.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        try:
            with torch.cuda.stream(side):
                for _ in range(2):
                    self.step(self.static_starts)
            torch.cuda.current_stream().wait_stream(side)
        finally:  # the warm-up steps must not count: parameters and Adam state as before
            with torch.no_grad():
                for p, value in zip(params, saved):
                    p.copy_(value)
                for p in params:
                    for key, value in self.optimizer.state[p].items():
                        if p in saved_state:
                            value.copy_(saved_state[p][key])
                        else:
                            value.zero_()
            self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_out = self.step(self.static_starts, zero_grad=False)
        self.graph = graph

    def epoch(self, epoch: int, step0: int, total_steps: int, progress: bool) -> list[dict]:
        """One epoch of the K models; returns each model's training record."""
        w, cfg, k = self.windows, self.cfg, len(self.configs)
        device = w.data.device
        n_steps = steps_per_epoch(w.train_starts.numel(), cfg)
        orders = torch.stack([epoch_order(w.train_starts.numel(), c, epoch)
                              for c in self.configs]).to(device)  # (K, n_train): own data order
        sums = torch.zeros(k, 2, device=device)
        limit = DIVERGENCE_FACTOR * math.log(w.vocab.size)
        bar = tqdm(total=n_steps, desc=f"epoch {epoch} ({k} models)", disable=not progress,
                   leave=False)
        log = StepLog(epoch, step0, sums)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for step in range(n_steps):
            self.set_lr(learning_rate(cfg, step0 + step, total_steps))
            starts = w.train_starts[orders[:, step * cfg.batch_size:(step + 1) * cfg.batch_size]]
            out = self.run(starts)
            sums += out
            logged = (step + 1) % LOG_EVERY == 0 or step + 1 == n_steps
            if device.type == "cpu" or logged:
                worst = int(torch.nan_to_num(out[:, 0], nan=float("inf")).argmax())
                check_diverged(sums, out[worst, 0], limit, epoch, step + 1, float(
                    self.optimizer.param_groups[0]["lr"]), f" (seed {self.configs[worst].seed})")
            if logged:
                log.add(step + 1, sums)
                bar.set_postfix(loss=f"{sums[:, 0].mean().item() / (step + 1):.4f}",
                                refresh=False)
                bar.update(step + 1 - bar.n)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        bar.close()
        means = (sums / n_steps).tolist()
        lr = float(self.optimizer.param_groups[0]["lr"])
        # the group's time is shared: each model's cost is its K-th part
        return [{"epoch": epoch, "train_loss": last, "objective_loss": obj, "steps": n_steps,
                 "lr": lr, "train_seconds": seconds / k, "group_train_seconds": seconds,
                 "trained_with": k, "cuda_graph": self.graph is not None, STEP_LOG: [rows]}
                for (obj, last), rows in zip(means, log.rows)]


def graph_versus_eager(cell: str, k: int = 3, steps: int = 100, seq_len: int = 20) -> dict:
    """CUDA only: the same K models trained `steps` steps eagerly and replayed from the graph,
    from the same weights and batches; returns the largest loss and weight differences."""
    windows = make_windows(DataConfig(max_chars=200_000, seq_len=seq_len)).to("cuda")
    configs = [TrainConfig(seed=s) for s in range(k)]
    runs = []
    for graph in (False, True):
        models = [seeded_model(windows.vocab.size, ModelConfig(cell), s) for s in range(k)]
        stepper = group_stepper(models, configs, windows, graph=graph)
        stacked = stepper.stacked
        orders = torch.stack([epoch_order(windows.train_starts.numel(), c, 1)
                              for c in configs]).cuda()
        losses = [stepper.run(windows.train_starts[orders[:, i * 128:(i + 1) * 128]]).clone()
                  for i in range(steps)]
        runs.append((torch.stack(losses), [p.detach().clone() for p in stacked.parameters()]))
    (loss_a, w_a), (loss_b, w_b) = runs
    return {"max_loss_diff": (loss_a - loss_b).abs().max().item(),
            "max_weight_diff": max((a - b).abs().max().item() for a, b in zip(w_a, w_b)),
            "graph_used": stepper.graph is not None}
