"""One training step, for one model or K stacked ones: what the epoch loop (charlm.train) drives.

A step takes each model's batch of window starts, (K, B), and does what training does once:
gather the batch on the device, forward, loss, backward, gradient clipping, Adam. It returns
each model's (objective, last-position) loss, (K, 2), on the device: the loop reads numbers back
only when it logs. `ModelStep` trains one CharRNN (K = 1: charlm's fused layers on the CPU, cuDNN
on CUDA); `charlm.scale.group.StackedStep` trains K models of one architecture as one computation.

On CUDA a step can be captured in a CUDA graph on first use and replayed: the whole step is then
one launch. The learning rate is a device tensor (Adam `capturable`, fused), so setting it needs
no host sync. A failed capture trains eagerly and says so (`capture_error`).
"""

from __future__ import annotations

import sys

import torch

from charlm.config import TrainConfig
from charlm.data import Windows, get_batch
from charlm.models import CharRNN


def can_capture(device: torch.device) -> bool:
    """Whether a step on `device` can be captured in a CUDA graph (CUDA only)."""
    return device.type == "cuda"


def adam(params, lr: float, device: torch.device, graph: bool) -> torch.optim.Adam:
    """Adam for a step. For a CUDA graph: fused (two kernels for every parameter at once) and
    capturable, with the learning rate a device tensor; else torch's default (foreach)."""
    if graph:
        return torch.optim.Adam(params, lr=torch.tensor(lr, device=device), capturable=True,
                                fused=True)
    return torch.optim.Adam(params, lr=lr)


class Step:
    """The training step of K models (K = 1 for one): eager, or replayed from a CUDA graph.

    Subclasses say how the K models' losses are computed (`losses`) and how their gradients are
    clipped (`clip`); this class does the rest, the same for every K."""

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 windows: Windows, configs: list[TrainConfig], graph: bool = False):
        self.module, self.optimizer, self.windows = module, optimizer, windows
        self.configs, self.cfg = configs, configs[0]
        device = windows.data.device
        self.target_offsets = torch.arange(1, windows.seq_len + 1, device=device)
        self.skip_mask = windows.held_out_target_mask() if self.cfg.objective == "all" else None
        self.use_graph = graph and can_capture(device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.capture_error: Exception | None = None

    @property
    def k(self) -> int:
        return len(self.configs)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)  # a device tensor: no host sync, graph-safe
            else:
                group["lr"] = lr

    def losses(self, x, y, skip) -> tuple[torch.Tensor, torch.Tensor]:
        """Per model (objective loss, last-position loss), each (K,)."""
        raise NotImplementedError

    def clip(self, max_norm: float) -> None:
        """Clip each model's gradient to norm max_norm on its own."""
        raise NotImplementedError

    def step(self, starts: torch.Tensor, zero_grad: bool = True) -> torch.Tensor:
        """One eager step on starts (K, B); returns the (objective, last) losses, (K, 2)."""
        x, y = get_batch(self.windows.data, starts, self.windows.seq_len, self.cfg.objective)
        # positions of the `all` targets: text[start + 1 : start + seq_len + 1]
        skip = (None if self.skip_mask is None
                else self.skip_mask[starts[..., None] + self.target_offsets])
        loss, last = self.losses(x, y, skip)
        loss.sum().backward()  # model k's gradient is that of its own loss
        if self.cfg.grad_clip:
            self.clip(self.cfg.grad_clip)
        self.optimizer.step()
        if zero_grad:
            self.optimizer.zero_grad(set_to_none=True)
        return torch.stack([loss.detach(), last.detach()], 1)

    def run(self, starts: torch.Tensor) -> torch.Tensor:
        """One step on starts (K, B): replayed from the CUDA graph for full batches where there
        is one (captured on first use; eager if capture fails), else eager. Returns (K, 2)."""
        full = starts.shape[1] == self.cfg.batch_size
        if self.graph is None and self.use_graph and full:
            try:
                self._capture(starts)
            except Exception as exc:  # an unsupported op or driver: train eagerly, say so
                self.on_capture_failed(exc)
        if self.graph is None or not full:
            # gradients from a graph (its static ones, or a failed capture's) must not add up
            self.optimizer.zero_grad(set_to_none=True)
            return self.step(starts)
        self.static_starts.copy_(starts)
        self.graph.replay()
        return self.static_out

    def on_capture_failed(self, exc: Exception) -> None:
        print(f"charlm: CUDA graph capture failed ({exc!r}); training eagerly.", file=sys.stderr)
        self.graph, self.use_graph, self.capture_error = None, False, exc

    def _capture(self, starts: torch.Tensor) -> None:
        """Warm up on a side stream, undo the warm-up, then capture one whole step."""
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
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


class ModelStep(Step):
    """The step of one CharRNN: its batch (1, B) of starts, `batch_loss`, clip_grad_norm_."""

    def __init__(self, model: CharRNN, optimizer: torch.optim.Optimizer, windows: Windows,
                 cfg: TrainConfig, graph: bool = False):
        super().__init__(model, optimizer, windows, [cfg], graph)

    def losses(self, x, y, skip):
        loss, last = batch_loss(self.module, x[0], y[0], self.cfg.objective,
                                None if skip is None else skip[0])
        return loss[None], last[None]

    def clip(self, max_norm: float) -> None:
        torch.nn.utils.clip_grad_norm_(self.module.parameters(), max_norm)


def batch_loss(model, x, y, objective: str, skip: torch.Tensor | None):
    """(objective loss, loss of the last position = the reference's training loss)."""
    if objective == "last":
        logits, _ = model(x, last_only=True)
        loss = torch.nn.functional.cross_entropy(logits, y)
        return loss, loss
    logits, _ = model(x)  # (B, T, vocab_size)
    per_pos = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(),
                                                reduction="none").view_as(y)
    keep = ~skip  # never train on a character that is the target of a test window
    loss = (per_pos * keep).sum() / keep.sum().clamp(min=1)
    return loss, per_pos[:, -1].mean()
