"""The work of the notebooks, one function per step of the chain.

    tune_models       02_tune: the search of each model's setting on validation
    train_model       03_train: every seed of one model, checkpointed after every epoch
    evaluate_run      04_evaluate: the runs table and every comparison of the run
    generate_samples  05_generate: text from each model, for every prompt and temperature

Each takes the Run (the folder) and the RunSpec (what to do) and returns tables; the notebook
shows them and writes them through the Run.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import pandas as pd
import torch

from charlm import reference
from charlm.checkpoint import (
    built_config,
    configs_of,
    load_checkpoint,
    load_model,
    load_test_windows,
    model_of,
    save_test_windows,
)
from charlm.config import SPLITS, DataConfig, parse_model_name
from charlm.data import Vocab, load_corpus, make_windows
from charlm.device import resolve_device
from charlm.errors import CheckpointError, ParameterError
from charlm.evaluate import window_losses
from charlm.experiment import jobs
from charlm.experiment.layout import MODELS_DIR, produced, producer
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec
from charlm.folder import ModelFolder
from charlm.generate import fit_prompt, generate
from charlm.kinds import RECURRENT
from charlm.models import describe, size_mb, training_flops
from charlm.scale.group import train_group
from charlm.scenes import scene_of, scene_starts
from charlm.stats import held_out, ngram, search, verdicts
from charlm.train import steps_per_epoch


# -- 02_tune
def tune_models(run: Run, spec: RunSpec, progress: bool = True) -> pd.DataFrame:
    """Every trial of the run's search (resuming finished epochs), then the choice: one row
    per trial; writes both into the run folder (Run.write_tuning). Never reads the test set."""
    if not spec.search.tune_space:
        print("charlm: this run searches nothing (tune_space is empty): every model trains at "
              "the run's setting.", file=sys.stderr)
        return pd.DataFrame()
    with run.hold():
        jobs.run_jobs(jobs.trials(run, spec), spec, progress)
        table = jobs.trial_table(run, spec)
        run.write_tuning(table, search.choose(table, spec.search.tune_space, spec.run.models,
                                              spec.search.tune_seeds))
    return table


# -- 03_train
def batched(spec: RunSpec, model: str | None = None) -> bool:
    """Whether the seeds of a model (or of the run's recurrent cells) train as one stacked
    computation: `batched`, else on CUDA (never with a split per seed, a group trains on one
    split; never on Ray; never with dropout, which the stacked layers lack; only the recurrent
    cells stack, the other kinds train one by one)."""
    if spec.run.split_per_seed or spec.scale.executor == "ray" or spec.uses_dropout():
        return False
    if model is not None and parse_model_name(model)[0].cell not in RECURRENT:
        return False
    if spec.scale.batched is not None:
        return spec.scale.batched
    return resolve_device(spec.execution.device).type == "cuda"


def train_models(run: Run, spec: RunSpec, progress: bool = True) -> None:
    """Every model and seed of the run at once (executor=ray: the pipeline's driver submits
    them all, so the cluster is as busy as the run allows); the notebooks then find them
    trained."""
    with run.hold():
        jobs.run_jobs(jobs.training_jobs(run, spec), spec, progress)


def train_model(run: Run, spec: RunSpec, model: str = "", progress: bool = True
                ) -> pd.DataFrame:
    """Train `model` ("": every model of the run, in its order) once per seed of the run,
    resuming finished epochs; returns the histories, one row per model, seed and epoch.

    With executor=ray, each seed is a Ray task per epoch (several at once); with batched, the
    seeds of a model train as one stacked computation. Every seed writes its own checkpoint
    after every epoch, so an interrupted run resumes the
    same way. The run folder is held meanwhile.
    """
    histories = []
    with run.hold():
        for name in models_named(spec, model):
            todo = jobs.training_jobs(run, spec, [name])
            if batched(spec, name):  # all seeds as one computation, each as if alone
                done = train_group([j.configs for j in todo], [j.folder.path for j in todo],
                                   progress, execution=spec.execution)
            else:
                done = jobs.run_jobs(todo, spec, progress)
            histories += [pd.DataFrame(h).assign(model=name, seed=s)
                          for h, s in zip(done, spec.run.seeds)]
    return pd.concat(histories, ignore_index=True)


def training_table(run: Run, spec: RunSpec, model: str = "") -> pd.DataFrame:
    """What notebook 03 trains, a row per model: its size, split, training setting and compute
    (optimizer steps per seed; FLOPs per step and in all, charlm.models.training_flops; its
    kind, width, parameters and forward FLOPs per character, charlm.models.describe)."""
    rows = []
    for name in models_named(spec, model):
        cfg = jobs.model_configs(run, spec, name, spec.run.seeds[0])
        windows = make_windows(cfg.data)  # the vocabulary and the number of steps
        steps = steps_per_epoch(windows.train_starts.numel(), cfg.train) * cfg.train.epochs
        flops = training_flops(windows.vocab.size, cfg.model, cfg.train.batch_size,
                               cfg.data.seq_len, cfg.train.objective)
        rows.append({"model": name, **describe(windows.vocab.size, cfg.model, cfg.data.seq_len),
                     "split": cfg.data.split,
                     "objective": cfg.train.objective, "lr": cfg.train.lr,
                     "batch_size": cfg.train.batch_size, "epochs": cfg.train.epochs,
                     "max_steps": cfg.train.max_steps, "steps": steps,
                     "GFLOPs per step": round(flops / 1e9, 3),
                     "PFLOPs in all": round(flops * steps / 1e15, 4),
                     "seeds": len(spec.run.seeds)})
    return pd.DataFrame(rows)


LAST_EPOCH_COLUMNS = ["model", "seed", "epoch", "train_loss", "val_loss", "val_accuracy",
                      "test_loss", "test_accuracy", "elapsed_train_seconds"]


def last_epochs(history: pd.DataFrame) -> pd.DataFrame:
    """Each model and seed's final epoch, the columns a reader compares."""
    last = history.groupby(["model", "seed"], sort=False).tail(1)
    return last[[c for c in LAST_EPOCH_COLUMNS if c in last]].reset_index(drop=True)


def models_named(spec: RunSpec, model: str = "") -> list[str]:
    """The models a notebook 03 trains: `model`, or every model of the run for \"\"."""
    if model and model not in spec.run.models:
        raise ParameterError(f"model={model!r} is not one of this run's models "
                             f"{spec.run.models}: add it to models, pick one of them, or give "
                             "\"\" for all of them.")
    return [model] if model else list(spec.run.models)


def trained(run: Run, model: str, seed: int) -> ModelFolder:
    """A trained model's folder; a clear error, naming the notebook that trains it, where it
    has no checkpoint yet."""
    folder = run.model(model, seed)
    path = f"{MODELS_DIR}/{folder.path.name}/{folder.checkpoint.name}"
    produced(run.root, path, f"{producer(path)} (model={model!r}, or \"\" for every model)")
    return folder


# -- 04_evaluate
@dataclass
class Evaluation:
    """What notebook 04 computes: the tables it shows and writes into the run folder."""

    runs: pd.DataFrame  # one row per model and seed, with each run's test-loss interval
    histories: pd.DataFrame  # one row per model, seed and epoch
    step_losses: pd.DataFrame  # one row per model, seed and logged step: the training loss
    summary: pd.DataFrame  # per model and metric, over seeds
    comparisons: pd.DataFrame  # per pair (main pair first) and metric
    held_out: pd.DataFrame  # test loss of every model and the n-gram, inside/outside the late text
    split_gaps: pd.DataFrame  # per pair of one model on both splits: the gap and its parts
    reference_fit: pd.DataFrame  # per reference model: the run against the reference's number
    budget: pd.DataFrame  # the main pair's validation-loss difference at every epoch

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables the run folder keeps as metrics (everything but the histories)."""
        return {"runs": self.runs, "summary": self.summary, "comparisons": self.comparisons,
                "held_out": self.held_out, "split_gaps": self.split_gaps,
                "reference_fit": self.reference_fit, "budget": self.budget}


def _test_windows(folder: ModelFolder, ckpt: dict, batch_size: int) -> dict:
    """Per-window test results of a model on all its test windows (computed if not saved)."""
    if folder.test_windows.exists():
        saved = load_test_windows(folder)
        if saved["losses"].size == ckpt["history"][-1].get("test_windows"):
            return saved
    source = folder.checkpoint  # the model the test set scored: the last epoch's, or the best's
    tested = ckpt["history"][-1].get("tested_epoch", ckpt["epoch"])
    if tested != ckpt["epoch"]:
        source, ckpt = folder.best, load_checkpoint(folder.best)
        if ckpt["epoch"] != tested:
            raise CheckpointError(f"{source} holds epoch {ckpt['epoch']}, not the tested "
                                  f"epoch {tested}: delete {folder.path} to train it again.")
    net, vocab = model_of(ckpt, source)
    windows = make_windows(configs_of(ckpt).data, vocab=vocab)
    losses, correct = window_losses(net, windows.data, windows.test_starts, windows.seq_len,
                                    batch_size)
    save_test_windows(folder, {"starts": windows.test_starts, "losses": losses,
                               "correct": correct.bool()})
    return load_test_windows(folder)


def _run_row(model: str, seed: int, ckpt: dict) -> dict:
    """One row of the runs table, from a checkpoint."""
    cfg, last = configs_of(ckpt), ckpt["history"][-1]
    info = describe(Vocab.from_json(ckpt["vocab"]).size, built_config(ckpt), cfg.data.seq_len)
    return {"model": model, "seed": seed, "cell": cfg.model.cell,
            "trained_with": last.get("trained_with", 1),
            "hidden_size": info["width"], "layers": info["layers"],
            "kflops_per_char": info["kFLOPs per char"],
            "dropout": cfg.model.dropout,
            "split": cfg.data.split,
            "objective": cfg.train.objective, "lr": cfg.train.lr,
            "batch_size": cfg.train.batch_size, "epochs_done": ckpt["epoch"],
            "epochs": cfg.train.epochs, "train_loss": last["train_loss"],
            "test_loss": last["test_loss"], "test_accuracy": last["test_accuracy"],
            "test_bpc": last["test_bpc"], "train_time": last["elapsed_train_seconds"],
            "best_epoch": last.get("best_epoch"),
            "tested_epoch": last.get("tested_epoch", ckpt["epoch"]),
            "parameters": info["parameters"], "size_mb": size_mb(ckpt["model"])}


def evaluate_run(run: Run, spec: RunSpec) -> Evaluation:
    """Every model and seed of the run on all its test windows, and every comparison, once."""
    rows, histories, step_losses, per_window = [], [], [], {}
    for model, seed in jobs.model_seeds(spec):
        folder = trained(run, model, seed)
        ckpt = load_checkpoint(folder.checkpoint)
        rows.append(_run_row(model, seed, ckpt))
        histories.append(pd.DataFrame(ckpt["history"]).assign(model=model, seed=seed))
        step_losses.append(folder.read_step_losses().assign(model=model, seed=seed))
        per_window[(model, seed)] = _test_windows(folder, ckpt, spec.execution.eval_batch_size)
    starts = scene_starts(load_corpus(spec.data))  # the clusters of held-out text's intervals
    for windows in per_window.values():  # each window's scene: that of its target character
        windows["scenes"] = scene_of(windows["starts"] + spec.data.seq_len, starts)
    test_share = 1 - spec.data.train_frac  # of all windows, for the finite-population correction
    runs = verdicts.with_test_loss_intervals(pd.DataFrame(rows), per_window, test_share)
    # the n-gram model on the first seed's split (split_per_seed), and where its text ends
    counts = ngram_on_splits(spec.configs(seed=spec.run.seeds[0]).data)
    boundary = counts["boundary"]
    histories = pd.concat(histories, ignore_index=True)
    return Evaluation(
        runs=runs,
        histories=histories,
        step_losses=pd.concat(step_losses, ignore_index=True),
        summary=verdicts.summary_over_seeds(runs),
        comparisons=verdicts.comparisons(runs, spec.comparisons(), per_window,
                                         spec.run.split_per_seed, test_share),
        held_out=held_out.held_out_text(runs, per_window, counts, boundary),
        split_gaps=held_out.split_gaps(runs, per_window, spec.comparisons(), counts, boundary),
        reference_fit=verdicts.reference_fits(runs, _reference_losses(spec)),
        budget=verdicts.budget_differences(histories, *spec.main_pair),
    )


def _reference_losses(spec: RunSpec) -> dict[str, float]:
    """The reference's test loss per model, where this run's text is the reference's (all of
    Tiny Shakespeare); else none."""
    if spec.data.corpus or spec.data.max_chars:
        return {}
    return {m: reference.number("test_loss", m) for m in reference.MODELS}


# -- 05_generate
def generate_samples(run: Run, spec: RunSpec) -> pd.DataFrame:
    """Samples of each model (first seed) for every prompt and temperature; the default prompt
    fitted to the corpus (`note` says how), any other prompt as given."""
    rows, r = [], spec.generation
    text = load_corpus(spec.data)
    for model_name in spec.run.models:
        model, vocab, ckpt = load_model(trained(run, model_name, spec.run.seeds[0]).checkpoint)
        context = configs_of(ckpt).data.seq_len
        for asked in r.prompts:
            prompt, note = fit_prompt(asked, vocab.chars, text)
            for temperature in r.temperatures:
                text_out = generate(model, vocab, prompt, r.gen_length, temperature,
                                    seed=r.gen_seed, context=context)
                rows.append({"model": model_name, "prompt": prompt, "temperature": temperature,
                             "seed": r.gen_seed, "text": text_out, "note": note})
    return pd.DataFrame(rows)


def ngram_on_splits(cfg: DataConfig) -> dict:
    """The n-gram count model on the test windows of both splits of cfg's text, at one order
    chosen on the validation windows of cfg's own split.

    Returns {"order": n, "val_losses": {order: loss}, "boundary": the first window of the
    contiguous split's test text, "random": {"starts", "losses"}, "contiguous": {...}},
    per-window arrays in text order.
    """
    windows = {s: make_windows(dataclasses.replace(cfg, split=s)) for s in SPLITS}
    own = windows[cfg.split]
    order, val_losses = ngram.choose_order(own.data, own.train_starts, own.val_starts,
                                           own.seq_len, own.vocab.size)
    out = {"order": order, "val_losses": val_losses,
           "boundary": int(windows["contiguous"].test_starts.min())}
    for split, w in windows.items():
        starts, _ = torch.sort(w.test_starts)
        out[split] = {"starts": starts.numpy(),
                      "losses": ngram.window_losses(w.data, w.train_starts, starts, w.seq_len,
                                                    w.vocab.size, order)}
    return out
