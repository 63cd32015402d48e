"""The training loop: one record per epoch, a checkpoint after every epoch, resumable."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from charlm.best import BestSoFar, select_loss
from charlm.checkpoint import save_checkpoint, save_test_windows
from charlm.config import LOG_EVERY, Configs, DataConfig, ExecutionConfig, ModelConfig, TrainConfig
from charlm.data import Windows, make_windows
from charlm.device import resolve_device, set_precision, sync
from charlm.errors import ParameterError, TrainingDivergedError
from charlm.evaluate import eval_subset, summarize, window_losses
from charlm.folder import ModelFolder
from charlm.models import build
from charlm.resume import resumable_checkpoint, say_interrupted
from charlm.step import ModelStep, Step, adam

STEP_LOG = "step_log"  # a training record's rows of step losses, written beside the history
DIVERGENCE_FACTOR = 4.0  # a loss above this many times the uniform guess ln(vocab_size) diverged


def steps_per_epoch(n_train: int, cfg: TrainConfig) -> int:
    steps = math.ceil(n_train / cfg.batch_size)
    return min(steps, cfg.max_steps) if cfg.max_steps else steps


def learning_rate(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Linear warmup, then constant (min_lr None, the reference) or cosine decay to min_lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.min_lr is None:
        return cfg.lr
    progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))


def epoch_order(n_train: int, cfg: TrainConfig, epoch: int) -> torch.Tensor:
    """The shuffled order of the training windows in one epoch: a function of seed and epoch."""
    return torch.randperm(
        n_train, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    )


def check_diverged(sums, loss, limit: float, epoch: int, step: int, lr: float,
                    who: str = "") -> None:
    """Raise TrainingDivergedError if the accumulated or current loss is not finite or too high."""
    if not torch.isfinite(sums).all() or loss.item() > limit:
        raise TrainingDivergedError(
            f"The training loss{who} became {loss.item():.4g} in epoch {epoch} at step {step} "
            f"(diverged: NaN, infinite or above {limit:.1f} nats; lr {lr:.3g}). Lower the "
            "learning rate or set grad_clip; the checkpoint of the last finished epoch is kept."
        )


def train_epoch(stepper: Step, windows: Windows, epoch: int, step0: int, total_steps: int,
                progress: bool = True) -> list[dict]:
    """One pass of the stepper's K models (K = 1 for one model) over the training windows,
    each in its own shuffled order; returns each model's training record of the epoch.

    The one epoch loop of charlm: learning rate, batch, step, loss accumulated on the device,
    the divergence check (every step on the CPU, every LOG_EVERY steps elsewhere), the step
    log, the progress bar, the time."""
    configs, cfg, k = stepper.configs, stepper.cfg, stepper.k
    device = windows.data.device
    n_steps = steps_per_epoch(windows.train_starts.numel(), cfg)
    orders = torch.stack([epoch_order(windows.train_starts.numel(), c, epoch)
                          for c in configs]).to(device)  # (K, n_train): each its own order
    sums = torch.zeros(k, 2, device=device)  # per model: objective loss, last-position loss
    limit = DIVERGENCE_FACTOR * math.log(windows.vocab.size)
    bar = tqdm(total=n_steps, desc=f"epoch {epoch}" + (f" ({k} models)" if k > 1 else ""),
               disable=not progress, leave=False)
    log = StepLog(epoch, step0, sums)
    sync(device)
    start = time.perf_counter()
    for step in range(n_steps):
        stepper.set_lr(learning_rate(cfg, step0 + step, total_steps))
        starts = windows.train_starts[orders[:, step * cfg.batch_size:(step + 1) * cfg.batch_size]]
        out = stepper.run(starts)
        sums += out
        # look at the numbers every step on the CPU, every LOG_EVERY steps on a GPU
        logged = (step + 1) % LOG_EVERY == 0 or step + 1 == n_steps
        if device.type == "cpu" or logged:
            worst = int(torch.nan_to_num(out[:, 0], nan=float("inf")).argmax()) if k > 1 else 0
            check_diverged(sums, out[worst, 0], limit, epoch, step + 1, stepper.lr,
                           f" (seed {configs[worst].seed})" if k > 1 else "")
        if logged:
            log.add(step + 1, sums)
            bar.set_postfix(loss=f"{sums[:, 0].mean().item() / (step + 1):.4f}", refresh=False)
            bar.update(step + 1 - bar.n)
    sync(device)
    seconds = time.perf_counter() - start
    bar.close()
    together = {"group_train_seconds": seconds, "trained_with": k} if k > 1 else {}
    # K models trained together share the time: each model's cost is its K-th part
    return [{"epoch": epoch, "train_loss": last, "objective_loss": obj, "steps": n_steps,
             "lr": stepper.lr, "train_seconds": seconds / k, **together,
             "cuda_graph": stepper.graph is not None, STEP_LOG: rows}
            for (obj, last), rows in zip((sums / n_steps).tolist(), log.rows)]


class StepLog:
    """The training loss every LOG_EVERY steps of an epoch (where the loop looks at the numbers
    anyway): per logged step, the mean losses since the one before. `sums` holds the running
    sums of (objective, last-position) losses, one pair per model: (2,) or (K, 2)."""

    def __init__(self, epoch: int, step0: int, sums: torch.Tensor):
        self.epoch, self.step0, self.done = epoch, step0, 0
        self.before = torch.zeros_like(sums)
        self.rows: list[list[dict]] = [[] for _ in range(sums.reshape(-1, 2).shape[0])]

    def add(self, done: int, sums: torch.Tensor) -> None:
        means = ((sums - self.before) / (done - self.done)).reshape(-1, 2).tolist()
        for rows, (objective, last) in zip(self.rows, means):
            rows.append({"epoch": self.epoch, "step": self.step0 + done, "train_loss": last,
                         "objective_loss": objective})
        self.before, self.done = sums.clone(), done


def _scores(model, windows: Windows, starts: torch.Tensor, batch_size: int, prefix: str):
    """Metrics of `model` on the windows at `starts`, keyed `<prefix>_loss` etc."""
    losses, correct = window_losses(model, windows.data, starts, windows.seq_len, batch_size)
    m = summarize(losses, correct)
    record = {f"{prefix}_loss": m["loss"], f"{prefix}_accuracy": m["accuracy"],
              f"{prefix}_bpc": m["bpc"], f"{prefix}_perplexity": m["perplexity"],
              f"{prefix}_windows": m["n_windows"]}
    return record, {"starts": starts.cpu(), "losses": losses, "correct": correct.bool()}


def evaluate_epoch(model, windows: Windows, cfg: TrainConfig, final: bool, test: bool = True,
                   batch_size: int = ExecutionConfig.eval_batch_size):
    """Held-out metrics of one epoch: validation every epoch, the test set after the last one.

    Validation: cfg.eval_windows evenly spaced validation windows, all of them after the last
    epoch (none without a validation set). Test: all test windows, after the last epoch only,
    so nothing during training (curves, choices) ever reads the test set; test=False (a sweep
    trial) never reads it.
    Returns (record, per-window test results {starts, losses, correct} on the CPU, or None).
    """
    sync(windows.data.device)
    start = time.perf_counter()
    record, per_window = {}, None
    if windows.val_starts.numel():
        starts = windows.val_starts if final else eval_subset(windows.val_starts,
                                                               cfg.eval_windows)
        record, _ = _scores(model, windows, starts, batch_size, "val")
    if final and test:
        scores, per_window = _scores(model, windows, windows.test_starts, batch_size,
                                     "test")
        record.update(scores)
    record["eval_seconds"] = time.perf_counter() - start
    return record, per_window


def finish_epoch(model, optimizer_state: dict | None, windows: Windows, configs: Configs,
                 record: dict, history: list[dict], folder: ModelFolder | None,
                 test: bool = True, eval_batch_size: int = ExecutionConfig.eval_batch_size,
                 best: BestSoFar | None = None) -> None:
    """Evaluate a trained epoch, checkpoint it (with folder), and append its record to history.
    With a validation set, the best epoch so far is kept (its checkpoint, charlm/best.py), and the
    last epoch is scored with the model `test_model` names.

    test=False: the last epoch is scored on validation only (a sweep's trial)."""
    record = dict(record)
    steps = record.pop(STEP_LOG, [])  # this model's rows of step losses
    epoch, cfg = record["epoch"], configs.train
    final = epoch == cfg.epochs
    best = best or BestSoFar(folder)
    # this epoch's model on validation: every epoch (all of its windows after the last one)
    held_out, _ = evaluate_epoch(model, windows, cfg, final, False, eval_batch_size)
    start, per_window = time.perf_counter(), None
    if windows.val_starts.numel():  # the best epoch, by the per-epoch validation windows
        subset = eval_subset(windows.val_starts, cfg.eval_windows).numel()
        loss = held_out["val_loss"] if not final or subset == windows.val_starts.numel() \
            else select_loss(model, windows, cfg.eval_windows, eval_batch_size)
        best.update(model, loss, record, history, windows, configs)
    if final:  # the test set, once, of the model the run keeps (test_model)
        tested = record.get("best_epoch", epoch) if cfg.test_model == "best" else epoch
        if test:
            scored = model if tested == epoch else best.model(model, tested)
            scores, per_window = _scores(scored, windows, windows.test_starts, eval_batch_size,
                                         "test")
            held_out.update(scores)
        held_out["tested_epoch"] = tested
    held_out["eval_seconds"] += time.perf_counter() - start
    record = {**record, **held_out}
    record["elapsed_train_seconds"] = sum(r["train_seconds"] for r in history) + record[
        "train_seconds"]
    if folder:
        if per_window is not None:  # per-window test results, for the report's bootstrap
            save_test_windows(folder, per_window)
        # the checkpoint last: a run killed before it reruns this epoch, whose files are then
        # written again (the step losses of a rerun epoch replace its old rows)
        folder.write_history([*history, record])
        folder.write_step_losses(steps)
        save_checkpoint(folder.checkpoint, model, optimizer_state, windows.vocab, configs,
                        [*history, record], epoch)
        folder.write_vocab(windows.vocab.to_json())
    history.append(record)


def train(
    model: torch.nn.Module,
    windows: Windows,
    cfg: TrainConfig,
    out_dir: str | Path | None = None,
    data_cfg: DataConfig | None = None,
    progress: bool = True,
    test: bool = True,
    until: int | None = None,
    eval_batch_size: int = ExecutionConfig.eval_batch_size,
) -> list[dict]:
    """Train `model` on `windows`; returns the history, one record per epoch.

    With out_dir (a model folder, charlm.folder.ModelFolder), the checkpoint, history and
    vocabulary are written after every epoch, and a checkpoint already there is resumed after
    its last finished epoch (same settings required). test=False: the test set is never read
    (a sweep's trial, scored on validation). until: stop after that epoch (a Ray task trains
    one epoch at a time; the schedule is still the whole run's).
    """
    device = windows.data.device
    if cfg.test_model == "best" and not windows.val_starts.numel():
        raise ParameterError("test_model=best tests the epoch of lowest validation loss, and "
                             "this run has no validation set: set val_frac (e.g. 0.1), or "
                             "test_model=last.")
    model.to(device).train()
    optimizer = adam(model.parameters(), cfg.lr, device, graph=False)
    configs = Configs(data_cfg or DataConfig(), model.cfg, cfg)
    folder = ModelFolder(Path(out_dir)) if out_dir is not None else None
    path = folder.checkpoint if folder else None
    history = []
    ckpt = resumable_checkpoint(path, configs)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        if ckpt.get("optimizer") is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if "cuda" in ckpt["rng"] and device.type == "cuda":
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        history = list(ckpt["history"])
    stepper = ModelStep(model, optimizer, windows, cfg)  # eager: cuDNN on CUDA, fused on CPU
    per_epoch, best = steps_per_epoch(windows.train_starts.numel(), cfg), BestSoFar(folder)
    for epoch in range(len(history) + 1, min(until or cfg.epochs, cfg.epochs) + 1):
        try:
            record, = train_epoch(stepper, windows, epoch, (epoch - 1) * per_epoch,
                                  per_epoch * cfg.epochs, progress)
            finish_epoch(model, optimizer.state_dict(), windows, configs, record, history, folder,
                         test, eval_batch_size, best)
        except KeyboardInterrupt:
            say_interrupted(epoch, path, len(history))
            raise
    return history


@dataclass
class TrainResult:
    model: torch.nn.Module
    windows: Windows
    history: list[dict]


def run_training(
    data_cfg: DataConfig,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    out_dir: str | Path | None = None,
    progress: bool = True,
    text: str | None = None,
    test: bool = True,
    until: int | None = None,
    execution: ExecutionConfig | None = None,
) -> TrainResult:
    """Load the data, build the model from the seed and train it: the whole recipe in one call.
    `execution` says where and how (device, fused kernels); it never changes the numbers."""
    execution = execution or ExecutionConfig()
    device = resolve_device(execution.device)
    set_precision(execution.precision)
    if execution.deterministic and device.type == "cuda":
        torch.use_deterministic_algorithms(True, warn_only=True)
    windows = make_windows(data_cfg, text=text).to(device)
    torch.manual_seed(train_cfg.seed)
    model = build(windows.vocab.size, model_cfg, data_cfg.seq_len, fused=execution.fused)
    history = train(model, windows, train_cfg, out_dir, data_cfg, progress, test, until,
                    execution.eval_batch_size)
    return TrainResult(model, windows, history)
