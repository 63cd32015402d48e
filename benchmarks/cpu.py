"""CPU benchmarks, baseline and charlm side by side in one run.

1. Faithful step (objective last, batch 128, Adam 1e-3): median ms per training step of the
   baseline (benchmarks/baseline.py) and of charlm, alternating, several repetitions; their
   ratio; and the loss of the first steps from the same weights and batches (must match).
2. Time to quality: validation loss against training seconds, charlm's `fast` profile against
   the baseline for the same budget, on the same validation windows (the test set is not read).

    python benchmarks/cpu.py                  # both parts (about 25 minutes on 2 cores)
    python benchmarks/cpu.py --part step      # part 1 only (a few minutes)
    python benchmarks/cpu.py --tiny           # a seconds-long smoke run (used by the tests)

Writes Markdown and CSV (and a PNG for part 2) into benchmarks/results/.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from baseline import BaselineRNN, evaluate, make_loader
from common import RESULTS, charlm_step, faithful_epoch_steps, write

from charlm import reference
from charlm.checkpoint import configs_of, load_checkpoint
from charlm.config import DataConfig, ModelConfig
from charlm.data import get_batch, make_windows
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.models import CharRNN
from charlm.train import eval_subset, run_training


def charlm_model_like(base: BaselineRNN, cell: str, vocab_size: int) -> CharRNN:
    """A charlm model with the baseline's exact weights (same layout, other names for the head)."""
    model = CharRNN(vocab_size, ModelConfig(cell), fused=True)
    state = {k.replace("fc.", "head."): v.clone() for k, v in base.state_dict().items()}
    model.load_state_dict(state)
    return model


def baseline_steps(model, opt, batches):
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def charlm_steps(model, opt, data, starts_batches):
    losses = [charlm_step(model, opt, data, starts) for starts in starts_batches]
    return [v.item() for v in losses]


def step_benchmark(windows, cell: str, steps: int, reps: int) -> dict:
    """Median ms/step of each, alternating; loss curves of the first steps from equal weights."""
    torch.manual_seed(0)
    base = BaselineRNN(cell, windows.vocab.size)
    ours = charlm_model_like(base, cell, windows.vocab.size)
    opt_b = torch.optim.Adam(base.parameters(), lr=1e-3)
    opt_c = torch.optim.Adam(ours.parameters(), lr=1e-3)
    loader = iter(make_loader(windows.data, windows.train_starts, 128, seed=0))
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(windows.train_starts.numel(), generator=gen)
    # the equality check feeds both the same batches from the same weights
    check = min(steps, 20)
    starts = [windows.train_starts[perm[i * 128 : (i + 1) * 128]] for i in range(check)]
    batches = [get_batch(windows.data, s, 20, "last") for s in starts]
    loss_b = baseline_steps(base, opt_b, batches)
    loss_c = charlm_steps(ours, opt_c, windows.data, starts)
    times = {"baseline": [], "charlm": []}
    offset = check
    for _ in range(reps):
        t = time.perf_counter()
        baseline_steps(base, opt_b, [next(loader) for _ in range(steps)])
        times["baseline"].append((time.perf_counter() - t) / steps * 1000)
        chunk = [windows.train_starts[perm[(offset + i) * 128 : (offset + i + 1) * 128]]
                 for i in range(steps)]
        offset += steps
        t = time.perf_counter()
        charlm_steps(ours, opt_c, windows.data, chunk)
        times["charlm"].append((time.perf_counter() - t) / steps * 1000)
    med_b, med_c = statistics.median(times["baseline"]), statistics.median(times["charlm"])
    epoch = faithful_epoch_steps(windows)
    return {"cell": cell, "baseline_ms_per_step": med_b, "charlm_ms_per_step": med_c,
            "ratio": med_c / med_b, "reps": reps, "steps_per_rep": steps,
            "max_loss_diff_first_steps": max(abs(a - b) for a, b in zip(loss_b, loss_c)),
            "baseline_epoch_s": med_b * epoch / 1000, "charlm_epoch_s": med_c * epoch / 1000}


def baseline_curve(windows, cell: str, seconds: float, eval_starts, points: int) -> list[dict]:
    """Train the baseline for `seconds`, evaluating on eval_starts at `points` times."""
    torch.manual_seed(0)
    model = BaselineRNN(cell, windows.vocab.size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = iter(make_loader(windows.data, windows.train_starts, 128, seed=0))
    rows, elapsed = [], 0.0
    for k in range(1, points + 1):
        t = time.perf_counter()
        while elapsed + (time.perf_counter() - t) < seconds * k / points:
            baseline_steps(model, opt, [next(loader)])
        elapsed += time.perf_counter() - t
        loss, acc = evaluate(model, windows.data, eval_starts)
        rows.append({"impl": "baseline", "cell": cell, "train_seconds": elapsed,
                     "val_loss": loss, "val_accuracy": acc})
    return rows


def quality_benchmark(cell: str, profile: str, overrides: dict, eval_n: int,
                      from_run: Path | None = None) -> pd.DataFrame:
    """charlm's profile for one cell (trained now, or read from a run folder of that profile),
    then the baseline for the same training time, evaluated on the same validation windows."""
    cfg = resolve(profile, overrides).configs(cell, 0)
    if from_run is not None:
        ckpt = load_checkpoint(Run(from_run).model(cell, 0).checkpoint)
        history = ckpt["history"]
        windows = make_windows(configs_of(ckpt).data)
    else:
        result = run_training(cfg.data, cfg.model, cfg.train, progress=False, test=False)
        history, windows = result.history, result.windows
    rows = [{"impl": f"charlm {profile}", "cell": cell,
             "train_seconds": r["elapsed_train_seconds"],
             "val_loss": r["val_loss"], "val_accuracy": r["val_accuracy"],
             "val_windows": r["val_windows"]} for r in history]
    budget = history[-1]["elapsed_train_seconds"]
    eval_starts = eval_subset(windows.val_starts, eval_n)
    rows += baseline_curve(windows, cell, budget, eval_starts, points=len(history))
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--part", choices=["step", "quality", "all"], default="all")
    ap.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--profile", default="fast")
    ap.add_argument("--tiny", action="store_true", help="seconds-long run on a small slice")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    ap.add_argument("--from-run", type=Path, default=None,
                    help="take charlm's curve from this run folder of --profile (no retraining)")
    args = ap.parse_args(argv)
    data_cfg = DataConfig(max_chars=50_000) if args.tiny else DataConfig()
    steps, reps = (3, 1) if args.tiny else (args.steps, args.reps)
    suffix = "_tiny" if args.tiny else ""
    if args.part in ("step", "all"):
        windows = make_windows(data_cfg)
        rows = [step_benchmark(windows, c, steps, reps) for c in args.cells]
        title = "Faithful training step: baseline vs charlm"
        write(f"cpu_step{suffix}", pd.DataFrame(rows), title, args.out)
    if args.part in ("quality", "all"):
        overrides = ({"max_chars": 50_000, "max_steps": 3, "epochs": 2, "eval_windows": 500}
                     if args.tiny else {})
        eval_n = 500 if args.tiny else 20_000
        df = pd.concat([quality_benchmark(c, args.profile, overrides, eval_n, args.from_run)
                        for c in args.cells])
        title = "Time to quality: validation loss against training time"
        write(f"time_to_quality{suffix}", df, title, args.out)
        plot_quality(df, args.out / f"time_to_quality{suffix}.png")


def plot_quality(df: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=df, x="train_seconds", y="val_loss", hue="cell", style="impl",
                 marker="o", ax=ax)
    for ref in reference.NUMBERS["test_loss"]:  # the reference's LSTM and GRU test losses
        ax.axhline(ref, ls=":", lw=1, color="grey")
    ax.set(title="Validation loss against training time (CPU)", xlabel="training seconds",
           ylabel="validation loss (nats)")
    fig.savefig(path, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
