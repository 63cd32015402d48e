"""GPU benchmark: the faithful setting (objective last, batch 128, Adam 1e-3) on CUDA.

Side by side in one run, per model (LSTM, GRU):
- the baseline (DataLoader on the host, one-hot in forward, cuDNN, `.item()` each step);
- charlm eager (the training loop of `train.train`: corpus and batches on the GPU);
- charlm's group step (`charlm.scale.group`) with the whole step in a CUDA graph, K = 1, 2, 6, 10
  models at once: ms per step of the group, projected to 30 epochs;
- end to end: what notebook 02 does for a model and 5 seeds, batched (corpus, training, every
  epoch's evaluation, the final evaluation on all test windows, checkpoints), for a few epochs,
  projected to 30.
Without CUDA it runs a tiny CPU fallback, so the script itself stays tested.

    bash benchmarks/gpu.sh            # writes benchmarks/results/gpu.md and gpu.csv
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
from common import charlm_step, faithful_epoch_steps, write

from charlm import reference
from charlm.config import Configs, DataConfig, ModelConfig, TrainConfig
from charlm.data import make_windows
from charlm.models import CharRNN
from charlm.scale.group import graph_versus_eager, group_stepper, seeded_model, train_group

GROUP_SIZES = {True: (1, 2, 6, 10), False: (1, 2)}  # K on CUDA, on the CPU fallback


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_baseline(windows, cell, steps, device):
    model = BaselineRNN(cell, windows.vocab.size).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = make_loader(windows.data.cpu(), windows.train_starts.cpu(), 128)
    it = iter(loader)
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
    return (time.perf_counter() - t) / steps, False  # never a CUDA graph


def time_charlm_eager(windows, cell, steps, device):
    """The product's eager step (train.train on CUDA): CharRNN with cuDNN, batches on the GPU."""
    model = CharRNN(windows.vocab.size, ModelConfig(cell)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data, train = windows.data.to(device), windows.train_starts.to(device)
    order = torch.randperm(train.numel(), device=device)
    total = torch.zeros((), device=device)
    sync(device)
    t = time.perf_counter()
    for i in range(steps):
        total += charlm_step(model, opt, data, train[order[(i * 128) % (train.numel() - 128):][
            :128]])
    sync(device)
    assert torch.isfinite(total), "non-finite loss"
    return (time.perf_counter() - t) / steps, False  # never a CUDA graph


def time_group(windows, cell, steps, device, k: int):
    """K models of the faithful setting as one step (charlm.scale.group), a CUDA graph on CUDA."""
    w = windows.to(device)
    models = [seeded_model(w.vocab.size, ModelConfig(cell), s) for s in range(k)]
    stepper = group_stepper(models, [TrainConfig(seed=s) for s in range(k)], w)
    orders = torch.stack([torch.randperm(w.train_starts.numel(), device=device)
                          for _ in range(k)])
    n_batches = w.train_starts.numel() // 128
    stepper.run(w.train_starts[orders[:, :128]])  # capture (not timed); eager if it failed
    total = torch.zeros(k, 2, device=device)
    sync(device)
    t = time.perf_counter()
    for i in range(steps):
        j = i % n_batches
        total += stepper.run(w.train_starts[orders[:, j * 128:(j + 1) * 128]])
    sync(device)
    assert torch.isfinite(total).all(), "non-finite loss"
    return (time.perf_counter() - t) / steps, stepper.graph is not None


def end_to_end(cell: str, seeds: int, epochs: int, data: DataConfig, max_steps=None) -> dict:
    """What notebook 02 does for one model and its seeds, batched: corpus to final checkpoints
    and full test evaluations, for `epochs` epochs; projected to the reference's 30."""
    train = TrainConfig(epochs=epochs, eval_windows=20_000, max_steps=max_steps)
    configs = [Configs(data, ModelConfig(cell), replace(train, seed=s)) for s in range(seeds)]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        histories = train_group(configs, [Path(tmp) / str(s) for s in range(seeds)],
                                progress=False)
        wall = time.perf_counter() - t
    h = pd.DataFrame(histories[0])
    group = h.group_train_seconds  # the group's time: train_seconds is its K-th part
    per_epoch = group.mean() + seeds * h.eval_seconds.iloc[:-1].mean() if epochs > 1 \
        else group.mean()
    full_eval = seeds * h.eval_seconds.iloc[-1]
    setup = wall - group.sum() - seeds * h.eval_seconds.sum()
    total = reference.SETTING["epochs"]
    return {"cell": cell, "impl": f"end to end, {seeds} seeds batched, {epochs} epochs",
            "cuda_graph": bool(h.cuda_graph.all()), "measured_s": wall,
            f"projected_{total}_epochs_s": setup + per_epoch * (total - 1) + group.mean()
            + full_eval,
            "test_loss_last_epoch": float(np.mean([r[-1]["test_loss"] for r in histories]))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=float, default=0.5, help="epochs timed per step variant")
    ap.add_argument("--e2e-epochs", type=int, default=2, help="epochs of the end-to-end run")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or (
        Path(__file__).parent / "results")), help="where the tables go (default $OUT, which a "
        "lent GPU machine sends back, else benchmarks/results)")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    data = DataConfig() if cuda else DataConfig(max_chars=50_000)
    windows = make_windows(data)
    epoch_steps, total = faithful_epoch_steps(windows), reference.SETTING["epochs"]
    steps = int(args.epochs * epoch_steps) if cuda else 3
    variants = {"baseline": (time_baseline, ()), "charlm eager": (time_charlm_eager, ()),
                **{f"charlm group, K={k}, {'CUDA graph' if cuda else 'eager'}": (time_group, (k,))
                   for k in GROUP_SIZES[cuda]}}
    name = "gpu" if cuda else "gpu_cpu_fallback"
    lstm, gru = reference.NUMBERS["train_time"]
    title = (f"Faithful setting on {torch.cuda.get_device_name(0)}" if cuda else
             "GPU benchmark, CPU fallback (no CUDA here; tiny setting, not a measurement)")
    title += (f", {steps} steps per step variant; reference ({reference.HARDWARE}): {lstm:.0f} s"
              f" / {gru:.0f} s per model")
    rows = _Rows(name, title, args.out)  # written after every row: a cut-off run keeps them
    for cell in ("lstm", "gru"):
        for impl, (fn, extra) in variants.items():
            try:
                sec, graph = fn(windows, cell, steps, device, *extra)
                rows.append({"cell": cell, "impl": impl, "cuda_graph": graph,
                             "ms_per_step": sec * 1000,
                             f"projected_{total}_epochs_s": sec * epoch_steps * total})
            except Exception as exc:  # report, keep measuring the others
                rows.append({"cell": cell, "impl": impl, "error": repr(exc)[:200]})
    if cuda:  # the captured step must give the eager step's numbers
        for cell in ("lstm", "gru"):
            try:
                rows.append({"cell": cell, "impl": "graph vs eager, K=3, 100 steps",
                             **graph_versus_eager(cell)})
            except Exception as exc:
                rows.append({"cell": cell, "impl": "graph vs eager", "error": repr(exc)[:200]})
    for cell in ("lstm", "gru"):
        try:
            rows.append(end_to_end(cell, 5 if cuda else 2, args.e2e_epochs if cuda else 1, data,
                                   None if cuda else 3))
        except Exception as exc:
            rows.append({"cell": cell, "impl": "end to end", "error": repr(exc)[:200]})
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
