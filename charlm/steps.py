"""The work of the notebooks, one function per step of the chain.

    open_run          every notebook: its run folder and resolved run
    tune_models       02_tune: the search of each model's setting on validation
    train_model       03_train: every seed of one model, checkpointed after every epoch
    evaluate_run      04_evaluate: the runs table and every comparison of the run
    generate_samples  05_generate: text from each model, for every prompt and temperature

Each takes the Run (the folder) and the RunSpec (what to do) and returns tables; the notebook
shows them and writes them through the Run.
"""

from __future__ import annotations

import ast
import json
import sys
import types
from dataclasses import dataclass
from typing import Any

import pandas as pd

from charlm import analysis, ngram, tuning
from charlm.checkpoint import configs_of, load_checkpoint, load_model, model_of
from charlm.data import load_corpus, make_windows
from charlm.environment import describe_environment
from charlm.errors import ParameterError, PipelineError
from charlm.evaluate import window_losses
from charlm.executor import Job, run_jobs
from charlm.generate import check_prompts, fit_prompt, generate
from charlm.group import train_group
from charlm.models import num_parameters, size_mb
from charlm.run import ModelFolder, Run, produced
from charlm.spec import RunSpec, resolve
from charlm.train import resolve_device

CHECKED_FLAG = "_charlm_parameters_checked"  # set in a notebook's globals once checked


def open_run(namespace: dict[str, Any], declared: list[str]) -> tuple[Run, RunSpec]:
    """A notebook's run folder and resolved run, from its globals().

    Run by the pipeline (profile None), the run is read from the folder's parameters. Opened
    on its own, the notebook resolves `profile` + `overrides` and records them in the folder.
    papermill only warns about a parameter the notebook does not declare (`-p epochs 3` would be
    silently ignored); this refuses it, naming what the notebook takes instead.
    """
    unknown = sorted(
        k for k, v in namespace.items()
        if not k.startswith("_") and k not in declared and k not in ("In", "Out")
        and not isinstance(v, types.ModuleType) and not callable(v)
    )
    if unknown and not namespace.get(CHECKED_FLAG):  # later calls: names the notebook made
        raise ParameterError(
            f"unknown notebook parameter(s): {', '.join(unknown)}. This notebook takes "
            f"{', '.join(declared)}; pass any other parameter inside overrides, e.g. "
            f"-p overrides '{{\"{unknown[0]}\": ...}}'."
        )
    namespace[CHECKED_FLAG] = True  # a cell run again in Jupyter finds the notebook's own names
    run = Run(namespace["run_dir"])
    if namespace["profile"] is None:
        return run, run.read_spec()
    spec = resolve(namespace["profile"], overrides_of(namespace["overrides"]))
    check_prompts(spec.run.prompts, load_corpus(spec.data))
    with run.hold():  # refused while a pipeline runs in this folder
        if run.read_params() != spec.params():
            run.forget_steps()  # the pipeline must not trust what other parameters made
        run.write_spec(spec)
        run.write_environment(describe_environment())
    return run, spec


def overrides_of(value: Any) -> dict:
    """A notebook's `overrides`: a dict, or the text papermill's -p passes
    ('{"epochs": 2}', JSON or a Python literal)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text else {}
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = None
    if value is None or not isinstance(value, dict):
        raise ParameterError(
            f"overrides={value!r} is not a dict of parameters: with papermill write -p overrides "
            "'{\"epochs\": 2}' (JSON), or -y 'overrides: {epochs: 2}'."
        )
    return value


# -- 02_tune
def tune_models(run: Run, spec: RunSpec, progress: bool = True) -> pd.DataFrame:
    """Every trial of the run's search (resuming finished epochs), then the choice: one row
    per trial; writes both into the run folder (Run.write_tuning). Never reads the test set."""
    if not spec.run.tune_space:
        print("charlm: this run searches nothing (tune_space is empty): every model trains at "
              "the run's setting.", file=sys.stderr)
        return pd.DataFrame()
    with run.hold():
        run_jobs(tuning.trials(run, spec), spec.run, progress)
        table = tuning.trial_table(run, spec)
        run.write_tuning(table, tuning.choose(table, spec.run.tune_space, spec.run.models,
                                              spec.run.tune_seeds))
    return table


# -- 03_train
def model_configs(run: Run, spec: RunSpec, model: str, seed: int):
    """The configs a model and seed of the run train with: at its chosen setting where the run
    searches one (tune_space)."""
    if not spec.run.tune_space:
        return spec.configs(model, seed)
    choice = run.read_choice()
    if (choice is None or choice["space"] != spec.run.tune_space
            or choice.get("tune_seeds", spec.run.tune_seeds) != spec.run.tune_seeds
            or model not in choice["chosen"]):
        raise PipelineError(
            f"This run searches tune_space={spec.run.tune_space} before training, and "
            f"{run.tuning_dir} holds no choice of it for {model}: run the tuning notebook "
            "(02_tune) first; "
            "python -m charlm report does."
        )
    return spec.configs(model, seed, choice["chosen"][model])


def batched(spec: RunSpec) -> bool:
    """Whether the seeds of a model train as one stacked computation: `batched`, else on CUDA
    (never with a split per seed, a group trains on one split; never on Ray)."""
    if spec.run.split_per_seed or spec.run.executor == "ray":
        return False
    if spec.run.batched is not None:
        return spec.run.batched
    return resolve_device(spec.train.device).type == "cuda"


def seed_jobs(spec: RunSpec) -> int:
    """How many seeds train at the same time: `jobs`, at most one per seed."""
    return max(1, min(spec.run.jobs, len(spec.run.seeds)))


def training_jobs(run: Run, spec: RunSpec, models: list[str]) -> list[Job]:
    """One job per model and seed, at the model's chosen setting where the run searches."""
    return [Job(f"{m}-s{s}", model_configs(run, spec, m, s), run.model(m, s))
            for m in models for s in spec.run.seeds]


def train_models(run: Run, spec: RunSpec, progress: bool = True) -> None:
    """Every model and seed of the run at once (executor=ray: the pipeline's driver submits
    them all, so the cluster is as busy as the run allows); the notebooks then find them
    trained."""
    with run.hold():
        run_jobs(training_jobs(run, spec, spec.run.models), spec.run, progress)


def train_model(run: Run, spec: RunSpec, model: str = "", progress: bool = True
                ) -> pd.DataFrame:
    """Train `model` ("": every model of the run, in its order) once per seed of the run,
    resuming finished epochs; returns the histories, one row per model, seed and epoch.

    Locally with jobs > 1, that many seeds train at the same time, each in its own process with
    an equal share of the CPU threads; with executor=ray, each seed is a Ray task per epoch.
    Every seed writes its own checkpoint after every epoch, so an interrupted run resumes the
    same way. The run folder is held meanwhile.
    """
    histories = []
    with run.hold():
        for name in models_named(spec, model):
            jobs = training_jobs(run, spec, [name])
            if batched(spec):  # all seeds as one computation, each model as if alone
                done = train_group([j.configs for j in jobs], [j.folder.path for j in jobs],
                                   progress)
            else:
                done = run_jobs(jobs, spec.run, progress)
            histories += [pd.DataFrame(h).assign(model=name, seed=s)
                          for h, s in zip(done, spec.run.seeds)]
    return pd.concat(histories, ignore_index=True)


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
    produced(folder.checkpoint, f"03_train (model={model!r}, or \"\" for every model)")
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

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables the run folder keeps as metrics (everything but the histories)."""
        return {"runs": self.runs, "summary": self.summary, "comparisons": self.comparisons,
                "held_out": self.held_out, "split_gaps": self.split_gaps}


def _test_windows(folder: ModelFolder, ckpt: dict, batch_size: int) -> dict:
    """Per-window test results of a model on all its test windows (computed if not saved)."""
    if folder.test_windows.exists():
        saved = folder.read_test_windows()
        if saved["losses"].size == ckpt["history"][-1].get("test_windows"):
            return saved
    net, vocab = model_of(ckpt, folder.checkpoint)
    windows = make_windows(configs_of(ckpt).data, vocab=vocab)
    losses, correct = window_losses(net, windows.data, windows.test_starts, windows.seq_len,
                                    batch_size)
    folder.write_test_windows({"starts": windows.test_starts, "losses": losses,
                               "correct": correct.bool()})
    return folder.read_test_windows()


def _run_row(model: str, seed: int, ckpt: dict) -> dict:
    """One row of the runs table, from a checkpoint."""
    cfg, last = configs_of(ckpt), ckpt["history"][-1]
    return {"model": model, "seed": seed, "cell": cfg.model.cell,
            "trained_with": last.get("trained_with", 1),
            "hidden_size": cfg.model.hidden_size, "split": cfg.data.split,
            "objective": cfg.train.objective, "lr": cfg.train.lr,
            "batch_size": cfg.train.batch_size, "epochs_done": ckpt["epoch"],
            "epochs": cfg.train.epochs, "train_loss": last["train_loss"],
            "test_loss": last["test_loss"], "test_accuracy": last["test_accuracy"],
            "test_bpc": last["test_bpc"], "train_time": last["elapsed_train_seconds"],
            "parameters": num_parameters(ckpt["model"]), "size_mb": size_mb(ckpt["model"])}


def evaluate_run(run: Run, spec: RunSpec) -> Evaluation:
    """Every model and seed of the run on all its test windows, and every comparison, once."""
    rows, histories, step_losses, per_window = [], [], [], {}
    for model in spec.run.models:
        for seed in spec.run.seeds:
            folder = trained(run, model, seed)
            ckpt = load_checkpoint(folder.checkpoint)
            rows.append(_run_row(model, seed, ckpt))
            histories.append(pd.DataFrame(ckpt["history"]).assign(model=model, seed=seed))
            step_losses.append(folder.read_step_losses().assign(model=model, seed=seed))
            per_window[(model, seed)] = _test_windows(folder, ckpt, spec.train.eval_batch_size)
    runs = analysis.with_test_loss_intervals(pd.DataFrame(rows), per_window)
    # the n-gram model on the first seed's split (split_per_seed), and where its text ends
    counts = ngram.score_splits(spec.configs(seed=spec.run.seeds[0]).data)
    boundary = counts["boundary"]
    return Evaluation(
        runs=runs,
        histories=pd.concat(histories, ignore_index=True),
        step_losses=pd.concat(step_losses, ignore_index=True),
        summary=analysis.summary_over_seeds(runs),
        comparisons=analysis.comparisons(runs, spec.comparisons(), per_window,
                                         spec.run.split_per_seed),
        held_out=analysis.held_out_text(runs, per_window, counts, boundary),
        split_gaps=analysis.split_gaps(runs, per_window, spec.comparisons(), counts, boundary),
    )


# -- 05_generate
def generate_samples(run: Run, spec: RunSpec) -> pd.DataFrame:
    """Samples of each model (first seed) for every prompt and temperature; the default prompt
    fitted to the corpus (`note` says how), any other prompt as given."""
    rows, r = [], spec.run
    text = load_corpus(spec.data)
    for model_name in r.models:
        model, vocab, ckpt = load_model(trained(run, model_name, r.seeds[0]).checkpoint)
        context = configs_of(ckpt).data.seq_len
        for asked in r.prompts:
            prompt, note = fit_prompt(asked, vocab.chars, text)
            for temperature in r.temperatures:
                text_out = generate(model, vocab, prompt, r.gen_length, temperature,
                                    seed=r.gen_seed, context=context)
                rows.append({"model": model_name, "prompt": prompt, "temperature": temperature,
                             "seed": r.gen_seed, "text": text_out, "note": note})
    return pd.DataFrame(rows)
