"""Evaluation on any set of windows: the next character after each full window."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from charlm.data import get_batch


@torch.inference_mode()
def window_losses(
    model, data: torch.Tensor, starts: torch.Tensor, seq_len: int, batch_size: int = 4096
):
    """Per-window loss (nats) and correctness, as two float tensors on the CPU."""
    was_training = model.training
    model.eval()
    losses, correct = [], []
    for i in range(0, starts.numel(), batch_size):
        x, y = get_batch(data, starts[i : i + batch_size], seq_len, "last")
        logits, _ = model(x, last_only=True)
        losses.append(F.cross_entropy(logits, y, reduction="none").float())
        correct.append((logits.argmax(-1) == y).float())
    model.train(was_training)
    return torch.cat(losses).cpu(), torch.cat(correct).cpu()


def eval_subset(starts: torch.Tensor, n: int | None) -> torch.Tensor:
    """n evenly spaced windows of `starts` (all of them if n is None or larger)."""
    if n is None or n >= starts.numel():
        return starts
    return starts[torch.linspace(0, starts.numel() - 1, n, device=starts.device).long()]


def summarize(losses: torch.Tensor, correct: torch.Tensor) -> dict:
    """loss (nats), accuracy, bits per character and perplexity of per-window results."""
    loss = losses.double().mean().item()
    return {
        "loss": loss,
        "accuracy": correct.double().mean().item(),
        "bpc": loss / math.log(2),
        "perplexity": math.exp(min(loss, 700.0)),
        "n_windows": losses.numel(),
    }


def evaluate(
    model, data: torch.Tensor, starts: torch.Tensor, seq_len: int, batch_size: int = 4096
) -> dict:
    """Evaluate in large batches without gradients: loss, accuracy, bpc, perplexity, n_windows."""
    return summarize(*window_losses(model, data, starts, seq_len, batch_size))
