"""A notebook's start: its run folder and resolved run, from its parameters.

Run by the pipeline, a notebook reads the run from its folder; opened on its own (JupyterLab,
papermill), it resolves its own `profile` and `overrides` and records them in the folder.
"""

from __future__ import annotations

import ast
import json
import types
from typing import Any

from charlm.data import check_comparable, load_corpus
from charlm.errors import ParameterError
from charlm.experiment.environment import describe_environment
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec
from charlm.generate import check_prompts

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
    text = load_corpus(spec.data)
    check_comparable(spec.data, text)
    check_prompts(spec.generation.prompts, text)
    with run.hold():  # refused while a pipeline runs in this folder
        if run.read_params() != spec.params():
            run.forget_steps()  # the pipeline must not trust what other parameters made
        run.write_spec(spec)
        run.write_environment(describe_environment(spec.execution))
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
