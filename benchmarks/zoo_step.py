"""Every kind's training step side by side in one run: the `fast` recipe's step (objective all,
batch 128, 20-character windows, Adam, clipping), each model at the LSTM's parameter count
(gru-h149 for the GRU), median ms per step over repetitions that alternate between the models,
and each model's ratio to the GRU's (the reference's size) and to the LSTM's.

    python benchmarks/zoo_step.py                 # CPU, about 3 minutes on 2 cores
    python benchmarks/zoo_step.py --device cuda   # on a GPU
    python benchmarks/zoo_step.py --tiny          # a seconds-long smoke run (the tests)

Writes zoo_step.md / zoo_step.csv into benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from common import RESULTS, write

from charlm.config import DataConfig, TrainConfig, parse_model_name
from charlm.data import make_windows
from charlm.device import resolve_device, sync
from charlm.models import build, describe, training_flops
from charlm.models.minrnn import coefficients, log_scan, scan, sequential
from charlm.step import ModelStep, adam

MODELS = ["lstm", "gru", "gru-h149", "transformer", "mingru", "minlstm",
          "examples/my_cell.py:MyCell"]


def steppers(windows, train: TrainConfig, device, models: list[str]) -> dict:
    """A step for each model, built from seed 0 on the device (fused CPU layers where a
    recurrent cell has them, as training uses)."""
    out = {}
    for name in models:
        cfg, _ = parse_model_name(name)
        torch.manual_seed(0)
        model = build(windows.vocab.size, cfg, windows.seq_len, fused=True).to(device).train()
        out[name] = (model, ModelStep(model, adam(model.parameters(), train.lr, device, False),
                                      windows, train))
    return out


def time_steps(stepper: ModelStep, windows, steps: int, device, gen) -> float:
    """ms per step over `steps` steps (losses read back once, at the end)."""
    n = windows.train_starts.numel()
    batches = [windows.train_starts[torch.randint(n, (128,), generator=gen)].to(device)[None]
               for _ in range(steps)]
    sync(device)
    start = time.perf_counter()
    for starts in batches:
        out = stepper.step(starts)
    float(out.sum())
    sync(device)
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    steps, reps = (2, 2) if args.tiny else (args.steps, args.reps)
    device = resolve_device(args.device)
    data = DataConfig(max_chars=50_000 if args.tiny else None, val_frac=0.1)
    windows = make_windows(data).to(device)
    train = TrainConfig(batch_size=128, lr=1e-3, objective="all", grad_clip=1.0)
    models = MODELS[:2] + MODELS[3:5] if args.tiny else MODELS
    built, gen = steppers(windows, train, device, models), torch.Generator().manual_seed(0)
    for _, stepper in built.values():  # warm-up: allocations, threads, kernels
        time_steps(stepper, windows, 2, device, gen)
    times = {name: [] for name in built}
    for _ in range(reps):  # alternating, so that drift on the machine hits every model alike
        for name, (_, stepper) in built.items():
            times[name].append(time_steps(stepper, windows, steps, device, gen))
    rows = []
    for name in built:
        cfg, _ = parse_model_name(name)
        info = describe(windows.vocab.size, cfg, windows.seq_len)
        rows.append({"model": name, "width": info["width"], "layers": info["layers"],
                     "parameters": info["parameters"],
                     "GFLOPs per step": training_flops(windows.vocab.size, cfg, 128,
                                                       windows.seq_len, "all") / 1e9,
                     "ms per step (median)": statistics.median(times[name]),
                     "min": min(times[name]), "max": max(times[name])})
    df = pd.DataFrame(rows)
    for ref in ("gru", "lstm"):
        base = df.loc[df.model == ref, "ms per step (median)"].iloc[0]
        df[f"x {ref}'s time"] = df["ms per step (median)"] / base
    scans = scan_forms(device, reps)
    where = "CPU" if device.type == "cpu" else torch.cuda.get_device_name(device)
    write("zoo_step" + ("_tiny" if args.tiny else ""), df,
          f"One training step of every kind ({where}; fast recipe: objective all, batch 128; "
          f"median of {reps} x {steps} steps, alternating)", out=args.out)
    write("zoo_scan" + ("_tiny" if args.tiny else ""), scans,
          "minGRU's recurrence over a window, forward and backward (batch 128, 20 positions, "
          f"width 189), three ways, median of {reps} x 20, alternating", out=args.out)


def scan_forms(device, reps: int) -> pd.DataFrame:
    """The minGRU layer's recurrence three ways, side by side: the parallel scan charlm trains
    with (linear space), the paper's log-space scan, and the plain loop of 20 steps."""
    gen = torch.Generator().manual_seed(0)
    pre = torch.randn(128, 20, 2 * 189, generator=gen).to(device).requires_grad_()
    forms = {"parallel scan, linear space (charlm)": lambda a, b: scan(a, b),
             "parallel scan, log space (the paper's)": log_scan,
             "sequential loop, 20 steps": sequential}
    times = {name: [] for name in forms}
    for _ in range(reps + 1):  # the first round warms up
        for name, form in forms.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(20):
                form(*coefficients("mingru", pre)).sum().backward()
            sync(device)
            times[name].append((time.perf_counter() - start) / 20 * 1e3)
    rows = [{"recurrence": name, "ms fwd+bwd (median)": statistics.median(t[1:])}
            for name, t in times.items()]
    df = pd.DataFrame(rows)
    df["x charlm's"] = df["ms fwd+bwd (median)"] / df["ms fwd+bwd (median)"].iloc[0]
    return df


if __name__ == "__main__":
    main()
