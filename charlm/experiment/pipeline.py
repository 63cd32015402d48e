"""The notebook chain run into a run folder: what is up to date is skipped, the rest runs.

The steps and their order come from the chain's table (charlm.experiment.layout.CHAIN): a step
re-runs with every later step that reads its files. A step is up to date when it finished with
the same parameters (those it reads, derived from the config declarations), the same notebook
(its cells' hash) and the same charlm code (a hash of charlm's source). A change of charlm's
code alone re-runs every step but training and the search: their trained models are kept, and
the run says so (`--fresh` retrains).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from charlm.config import DataConfig, field_names
from charlm.data import CORPUS_ENV, check_comparable, default_corpus_path, load_corpus
from charlm.device import available_device
from charlm.errors import PipelineError
from charlm.experiment import estimate, layout, steps
from charlm.experiment.environment import code_record, describe_environment, notebook_hash
from charlm.experiment.execute import execute
from charlm.experiment.options import GenerationConfig
from charlm.experiment.profiles import resolve
from charlm.experiment.progress import EpochLines
from charlm.experiment.resuming import check_resumable
from charlm.experiment.run import Run
from charlm.experiment.spec import ADDED, RunSpec, training_parameters
from charlm.generate import check_prompts
from charlm.kinds import WORKDIR_ENV
from charlm.models import check as check_model
from charlm.project import FIGURES_DIR, NOTEBOOKS_DIR
from charlm.report.export import export_report
from charlm.report.live import BATCH_ENV
from charlm.scale.ray_executor import ray_instance

REFERENCE_HOURS_PER_MODEL_ON_CPU = 2.6  # measured: 30 faithful epochs of one model, 2 cores


@dataclass(frozen=True)
class Step:
    """One notebook execution of the chain."""

    notebook: layout.Notebook
    name: str  # its executed copy in the run folder
    reads: frozenset[str]  # the run parameters it reads
    after: tuple[str, ...] = ()  # the steps whose files it reads
    parameters: dict = field(default_factory=dict)  # papermill parameters beyond the run's

    @property
    def source(self) -> str:
        return f"{self.notebook.name}.ipynb"


def parameters_read(notebook: layout.Notebook, spec: RunSpec) -> frozenset[str]:
    """The run parameters a notebook reads, from the config declarations."""
    data = field_names(DataConfig)
    return {
        "01_explore_data": frozenset(data),
        "02_tune": training_parameters() | {"models"},
        "03_train": training_parameters(),
        "04_evaluate": frozenset({"models", "seeds", "pairs", "split_per_seed", "tensorboard",
                                  *data}),
        "05_generate": frozenset({"models", "seeds", *field_names(GenerationConfig)}),
    }.get(notebook.name, frozenset(spec.params()))


def plan(spec: RunSpec) -> list[Step]:
    """The steps of a run, in the chain's order (the search only where the run has one)."""
    out: list[Step] = []
    for notebook in layout.CHAIN:
        if notebook.searches and not spec.search.tune_space:
            continue
        after = tuple(s.name for s in out if s.notebook.name in layout.reads_from(notebook))
        reads = parameters_read(notebook, spec)
        if notebook.per_model:
            out += [Step(notebook, f"{notebook.name}-{layout.file_part(m)}.ipynb", reads, after,
                         {"model": m})
                    for m in spec.run.models]
        else:
            out.append(Step(notebook, f"{notebook.name}.ipynb", reads, after))
    return out


def choose_folder(reports_dir: Path, name: str, fresh: bool) -> Run:
    """The run folder: reports_dir/name, or a new one beside it with --fresh."""
    root = reports_dir / name
    if root.exists() and fresh:
        root = reports_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        print(f"charlm: --fresh: starting a new run in {root}; the old one is kept.",
              file=sys.stderr)
    return Run(root)


def _dependents(steps_: list[Step], step: Step) -> list[str]:
    """The step and every later step that reads its files, directly or not."""
    names = [step.name]
    for later in steps_[steps_.index(step) + 1:]:
        if set(later.after) & set(names):
            names.append(later.name)
    return names


def _stale(step: Step, record: dict | None, reads: dict, notebook: str, code: dict,
           output: Path, upstream: bool) -> str | None:
    """Why a step must run again (None: it is up to date). A step that trains is up to date
    when only charlm's code changed: its models are kept (see _say_kept). A record from before
    steps recorded their notebook and code counts as a change of code."""
    if record is None or not output.exists():
        return "not run yet"
    if {**{k: ADDED[k] for k in reads if k in ADDED}, **record["reads"]} != reads:
        return "its parameters changed"  # (one added since was, before, at its ADDED value)
    if "notebook" in record and record["notebook"] != notebook:
        return "its notebook changed"
    if upstream:
        return "it reads files of a step that ran again"
    if _code_changed(record, code) and not step.notebook.trains:
        return "charlm's code changed"
    return None


def _code_changed(record: dict, code: dict) -> bool:
    return record.get("code", {}).get("code_hash") != code["code_hash"]


def _say_kept(run: Run, step: Step, record: dict, code: dict) -> None:
    """A training step kept under changed code: said once per code version."""
    if record.get("kept_under") == code["code_hash"]:
        return
    ran = record.get("code", {})
    who = (f"charlm {ran['git_commit']}" + (" (uncommitted changes)" if ran.get("git_dirty")
                                             else "")
           if ran.get("git_commit") else "an earlier charlm")
    print(f"charlm: {step.name}: trained with {who}; charlm's code changed since, the trained "
          "models are kept (--fresh retrains).", file=sys.stderr)
    run.annotate_step(step.name, kept_under=code["code_hash"])


def run_steps(run: Run, spec: RunSpec, progress: bool = True) -> list[str]:
    """Execute the steps that are not up to date; returns the names of those executed."""
    params, code = spec.params(), code_record()
    done, executed, todo, prepared = run.read_steps(), [], plan(spec), set()
    run.notebooks_dir.mkdir(parents=True, exist_ok=True)
    for step in todo:
        reads = {k: params[k] for k in sorted(step.reads)}
        output = run.executed_notebook(step.name)
        record, notebook = done.get(step.name), notebook_hash(NOTEBOOKS_DIR / step.source)
        why = _stale(step, record, reads, notebook, code, output,
                     bool(set(step.after) & set(executed)))
        if not why:
            if _code_changed(record, code):
                _say_kept(run, step, record, code)
            print(f"charlm: {step.name} is up to date, skipped", file=sys.stderr)
            continue
        for name in _dependents(todo, step):  # a step that fails half-way is not "done",
            run.forget_step(name)  # and neither is any step that reads its files
        started = time.perf_counter()
        if spec.scale.executor == "ray":
            prepared = _on_ray_first(run, spec, step, prepared, progress)
        print(f"charlm: running {step.name} ({why}) ...", file=sys.stderr, flush=True)
        execute(NOTEBOOKS_DIR / step.source, output,
                {"run_dir": str(run.root), "profile": None, "overrides": None,
                 **step.parameters}, progress)
        seconds = time.perf_counter() - started
        run.record_step(step.name, {"reads": reads, "notebook": notebook, "code": code}, seconds)
        executed.append(step.name)
        print(f"charlm: {step.name} done in {seconds:.0f} s", file=sys.stderr)
    return executed


def _on_ray_first(run: Run, spec: RunSpec, step: Step, prepared: set, progress: bool) -> set:
    """executor=ray: the search, and then every model and seed, run from this process, all
    at once, before the notebooks that show them (each notebook alone could only keep a
    model's seeds busy, and would start its own Ray driver and workers)."""
    if step.notebook.name == "02_tune" and "tune" not in prepared:
        print("charlm: the search's trials, on Ray ...", file=sys.stderr, flush=True)
        steps.tune_models(run, spec, progress)
        prepared.add("tune")
    if step.notebook.name == "03_train" and "train" not in prepared:
        print("charlm: every model and seed, on Ray ...", file=sys.stderr, flush=True)
        steps.train_models(run, spec, progress)
        prepared.add("train")
    return prepared


def copy_figures(run: Run, figures_dir: Path) -> None:
    figures_dir.mkdir(parents=True, exist_ok=True)
    for png in run.figures.written():
        shutil.copy2(png, figures_dir / png.name)


def _warn_reference_on_cpu(spec: RunSpec) -> None:
    device, here = spec.execution.device, available_device()
    if spec.profile == "reference" and (device == "cpu" or here == "cpu"
                                        or (device == "cuda" and here != "cuda")):
        hours = REFERENCE_HOURS_PER_MODEL_ON_CPU * len(spec.run.models) * len(spec.run.seeds)
        print(f"charlm: profile 'reference' on a CPU: about {hours:.0f} hours of training. "
              "Use --profile fast for the reference's quality in minutes.", file=sys.stderr)


@contextlib.contextmanager
def corpus_found_from_here():
    """The notebooks' kernels find Tiny Shakespeare where this process does: outside a
    checkout, under the current folder's data/ (a kernel runs in the run folder), unless
    $CHARLM_DATA says where."""
    if os.environ.get(CORPUS_ENV):
        yield
        return
    os.environ[CORPUS_ENV] = str(default_corpus_path().resolve())
    try:
        yield
    finally:
        os.environ.pop(CORPUS_ENV, None)


def _say_estimate(run: Run, spec: RunSpec) -> None:
    """How long the run's training and evaluation will take here, before they start (a run on
    Ray trains elsewhere: not estimated here)."""
    if spec.scale.executor == "ray":
        return
    left = estimate.seconds_left(run, spec)
    if left is not None:
        print(f"charlm: about {estimate.say(left)} of training and evaluation on this machine, "
              f"one run at a time (timed on {estimate.PROBE_STEPS - 1} steps of each model); "
              "the line per finished epoch refines it.", file=sys.stderr)


@contextlib.contextmanager
def _batch():
    """The kernels of the chain know they run in batch (no live plot: charlm/report/live.py),
    and the folder the command ran in (a model file.py:Class is found from there)."""
    values = {BATCH_ENV: "1", WORKDIR_ENV: os.environ.get(WORKDIR_ENV) or str(Path.cwd())}
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def export_run(run_dir: str | Path, notebook: str | Path | None = None) -> Run:
    """Re-export a run's report (HTML, Markdown) from its executed report notebook (after an
    edit in JupyterLab, say), or from `notebook`; nothing is executed."""
    run = Run(run_dir)
    if not run.root.is_dir() or not run.params_file.exists():
        raise PipelineError(f"{run.root} is not a run folder: it has no {run.params_file.name}."
                            " Give the folder of a run, e.g. reports/fast.")
    source = Path(notebook) if notebook else run.executed_notebook(plan(run.read_spec())[-1].name)
    if not source.exists():
        raise PipelineError(f"{source} does not exist: run `python -m charlm report` for this "
                            "run first (its last notebook writes it), or name one with "
                            "--notebook.")
    with run.hold():  # not while a pipeline writes this folder
        export_report(run, source)
    return run


def run_report(
    profile: str = "auto",
    overrides: dict | None = None,
    name: str | None = None,
    reports_dir: str | Path = "reports",
    fresh: bool = False,
    figures_dir: str | Path | None = FIGURES_DIR,
    progress: bool = True,
    parameters_file: str | Path | None = None,
) -> Run:
    """Execute the chain for a profile (what is not up to date) and export the report.
    `parameters_file`: where `overrides` came from, if from a file (-f): copied into the run."""
    overrides = dict(overrides or {})
    if overrides.get("corpus"):  # the notebooks run in the run folder: the path from here
        overrides["corpus"] = str(Path(overrides["corpus"]).expanduser().resolve())
    spec = resolve(profile, overrides)
    text = load_corpus(spec.data)
    check_comparable(spec.data, text)  # before any training
    check_prompts(spec.generation.prompts, text)
    with _batch():  # a model file.py:Class is found as the notebooks will find it
        for model in spec.run.models:
            check_model(len(set(text)), spec.configs(model).model, spec.data.seq_len)
    _warn_reference_on_cpu(spec)
    run = choose_folder(Path(reports_dir).resolve(), name or spec.profile, fresh)
    with run.hold(), corpus_found_from_here():
        check_resumable(run, spec)
        run.write_spec(spec)
        run.write_parameters_file(Path(parameters_file) if parameters_file else None)
        run.write_environment(describe_environment(spec.execution))
        _say_estimate(run, spec)
        # executor=ray: one local instance for every notebook (its workers inherit _batch's
        # variables); a line per epoch meanwhile
        with _batch(), ray_instance(spec.scale), EpochLines(run, spec):
            executed = run_steps(run, spec, progress)
        if executed or not run.report_html.exists():
            export_report(run, run.executed_notebook(plan(spec)[-1].name))
        if figures_dir is not None:
            copy_figures(run, Path(figures_dir))
    print(f"charlm: report written: {run.report_html} and {run.report_md}", file=sys.stderr)
    return run
