"""The notebook chain: its steps, what each reads, and running them into a run folder.

Each step declares the parameters it reads and the steps whose files it reads. A run folder
records which parameters each finished step ran with, so a run resumed with changed parameters
re-runs exactly the steps that read one of them (and the steps that read their files); the
others are skipped. Changing the prompts re-runs generation and the report, not training.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from charlm.checkpoint import load_checkpoint
from charlm.config import Configs, DataConfig, field_names
from charlm.data import CORPUS_ENV, default_corpus_path, load_corpus
from charlm.environment import describe_environment
from charlm.errors import PipelineError
from charlm.executor import ray_instance
from charlm.export import export_report
from charlm.generate import check_prompts
from charlm.progress import EpochLines
from charlm.project import FIGURES_DIR, NOTEBOOKS_DIR
from charlm.run import Run
from charlm.spec import RunSpec, resolve
from charlm.train import RESUMABLE_CHANGES, resume_conflicts

REFERENCE_HOURS_PER_MODEL_ON_CPU = 2.6  # measured: 30 faithful epochs of one model, 2 cores


@dataclass(frozen=True)
class Step:
    """One notebook execution of the chain."""

    source: str  # the notebook in notebooks/
    name: str  # its executed copy in the run folder
    reads: frozenset[str]  # the run parameters it reads
    after: tuple[str, ...] = ()  # the steps whose files it reads
    parameters: dict = field(default_factory=dict)  # papermill parameters beyond the run's


def plan(spec: RunSpec) -> list[Step]:
    """The steps of a run, in order (the search only where the run has one)."""
    # what training reads: settings that change the numbers (device, jobs, executor ... do not)
    training = frozenset(Configs.names() - RESUMABLE_CHANGES
                         | {"seeds", "split_per_seed", "tune_space", "tune_seeds"})
    tune = [Step("02_tune.ipynb", "02_tune.ipynb", training | {"models"})] \
        if spec.run.tune_space else []
    tuned = tuple(s.name for s in tune)
    train = [Step("03_train.ipynb", f"03_train-{m}.ipynb", training, tuned, {"model": m})
             for m in spec.run.models]
    trained = tuple(s.name for s in train)
    return [
        Step("01_explore_data.ipynb", "01_explore_data.ipynb", frozenset(field_names(DataConfig))),
        *tune,
        *train,
        Step("04_evaluate.ipynb", "04_evaluate.ipynb",  # the data: for the n-gram model
             frozenset({"models", "seeds", "pairs", "split_per_seed", *field_names(DataConfig)}),
             trained),
        Step("05_generate.ipynb", "05_generate.ipynb",
             frozenset({"models", "seeds", "prompts", "temperatures", "gen_length", "gen_seed"}),
             trained),
        Step("06_report.ipynb", "06_report.ipynb", frozenset(spec.params()),
             ("01_explore_data.ipynb", *tuned, "04_evaluate.ipynb", "05_generate.ipynb")),
    ]


def choose_folder(reports_dir: Path, name: str, fresh: bool) -> Run:
    """The run folder: reports_dir/name, or a new one beside it with --fresh."""
    root = reports_dir / name
    if root.exists() and fresh:
        root = reports_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        print(f"charlm: --fresh: starting a new run in {root}; the old one is kept.",
              file=sys.stderr)
    return Run(root)


def check_resumable(run: Run, spec: RunSpec) -> None:
    """Refuse a run whose trained models cannot follow the new parameters; say what changed."""
    old = run.read_params()
    if old is None:
        return
    new = spec.params()
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    conflicts = _conflicts(run, spec, set(changed)) if changed else []  # same run: all fit
    if conflicts:
        raise PipelineError(
            f"The run folder {run.root} holds a run with other parameters ({', '.join(changed)})"
            f" that its trained models cannot follow: {'; '.join(conflicts[:4])}. Use --fresh "
            "to start a new run beside it, or --name for another folder."
        )
    note = f"; changed: {', '.join(changed)}, so the steps that read them run again" if changed \
        else ""
    print(f"charlm: resuming the run in {run.root}: finished steps are kept, unfinished models "
          f"continue after their last finished epoch{note} (--fresh starts anew).",
          file=sys.stderr)


def _conflicts(run: Run, spec: RunSpec, changed: set[str]) -> list[str]:
    """What keeps the folder's trials and trained models from following `spec`."""
    from charlm.tuning import trials

    conflicts, choice = [], run.read_choice() or {}
    for job in trials(run, spec) if spec.run.tune_space else ():
        if job.folder.checkpoint.exists():
            conflicts += [f"trial {job.name} {d}" for d in resume_conflicts(
                load_checkpoint(job.folder.checkpoint), job.configs)]
    searched = sorted(changed & {"tune_space", "tune_seeds"})
    for model in spec.run.models:
        for seed in spec.run.seeds:
            path = run.model(model, seed).checkpoint
            if not path.exists():
                continue
            if spec.run.tune_space and searched:  # the new search may choose another setting
                conflicts.append(f"{model}-s{seed} trained at the choice of another search "
                                 f"({', '.join(searched)} changed)")
                continue
            setting = choice.get("chosen", {}).get(model) if spec.run.tune_space else None
            conflicts += [f"{model}-s{seed} {d}" for d in resume_conflicts(
                load_checkpoint(path), spec.configs(model, seed, setting))]
    return conflicts


def execute(source: Path, output: Path, parameters: dict, progress: bool = True) -> None:
    """Run one notebook with papermill; a failure names the notebook and the failing cell."""
    import papermill as pm
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(str(source), str(output), parameters=parameters,
                            cwd=str(output.parent), kernel_name="python3",
                            progress_bar=progress, report_mode=False, **_quiet_kernel())
    except PapermillExecutionError as exc:
        raise PipelineError(
            f"notebook {source.name} failed in cell {exc.exec_count} with {exc.ename}: "
            f"{exc.evalue}\nThe partially executed notebook is {output}; fix the cause and run "
            "the same command again to resume."
        ) from None
    except DeadKernelError:
        raise PipelineError(
            f"the kernel running notebook {source.name} died (out of memory, or killed). The "
            f"partially executed notebook is {output}; every finished epoch is kept: run the "
            "same command again to resume (with less memory in use, or a smaller batch_size or "
            "eval_batch_size)."
        ) from None


def _quiet_kernel() -> dict:
    """How papermill starts the kernel: over local (IPC) sockets where the platform has them,
    so that nothing is sent over TCP in plain text and the kernel has no warning to print about
    it; elsewhere (Windows) over TCP with the kernel's warnings silenced."""
    if os.name == "posix":
        from jupyter_client.manager import AsyncKernelManager

        class LocalKernelManager(AsyncKernelManager):
            transport = "ipc"

        return {"kernel_manager_class": LocalKernelManager}
    return {"extra_arguments": ["--IPKernelApp.log_level=ERROR"]}


def _dependents(steps: list[Step], step: Step) -> list[str]:
    """The step and every later step that reads its files, directly or not."""
    names = [step.name]
    for later in steps[steps.index(step) + 1:]:
        if set(later.after) & set(names):
            names.append(later.name)
    return names


def run_steps(run: Run, spec: RunSpec, progress: bool = True) -> list[str]:
    """Execute the steps that are not up to date; returns the names of those executed."""
    params = spec.params()
    done, executed, steps, prepared = run.read_steps(), [], plan(spec), set()
    run.notebooks_dir.mkdir(parents=True, exist_ok=True)
    for step in steps:
        reads = {k: params[k] for k in sorted(step.reads)}
        record = done.get(step.name)
        output = run.executed_notebook(step.name)
        if (record is not None and record["reads"] == reads and output.exists()
                and not set(step.after) & set(executed)):
            print(f"charlm: {step.name} is up to date, skipped", file=sys.stderr)
            continue
        for name in _dependents(steps, step):  # a step that fails half-way is not "done",
            run.forget_step(name)  # and neither is any step that reads its files
        started = time.perf_counter()
        if spec.run.executor == "ray":
            prepared = _on_ray_first(run, spec, step, prepared, progress)
        print(f"charlm: running {step.name} ...", file=sys.stderr, flush=True)
        execute(NOTEBOOKS_DIR / step.source, output,
                {"run_dir": str(run.root), "profile": None, "overrides": None,
                 **step.parameters}, progress)
        seconds = time.perf_counter() - started
        run.record_step(step.name, reads, seconds)
        executed.append(step.name)
        print(f"charlm: {step.name} done in {seconds:.0f} s", file=sys.stderr)
    return executed


def _on_ray_first(run: Run, spec: RunSpec, step: Step, prepared: set, progress: bool) -> set:
    """executor=ray: the search, and then every model and seed, run from this process, all
    at once, before the notebooks that show them (each notebook alone could only keep a
    model's seeds busy, and would start its own Ray driver and workers)."""
    from charlm import steps

    if step.source == "02_tune.ipynb" and "tune" not in prepared:
        print("charlm: the search's trials, on Ray ...", file=sys.stderr, flush=True)
        steps.tune_models(run, spec, progress)
        prepared.add("tune")
    if step.source == "03_train.ipynb" and "train" not in prepared:
        print("charlm: every model and seed, on Ray ...", file=sys.stderr, flush=True)
        steps.train_models(run, spec, progress)
        prepared.add("train")
    return prepared


def copy_figures(run: Run, figures_dir: Path) -> None:
    figures_dir.mkdir(parents=True, exist_ok=True)
    for png in run.figures.written():
        shutil.copy2(png, figures_dir / png.name)


def _warn_reference_on_cpu(spec: RunSpec) -> None:
    from charlm.environment import available_device

    device = spec.train.device
    if spec.profile == "reference" and (device == "cpu" or available_device() == "cpu"
                                        or (device == "cuda" and available_device() != "cuda")):
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


def run_report(
    profile: str = "auto",
    overrides: dict | None = None,
    name: str | None = None,
    reports_dir: str | Path = "reports",
    fresh: bool = False,
    figures_dir: str | Path | None = FIGURES_DIR,
    progress: bool = True,
) -> Run:
    """Execute the chain for a profile (what is not up to date) and export the report."""
    overrides = dict(overrides or {})
    if overrides.get("corpus"):  # the notebooks run in the run folder: the path from here
        overrides["corpus"] = str(Path(overrides["corpus"]).expanduser().resolve())
    spec = resolve(profile, overrides)
    check_prompts(spec.run.prompts, load_corpus(spec.data))  # before any training
    _warn_reference_on_cpu(spec)
    run = choose_folder(Path(reports_dir).resolve(), name or spec.profile, fresh)
    with run.hold(), corpus_found_from_here():
        check_resumable(run, spec)
        run.write_spec(spec)
        run.write_environment(describe_environment())
        # executor=ray: one local instance for every notebook; a line per epoch meanwhile
        with ray_instance(spec.run), EpochLines(run, spec):
            executed = run_steps(run, spec, progress)
        if executed or not run.report_html.exists():
            export_report(run, run.executed_notebook(plan(spec)[-1].name))
        if figures_dir is not None:
            copy_figures(run, Path(figures_dir))
    print(f"charlm: report written: {run.report_html} and {run.report_md}", file=sys.stderr)
    return run
