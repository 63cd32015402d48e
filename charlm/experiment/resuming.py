"""Whether a run folder's trials and trained models can follow new parameters."""

from __future__ import annotations

import sys

from charlm.checkpoint import load_checkpoint
from charlm.errors import PipelineError
from charlm.experiment import jobs
from charlm.experiment.layout import run_name
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec
from charlm.resume import resume_conflicts


def check_resumable(run: Run, spec: RunSpec) -> None:
    """Refuse a run whose trained models cannot follow the new parameters; say what changed."""
    old = run.read_params()
    if old is None:
        return
    new = spec.params()
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    found = conflicts(run, spec, set(changed)) if changed else []  # same run: all fit
    if found:
        raise PipelineError(
            f"The run folder {run.root} holds a run with other parameters ({', '.join(changed)})"
            f" that its trained models cannot follow: {'; '.join(found[:4])}. Use --fresh "
            "to start a new run beside it, or --name for another folder."
        )
    note = f"; changed: {', '.join(changed)}, so the steps that read them run again" if changed \
        else ""
    print(f"charlm: resuming the run in {run.root}: finished steps are kept, unfinished models "
          f"continue after their last finished epoch{note} (--fresh starts anew).",
          file=sys.stderr)


def conflicts(run: Run, spec: RunSpec, changed: set[str]) -> list[str]:
    """What keeps the folder's trials and trained models from following `spec`."""
    found, choice = [], run.read_choice() or {}
    for job in jobs.trials(run, spec) if spec.search.tune_space else ():
        if job.folder.checkpoint.exists():
            found += [f"trial {job.name} {d}" for d in resume_conflicts(
                load_checkpoint(job.folder.checkpoint), job.configs)]
    searched = sorted(changed & {"tune_space", "tune_seeds"})
    for model, seed in jobs.model_seeds(spec):
        path, name = run.model(model, seed).checkpoint, run_name(model, seed)
        if not path.exists():
            continue
        if spec.search.tune_space and searched:  # the new search may choose another setting
            found.append(f"{name} trained at the choice of another search "
                         f"({', '.join(searched)} changed)")
            continue
        setting = choice.get("chosen", {}).get(model) if spec.search.tune_space else None
        found += [f"{name} {d}" for d in resume_conflicts(
            load_checkpoint(path), spec.configs(model, seed, setting))]
    return found
