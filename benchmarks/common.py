"""What the benchmark scripts share: charlm's faithful step and the results writer.

The scripts run as `python benchmarks/<name>.py`, so this folder is on sys.path already.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from charlm.config import DataConfig, TrainConfig
from charlm.data import Windows, get_batch
from charlm.experiment.environment import describe_environment
from charlm.report.tables import hardware_line, md_table
from charlm.train import steps_per_epoch

RESULTS = Path(__file__).parent / "results"


def faithful_epoch_steps(windows: Windows) -> int:
    """Optimizer steps in one epoch of the reference's setting on these windows."""
    return steps_per_epoch(windows.train_starts.numel(), TrainConfig())


def charlm_step(model, opt, data, starts, set_to_none: bool = True) -> torch.Tensor:
    """One faithful charlm step on a batch of window starts; returns the loss (on the device)."""
    x, y = get_batch(data, starts, DataConfig().seq_len, "last")
    logits, _ = model(x, last_only=True)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=set_to_none)  # a CUDA graph needs the gradients to stay in place
    return loss.detach()


def write(name: str, df: pd.DataFrame, title: str, out: Path = RESULTS, echo: bool = True
          ) -> None:
    """Results as CSV and Markdown (with the machine they ran on), and printed (echo)."""
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"{name}.csv", index=False)
    env = describe_environment()
    text = (f"# {title}\n\nMachine: {hardware_line(env)}, {env['torch_threads']} torch threads, "
            f"{time.strftime('%Y-%m-%d')}.\n\n" + md_table(df.round(4)) + "\n")
    (out / f"{name}.md").write_text(text)
    if echo:
        print(text)
