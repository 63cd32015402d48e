"""GPU benchmark: the faithful setting (objective last, batch 128, Adam 1e-3) on CUDA.

Per model: the baseline (DataLoader on the host, one-hot in forward, cuDNN) and charlm (corpus
and batches on the GPU, no host sync inside a step), eager and with the whole step captured in a
CUDA graph, each for a few epochs; projects the 30-epoch time. Without CUDA it runs a tiny CPU
fallback so the script itself stays tested.

    bash benchmarks/gpu.sh            # writes benchmarks/results/gpu.md and gpu.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from baseline import BaselineRNN, make_loader
from common import charlm_step, faithful_epoch_steps, write

from charlm import reference
from charlm.config import DataConfig, ModelConfig
from charlm.data import make_windows
from charlm.models import CharRNN


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
    return (time.perf_counter() - t) / steps


def time_charlm(windows, cell, steps, device, graph: bool):
    model = CharRNN(windows.vocab.size, ModelConfig(cell)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=graph and device.type == "cuda")
    data, train = windows.data.to(device), windows.train_starts.to(device)
    order = torch.randperm(train.numel(), device=device)
    total = torch.zeros((), device=device)
    static = train[order[:128]].clone()
    step = lambda: charlm_step(model, opt, data, static, set_to_none=False)  # noqa: E731
    if graph and device.type == "cuda":
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):  # warm up before capture
                step()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            static_loss = step()
        run = lambda: (g.replay(), static_loss)[1]  # noqa: E731
    else:
        run = step
    sync(device)
    t = time.perf_counter()
    for i in range(steps):
        static.copy_(train[order[(i * 128) % (train.numel() - 128) :][:128]])
        total += run().detach()
    sync(device)
    seconds = (time.perf_counter() - t) / steps
    assert torch.isfinite(total), "non-finite loss"
    return seconds


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=float, default=1.0, help="epochs timed per run")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    windows = make_windows(DataConfig() if cuda else DataConfig(max_chars=50_000))
    epoch_steps = faithful_epoch_steps(windows)
    epochs = reference.SETTING["epochs"]
    steps = int(args.epochs * epoch_steps) if cuda else 5
    rows = []
    for cell in ("lstm", "gru"):
        variants = {"baseline": (time_baseline, ()), "charlm eager": (time_charlm, (False,)),
                    "charlm cuda graph": (time_charlm, (True,))}
        for name, (fn, extra) in variants.items():
            try:
                sec = fn(windows, cell, steps, device, *extra)
                rows.append({"cell": cell, "impl": name, "ms_per_step": sec * 1000,
                             "projected_30_epochs_s": sec * epoch_steps * epochs})
            except Exception as exc:  # report, keep measuring the others
                rows.append({"cell": cell, "impl": name, "error": repr(exc)[:200]})
    df = pd.DataFrame(rows)
    name = "gpu" if cuda else "gpu_cpu_fallback"
    title = (f"Faithful setting on {torch.cuda.get_device_name(0)}" if cuda else
             "GPU benchmark, CPU fallback (no CUDA here; tiny setting, not a measurement)")
    lstm, gru = reference.NUMBERS["train_time"]
    write(name, df, title + f", {steps} steps per variant; reference ({reference.HARDWARE}): "
          f"{lstm:.0f} s / {gru:.0f} s", args.out)


if __name__ == "__main__":
    main()
