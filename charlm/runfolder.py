"""The run folder: where each notebook reads what the previous ones wrote.

reports/<run>/params.json, environment.json      parameters and hardware of the run
reports/<run>/models/<model>-s<seed>/            checkpoint.pt, history.csv, vocab.json,
                                                 test_windows.pt (per-window test results)
reports/<run>/metrics.json, metrics.csv, runs.csv, histories.csv, samples.json
reports/<run>/figures/*.png, notebooks/*.ipynb, report.html, report.md
"""

from __future__ import annotations

import json
import multiprocessing
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from charlm.atomic import atomic_torch_save, atomic_write_json, atomic_write_text
from charlm.checkpoint import CHECKPOINT, configs_of, load_checkpoint, load_model
from charlm.data import make_windows
from charlm.evaluate import window_losses
from charlm.generate import generate
from charlm.profiles import configs
from charlm.train import TEST_WINDOWS, run_training

MODELS_DIR = "models"


def run_name(model: str, seed: int) -> str:
    return f"{model}-s{seed}"


def model_dir(run_dir: str | Path, model: str, seed: int) -> Path:
    return Path(run_dir) / MODELS_DIR / run_name(model, seed)


def load_results(run_dir: str | Path, models: list[str] | None = None):
    """(finals, histories) of every trained model of a run: one row per model and seed / epoch."""
    finals, histories = [], []
    for ckpt_path in sorted((Path(run_dir) / MODELS_DIR).glob(f"*/{CHECKPOINT}")):
        ckpt = load_checkpoint(ckpt_path)
        model, seed = ckpt_path.parent.name.rsplit("-s", 1)
        tr, mc = ckpt["configs"]["train"], ckpt["configs"]["model"]
        hist = pd.DataFrame(ckpt["history"]).assign(model=model, seed=int(seed))
        histories.append(hist)
        n_params = sum(t.numel() for t in ckpt["model"].values())
        last = ckpt["history"][-1]
        finals.append(
            {
                "model": model,
                "seed": int(seed),
                "cell": mc["cell"],
                "hidden_size": mc["hidden_size"],
                "epochs_done": ckpt["epoch"],
                "epochs": tr["epochs"],
                "train_loss": last["train_loss"],
                "test_loss": last["test_loss"],
                "test_accuracy": last["test_accuracy"],
                "test_bpc": last["test_bpc"],
                "train_time": last["elapsed_train_seconds"],
                "parameters": n_params,
                "size_mb": n_params * 4 / 2**20,
                "split": ckpt["configs"]["data"]["split"],
                "objective": tr["objective"],
            }
        )
    if not finals:
        raise FileNotFoundError(f"No trained models in {Path(run_dir) / MODELS_DIR}.")
    finals, histories = pd.DataFrame(finals), pd.concat(histories, ignore_index=True)
    if models:  # the run's order (LSTM before GRU), not the folders' alphabetical order
        rank = {m: i for i, m in enumerate(models)}
        finals = finals.sort_values(["model", "seed"], key=lambda c: c.map(rank) if c.name ==
                                    "model" else c, kind="stable", ignore_index=True)
        histories = histories.sort_values(["model", "seed", "epoch"], key=lambda c: c.map(rank)
                                          if c.name == "model" else c, kind="stable",
                                          ignore_index=True)
    return finals, histories


def per_window(run_dir: str | Path, model: str, seed: int) -> dict[str, torch.Tensor]:
    """Per-window test results of one model, sorted by position in the text."""
    d = torch.load(model_dir(run_dir, model, seed) / TEST_WINDOWS, weights_only=True)
    order = torch.argsort(d["starts"])
    return {k: v[order] for k, v in d.items()}


def _train_one(run_dir, params: dict, model: str, seed: int, threads: int | None,
               progress: bool) -> pd.DataFrame:
    """Train one model and seed (in this process, or in a worker with `threads` threads)."""
    if threads:
        torch.set_num_threads(threads)
    cfgs = configs(params, model, seed)
    result = run_training(cfgs["data"], cfgs["model"], cfgs["train"],
                          out_dir=model_dir(run_dir, model, seed), progress=progress)
    return pd.DataFrame(result.history).assign(model=model, seed=seed)


def seed_jobs(params: dict) -> int:
    """How many seeds train at the same time: `jobs`, at most one per seed."""
    return max(1, min(int(params.get("jobs", 1)), len(params["seeds"])))


def train_seeds(run_dir: str | Path, params: dict, model: str, progress: bool = True):
    """Train `model` once per seed of the run (resuming any finished epochs); returns histories.

    With jobs > 1, that many seeds train at the same time, each in its own process with an
    equal share of the CPU threads; every seed still writes its own checkpoint after every
    epoch, so an interrupted run resumes the same way.
    """
    seeds, jobs = params["seeds"], seed_jobs(params)
    if jobs == 1:
        return pd.concat([_train_one(run_dir, params, model, s, None, progress) for s in seeds],
                         ignore_index=True)
    work = partial(_train_one, str(run_dir), params, model,
                   threads=max(1, torch.get_num_threads() // jobs), progress=False)
    # spawn: no fork of a process holding torch threads. Leaving the block terminates the pool,
    # so an error in one seed (raised here, with its type and message) or a Ctrl-C stops every
    # seed at once; each keeps its finished epochs.
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        runs = list(tqdm(pool.imap_unordered(work, seeds), total=len(seeds),
                         desc=f"{model}: seeds, {jobs} at a time", disable=not progress))
    runs.sort(key=lambda h: seeds.index(h["seed"].iloc[0]))
    return pd.concat(runs, ignore_index=True)


def evaluate_run(run_dir: str | Path, models: list[str] | None = None, batch_size: int = 4096):
    """Evaluate every trained model of the run on all its test windows; returns load_results().

    Per-window results that training wrote for the same checkpoint are reused, not recomputed.
    """
    for ckpt_path in sorted((Path(run_dir) / MODELS_DIR).glob(f"*/{CHECKPOINT}")):
        cached = ckpt_path.parent / TEST_WINDOWS
        ckpt = load_checkpoint(ckpt_path)
        if (
            cached.exists()
            and ckpt["history"][-1]["eval_windows"]
            == torch.load(cached, weights_only=True)["losses"].numel()
        ):
            continue
        model, vocab, _ = load_model(ckpt_path)
        windows = make_windows(configs_of(ckpt)["data"], vocab=vocab)
        losses, correct = window_losses(
            model, windows.data, windows.test_starts, windows.seq_len, batch_size
        )
        atomic_torch_save(
            cached, {"starts": windows.test_starts, "losses": losses, "correct": correct.bool()}
        )
    return load_results(run_dir, models)


def write_metrics(
    run_dir: str | Path,
    finals: pd.DataFrame,
    histories: pd.DataFrame,
    table: pd.DataFrame,
    intervals: dict,
) -> None:
    """metrics.json (table, runs, intervals) and CSVs with every number of the table."""
    run_dir = Path(run_dir)
    payload = {
        "table": table.to_dict(orient="records"),
        "runs": finals.to_dict(orient="records"),
        "differences": {k: (vars(v) if v is not None else None) for k, v in intervals.items()},
    }
    atomic_write_json(run_dir / "metrics.json", payload)
    atomic_write_text(run_dir / "metrics.csv", table.to_csv(index=False))
    atomic_write_text(run_dir / "runs.csv", finals.to_csv(index=False))
    atomic_write_text(run_dir / "histories.csv", histories.to_csv(index=False))


def generate_samples(run_dir: str | Path, params: dict) -> pd.DataFrame:
    """Samples of each model (first seed) for every prompt and temperature; writes samples.json."""
    rows = []
    for model_name in params["models"]:
        path = model_dir(run_dir, model_name, params["seeds"][0]) / CHECKPOINT
        model, vocab, ckpt = load_model(path)
        for prompt in params["prompts"]:
            for temperature in params["temperatures"]:
                text = generate(
                    model,
                    vocab,
                    prompt,
                    params["gen_length"],
                    temperature,
                    seed=params["gen_seed"],
                    context=ckpt["configs"]["data"]["seq_len"],
                )
                rows.append(
                    {
                        "model": model_name,
                        "prompt": prompt,
                        "temperature": temperature,
                        "seed": params["gen_seed"],
                        "text": text,
                    }
                )
    atomic_write_json(Path(run_dir) / "samples.json", rows)
    return pd.DataFrame(rows)


def read_json(run_dir: str | Path, name: str):
    return json.loads((Path(run_dir) / name).read_text())
