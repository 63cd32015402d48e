"""GPU benchmark: the faithful setting (objective last, batch 128, Adam 1e-3) on CUDA, FP32.

Side by side in one run, per model (LSTM, GRU), each row saying whether a CUDA graph was used:
- the baseline (DataLoader on the host, one-hot in forward, cuDNN, `.item()` each step);
- one model through charlm's step (`charlm.step.ModelStep`: cuDNN), eager and captured;
- K models as one stacked step (`charlm.scale.group.StackedStep`), K = 1, 5, 10: eager (charlm's
  fused layers), captured in a CUDA graph (what `make report` trains with on a GPU), compiled
  (torch.compile of forward and loss; its compile time said) and compiled + captured; with the
  kernels one step launches (a graph replays the same kernels in one launch);
- the captured step against the eager one: the same K models, weights and batches, 100 steps;
- end to end: what notebook 02 does for a model and 5 seeds, batched (corpus, training, every
  epoch's evaluation, the final evaluation on all test windows, checkpoints), for 2 epochs,
  projected to 30 from the group's time.
Without CUDA it runs a short CPU version (tiny corpus, a few steps; kernels are then the
operations dispatched, views left out), so the script itself stays tested.

    OUT=<folder> bash benchmarks/gpu.sh     # gpu.md and gpu.csv in <folder>
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from baseline import BaselineRNN, make_loader
from common import faithful_epoch_steps, write
from torch.utils._python_dispatch import TorchDispatchMode

from charlm import reference
from charlm.config import Configs, DataConfig, ModelConfig, TrainConfig
from charlm.data import make_windows
from charlm.device import set_precision, sync
from charlm.models import CharRNN
from charlm.scale.group import group_stepper, seeded_model, train_group
from charlm.step import ModelStep, adam
from charlm.train import epoch_order

EPOCHS = reference.SETTING["epochs"]


def time_baseline(windows, cell, steps, device):
    model = BaselineRNN(cell, windows.vocab.size).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    it = iter(make_loader(windows.data.cpu(), windows.train_starts.cpu(), 128))
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        x, y = next(it)
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()  # the usual per-step logging
    sync(device)
    return {"ms_per_step": (time.perf_counter() - t) / steps * 1000, "graph_used": False}


class _Ops(TorchDispatchMode):
    """Counts the operations dispatched to a backend (views left out): kernels on a CPU."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += not func.is_view
        return func(*args, **(kwargs or {}))


def kernels_per_step(stepper, starts) -> int:
    """Kernels one eager step launches: on CUDA counted by the profiler (kernels, copies,
    sets), on a CPU the operations dispatched. A captured step replays the same kernels."""
    if starts.device.type != "cuda":
        with _Ops() as ops:
            stepper.step(starts)
        return ops.n
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        stepper.step(starts)
        sync(starts.device)
    return sum(e.device_type == torch.autograd.DeviceType.CUDA for e in prof.events())


def _batches(windows, k: int):
    """Full batches of K models' own shuffled orders, cycled: (K, 128) starts each."""
    orders = torch.stack([epoch_order(windows.train_starts.numel(), TrainConfig(seed=s), 1)
                          for s in range(k)]).to(windows.data.device)
    n = windows.train_starts.numel() // 128
    return lambda i: windows.train_starts[orders[:, (i % n) * 128:(i % n + 1) * 128]]


def time_stepper(stepper, windows, steps) -> dict:
    """ms per step of a charlm stepper (the first call, which compiles or captures, timed on its
    own), its kernels per step, and whether a graph was used."""
    batch = _batches(windows, stepper.k)
    device = windows.data.device
    kernels = kernels_per_step(stepper, batch(0)) if not getattr(stepper, "compiled", False) \
        else None
    sync(device)
    t = time.perf_counter()
    first = stepper.run(batch(1))  # compile and/or capture happen here
    sync(device)
    setup = time.perf_counter() - t
    total = torch.zeros_like(first)
    t = time.perf_counter()
    for i in range(steps):
        total += stepper.run(batch(i + 2))
    sync(device)
    sec = (time.perf_counter() - t) / steps
    assert torch.isfinite(total).all(), "non-finite loss"
    if kernels is None:  # compiled: counted after compiling (the count must not compile)
        kernels = kernels_per_step(stepper, batch(0))
    return {"ms_per_step": sec * 1000, "graph_used": stepper.graph is not None,
            "kernels_per_step": kernels, "first_step_s": setup}


def one_model(windows, cell, graph: bool):
    torch.manual_seed(0)  # fused: the product's layers on a CPU (cuDNN on CUDA either way)
    model = CharRNN(windows.vocab.size, ModelConfig(cell), fused=True)
    model.to(windows.data.device).train()
    optimizer = adam(model.parameters(), 1e-3, windows.data.device, graph)
    return ModelStep(model, optimizer, windows, TrainConfig(), graph=graph)


def stacked(windows, cell, k: int, graph: bool, compiled: bool, plain: bool = False):
    """The product's stacked step; plain: autograd over the elementwise operations, without
    charlm's fused layers (what compile starts from)."""
    models = [seeded_model(windows.vocab.size, ModelConfig(cell), s) for s in range(k)]
    stepper = group_stepper(models, [TrainConfig(seed=s) for s in range(k)], windows,
                            graph=graph, compiled=compiled)
    stepper.module.fused = stepper.module.fused and not plain
    return stepper


def graph_versus_eager(windows, cell: str, k: int = 3, steps: int = 100) -> dict:
    """The same K models trained `steps` steps eagerly and replayed from the graph, from the same
    weights and batches: the largest loss and weight differences."""
    runs = []
    for graph in (False, True):
        stepper = stacked(windows, cell, k, graph, compiled=False)
        batch = _batches(windows, k)
        losses = torch.stack([stepper.run(batch(i)).clone() for i in range(steps)])
        runs.append((losses, [p.detach().clone() for p in stepper.module.parameters()],
                     stepper.graph is not None))
    (loss_a, w_a, _), (loss_b, w_b, used) = runs
    return {"graph_used": used, "max_loss_diff": (loss_a - loss_b).abs().max().item(),
            "max_weight_diff": max((a - b).abs().max().item() for a, b in zip(w_a, w_b))}


def end_to_end(cell: str, seeds: int, epochs: int, data: DataConfig, max_steps=None) -> dict:
    """What notebook 02 does for one model and its seeds, batched: corpus to final checkpoints
    and full test evaluations, for `epochs` epochs; projected to the reference's 30 from the
    group's time (each model's train_seconds is its K-th part)."""
    train = TrainConfig(epochs=epochs, eval_windows=20_000, max_steps=max_steps)
    configs = [Configs(data, ModelConfig(cell), replace(train, seed=s)) for s in range(seeds)]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        histories = train_group(configs, [Path(tmp) / str(s) for s in range(seeds)],
                                progress=False)
        wall = time.perf_counter() - t
    h = pd.DataFrame(histories[0])
    group = h.group_train_seconds
    evals = sum(pd.DataFrame(x).eval_seconds for x in histories)  # all K models, per epoch
    per_epoch = group.mean() + (evals.iloc[:-1].mean() if epochs > 1 else evals.iloc[-1])
    setup = wall - group.sum() - evals.sum()
    return {"cell": cell, "impl": f"end to end, {seeds} seeds batched, {epochs} epochs",
            "graph_used": bool(h.cuda_graph.all()), "measured_s": wall,
            f"projected_{EPOCHS}_epochs_s": setup + per_epoch * (EPOCHS - 1) + group.mean()
            + evals.iloc[-1],
            "test_loss_last_epoch": float(np.mean([r[-1]["test_loss"] for r in histories]))}


def _variants(cuda: bool):
    """(name, function(windows, cell, steps) -> row) in the order they are measured: what
    matters most first, so a run cut off by its time limit keeps it."""
    sizes = (1, 5, 10) if cuda else (1, 3)
    yield "baseline", lambda w, c, n: time_baseline(w, c, n, w.data.device)
    yield "one model, eager", lambda w, c, n: time_stepper(one_model(w, c, False), w, n)
    yield "one model, captured", lambda w, c, n: time_stepper(one_model(w, c, True), w, n)
    for k in sizes:
        for how, graph in (("eager", False), ("captured", True)):
            yield (f"stacked K={k}, {how}",
                   lambda w, c, n, k=k, g=graph: time_stepper(stacked(w, c, k, g, False), w, n))
    yield (f"stacked K={sizes[-1]}, plain autograd, eager", lambda w, c, n: time_stepper(
        stacked(w, c, sizes[-1], False, False, plain=True), w, n))


def _compiled_variants(cuda: bool):
    if not cuda:  # compiling takes minutes on two CPU cores: the tests check it on a CPU
        return
    for k in (1, 5, 10):
        for how, graph in (("compiled", False), ("compiled + captured", True)):
            yield (f"stacked K={k}, {how}",
                   lambda w, c, n, k=k, g=graph: time_stepper(stacked(w, c, k, g, True), w, n))


def _measure(rows, cell, impl, epoch_steps, fn, *args):
    """One row: fn(*args), or the error it raised."""
    try:
        row = fn(*args)
    except Exception as exc:  # report it, keep measuring the others
        rows.append({"cell": cell, "impl": impl, "error": repr(exc)[:200]})
        return
    if "ms_per_step" in row:
        row[f"projected_{EPOCHS}_epochs_s"] = row["ms_per_step"] / 1000 * epoch_steps * EPOCHS
    rows.append({"cell": cell, "impl": impl, **row})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=300, help="steps timed per step variant")
    ap.add_argument("--e2e-epochs", type=int, default=2, help="epochs of the end-to-end run")
    ap.add_argument("--out", type=Path, default=None, help="where gpu.md and gpu.csv go "
                    "(default $OUT, which a lent GPU machine sends back, else benchmarks/results,"
                    " or benchmarks/results/gpu_cpu_fallback without a GPU)")
    args = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    results = Path(__file__).parent / "results"
    out = args.out or Path(os.environ.get("OUT") or (
        results if cuda else results / "gpu_cpu_fallback"))
    device = torch.device("cuda" if cuda else "cpu")
    precision = set_precision("fp32")  # the faithful protocol: IEEE float32, cuDNN's RNNs too
    data = DataConfig() if cuda else DataConfig(max_chars=50_000)
    windows = make_windows(data).to(device)
    epoch_steps = faithful_epoch_steps(windows)
    steps = args.steps if cuda else 3
    lstm, gru = reference.NUMBERS["train_time"]
    title = (f"Faithful setting on {torch.cuda.get_device_name(0)}" if cuda else
             "GPU benchmark, CPU fallback (no CUDA here; tiny corpus, 3 steps: not a "
             "measurement, kernels are CPU operations)")
    title += (f", float32 {precision['cudnn_rnn']}, {steps} steps per step variant; reference "
              f"({reference.HARDWARE}): {lstm:.0f} s / {gru:.0f} s per model")
    rows = _Rows("gpu", title, out)
    cells = ("lstm", "gru")
    for cell in cells:
        for impl, fn in _variants(cuda):
            _measure(rows, cell, impl, epoch_steps, fn, windows, cell, steps)
    for cell in cells:  # the captured step must give the eager step's numbers
        _measure(rows, cell, "graph vs eager, K=3, 100 steps", epoch_steps, graph_versus_eager,
                 windows, cell, 3, 100 if cuda else 3)
    for cell in cells:
        _measure(rows, cell, "end to end", epoch_steps, end_to_end, cell, 5 if cuda else 2,
                 args.e2e_epochs if cuda else 1, data, None if cuda else 3)
    for cell in cells:
        for impl, fn in _compiled_variants(cuda):
            _measure(rows, cell, impl, epoch_steps, fn, windows, cell, steps)
    rows.done()


class _Rows(list):
    """The table so far, written (CSV and Markdown) after every row."""

    def __init__(self, name: str, title: str, out: Path):
        super().__init__()
        self.name, self.title, self.out = name, title, out

    def append(self, row: dict) -> None:
        super().append(row)
        write(self.name, pd.DataFrame(self), self.title, self.out, echo=False)

    def done(self) -> None:
        write(self.name, pd.DataFrame(self), self.title, self.out)


if __name__ == "__main__":
    main()
