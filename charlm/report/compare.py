"""Two finished runs side by side: the settings that differ, metrics per model, curves overlaid.

`compare_runs(a, b)` reads two run folders (through `Run`) and writes a comparison folder, by
default `compare-<A>-vs-<B>/` beside run A (`reports/compare-fast-vs-tune/` for `reports/fast`
and `reports/tune`):

    compare-<A>-vs-<B>/
      comparison.md     settings that differ, environment, metrics side by side; links the PNG
      comparison.html   the same page through the report's template (charlm.report.export), the
                        PNG embedded: one offline file
      curves.png        validation loss per epoch and per training second, A solid, B dashed

Nothing is trained or evaluated again: every number comes from the two folders' files.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from charlm.atomic import atomic_write_bytes, atomic_write_text
from charlm.config import DataConfig, field_names
from charlm.errors import PipelineError
from charlm.experiment.run import Run
from charlm.experiment.spec import PARTS
from charlm.report import export, figures, prose
from charlm.report.tables import md_table
from charlm.stats.intervals import welch_interval
from charlm.stats.verdicts import METRICS

# what the hardware and software a run used can change in its numbers (its times above all)
ENV_KEYS = ("device", "gpu", "cpu", "cpu_cores", "torch_threads", "torch_version",
            "cuda_version", "python", "git_commit")
# the parameters that decide a run's test windows (charlm.data.split_starts: not val_frac)
TEST_SET_PARAMS = tuple(sorted(field_names(DataConfig) - {"val_frac"})) + ("split_per_seed",)
SHOWN = ("test_loss", "test_accuracy", "train_time")  # the metrics set side by side


@dataclass(frozen=True)
class ComparisonFolder:
    """The layout of a comparison's output folder."""

    path: Path

    @property
    def markdown(self) -> Path:
        return self.path / "comparison.md"

    @property
    def html(self) -> Path:
        return self.path / "comparison.html"

    @property
    def curves(self) -> Path:
        return self.path / "curves.png"


@dataclass(frozen=True)
class Side:
    """One of the two runs, as far as the comparison reads it."""

    label: str  # "A" or "B"
    run: Run
    params: dict[str, Any]
    environment: dict[str, Any]
    runs: pd.DataFrame  # one row per model and seed (metrics' runs table)
    histories: pd.DataFrame  # one row per model, seed and epoch
    choice: dict | None  # the run's search's choice, None where it searched nothing

    @property
    def name(self) -> str:
        return f"{self.label} ({self.run.root.name})"

    @classmethod
    def load(cls, label: str, path: str | Path) -> Side:
        """Read a finished run folder; PipelineError naming the path if it is not one."""
        run = Run(path)
        if not run.root.is_dir() or not run.params_file.exists():
            raise PipelineError(f"{run.root} is not a run folder: it has no {run.params_file.name}"
                                ". Give the folder of a run, e.g. reports/fast.")
        if not run.metrics_file.exists():
            raise PipelineError(f"{run.root} has no metrics yet ({run.metrics_file} is missing): "
                                f"run `python -m charlm report ...` for it first.")
        env = run.read_environment() if run.environment_file.exists() else {}
        return cls(label, run, run.read_params(), env, run.read_metrics()["runs"],
                   run.read_histories(), run.read_choice())


def default_out(a: str | Path, b: str | Path) -> Path:
    """The comparison folder beside run A: <parent of A>/compare-<A>-vs-<B>."""
    a, b = Path(a), Path(b)
    return a.resolve().parent / f"compare-{a.resolve().name}-vs-{b.resolve().name}"


def parameter_defaults() -> dict[str, Any]:
    """Every parameter's default: what a run stored before that parameter existed ran with."""
    out: dict[str, Any] = {}
    for cls in PARTS.values():
        for f in dataclasses.fields(cls):
            has = f.default is not dataclasses.MISSING
            out[f.name] = f.default if has else f.default_factory()
    return json.loads(json.dumps(out))  # as a params file gives them back (tuples as lists)


def setting_differences(a: Side, b: Side) -> tuple[pd.DataFrame, int]:
    """(Parameter, A, B) for every parameter that differs, and how many parameters are equal.

    A parameter one file lacks is shown as its default, marked "(default)". Where a run searched
    settings per model (tune_space), a row such as "lr [lstm]" gives the values that model
    trained with, where they differ.
    """
    defaults, rows, equal = parameter_defaults(), [], 0

    def shown(params: dict, key: str) -> str:
        return _code(params.get(key, defaults.get(key))) + ("" if key in params else " (default)")

    for key in sorted(set(a.params) | set(b.params)):
        if a.params.get(key, defaults.get(key)) == b.params.get(key, defaults.get(key)):
            equal += 1
        else:
            rows.append({"Parameter": f"`{key}`", a.name: shown(a.params, key),
                         b.name: shown(b.params, key)})
    searched = sorted({k for s in (a, b) if s.choice for k in s.choice["space"]})
    for key in searched:
        for model in _common(a, b):
            (va, how_a), (vb, how_b) = (_trained_with(s, model, key) for s in (a, b))
            if va != vb:
                rows.append({"Parameter": f"`{key}` [{model}]", a.name: _code(va) + how_a,
                             b.name: _code(vb) + how_b})
    return pd.DataFrame(rows, columns=["Parameter", a.name, b.name]), equal


def _trained_with(side: Side, model: str, key: str) -> tuple[Any, str]:
    """The value of a training setting a model trained with: its search's choice (marked
    " (searched)"), else its own (per_model, marked " (per model)"), else the run's."""
    chosen = (side.choice or {}).get("chosen", {}).get(model, {})
    if key in chosen:
        return chosen[key], " (searched)"
    own = side.params.get("per_model", {}).get(model, {})
    if key in own:
        return own[key], " (per model)"
    return side.params.get(key, parameter_defaults().get(key)), ""


def environment_differences(a: Side, b: Side) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(What, A, B) for each ENV_KEYS entry that differs, and {key: value} of those equal."""
    rows, same = [], {}
    for key in ENV_KEYS:
        va, vb = a.environment.get(key, "not recorded"), b.environment.get(key, "not recorded")
        if va == vb:
            same[key] = va
        else:
            rows.append({"What": key, a.name: _code(va), b.name: _code(vb)})
    return pd.DataFrame(rows, columns=["What", a.name, b.name]), same


def split_differences(a: Side, b: Side) -> list[str]:
    """Why the two runs' test windows may differ (empty: they are the same windows).

    The parameters that decide them (TEST_SET_PARAMS) and each common model's split.
    """
    defaults = parameter_defaults()
    out = [f"`{k}`" for k in TEST_SET_PARAMS
           if a.params.get(k, defaults[k]) != b.params.get(k, defaults[k])]
    for model in _common(a, b):
        splits = [sorted(s.runs.loc[s.runs.model == model, "split"].unique()) for s in (a, b)]
        if splits[0] != splits[1]:
            out.append(f"the split of {model} ({splits[0]} vs {splits[1]})")
    return out


def metrics_side_by_side(a: Side, b: Side, intervals: bool) -> pd.DataFrame:
    """Per model and metric: A's and B's means over seeds, B - A and, where asked and both runs
    have 2 seeds or more, Welch's 95% interval of B - A. A model in one run only: one side."""
    rows = []
    for model in dict.fromkeys([*_models(a), *_models(b)]):
        va, vb = (s.runs.loc[s.runs.model == model] for s in (a, b))
        rows.append({"Model": model, "Metric": "Seeds", "A": _seeds(va), "B": _seeds(vb),
                     "B - A": _only(va, vb), "95% CI of B - A": ""})
        for key in SHOWN:
            x, y = va[key].to_numpy(dtype=float), vb[key].to_numpy(dtype=float)
            row = {"Model": "", "Metric": METRICS[key].label.replace("Final ", ""),
                   "A": _fmt(key, x), "B": _fmt(key, y), "B - A": "", "95% CI of B - A": ""}
            if x.size and y.size:
                row["B - A"] = _diff(key, y.mean() - x.mean())
                row["95% CI of B - A"] = _interval_cell(key, x, y, intervals)
            rows.append(row)
    return pd.DataFrame(rows).rename(columns={"A": a.name, "B": b.name})


def _interval_cell(key: str, x: np.ndarray, y: np.ndarray, intervals: bool) -> str:
    """Welch's interval of B - A in the table: none for training time (the machine's drift
    between runs is not seed noise), "n/a" where not asked or not computable."""
    if key == "train_time":
        return "—"
    iv = welch_interval(x, y) if intervals else None
    return "n/a" if iv is None else f"[{_diff(key, iv.low)}, {_diff(key, iv.high)}]"


def _seeds(runs: pd.DataFrame) -> str:
    return str(len(runs)) if len(runs) else "—"


def _only(va: pd.DataFrame, vb: pd.DataFrame) -> str:
    return "only in A" if vb.empty else "only in B" if va.empty else ""


def _fmt(key: str, values: np.ndarray) -> str:
    return METRICS[key].fmt.format(values.mean()) if values.size else "—"


def _diff(key: str, value: float) -> str:
    """A difference: accuracy in percentage points, time in seconds, loss in nats."""
    if key == "test_accuracy":
        return f"{value * 100:+.2f} pp"
    return f"{value:+.1f} s" if key == "train_time" else f"{value:+.4f}"


def _words(key: str) -> str:
    return {"val_loss": "validation loss", "train_loss": "training loss"}[key]


def comparison_markdown(a: Side, b: Side, figure: str, loss_key: str) -> str:
    """The whole comparison as Markdown; `figure` is the image's address (file or data URI)."""
    settings, equal = setting_differences(a, b)
    env, same = environment_differences(a, b)
    mismatch = split_differences(a, b)
    enough = all(s.runs.groupby("model").size().min() >= 2 for s in (a, b))
    metrics = metrics_side_by_side(a, b, intervals=enough and not mismatch)
    only = [f"{m} only in {s.name}" for s, o in ((a, b), (b, a))
            for m in _models(s) if m not in _models(o)]
    return "\n\n".join([
        f"# {a.run.root.name} vs {b.run.root.name}",
        f"A: `{a.run.root}` (profile `{a.params.get('profile')}`); "
        f"B: `{b.run.root}` (profile `{b.params.get('profile')}`). "
        "Every number is read from the two run folders; B - A is B's mean minus A's.",
        "## Settings that differ",
        prose.settings_note(settings, equal),
        *([md_table(settings)] if len(settings) else []),
        "### Environment",
        ("Same in both: " + ", ".join(f"{k} {_code(v)}" for k, v in same.items()) + "."
         if same else "Nothing in common."),
        *([md_table(env)] if len(env) else []),
        "## Metrics side by side",
        prose.metrics_note(enough, mismatch, only),
        md_table(metrics),
        "## Curves overlaid",
        f"{_words(loss_key).capitalize()} of each model. Epochs of the two runs can hold "
        "different numbers of steps (`max_steps`), and each run scores its own validation windows "
        "(`val_frac`, `eval_windows`); the right panel puts both on training seconds.",
        f"![{_words(loss_key)}, A solid, B dashed]({figure})",
    ]) + "\n"


def curves_png(a: Side, b: Side) -> tuple[bytes, str]:
    """The figure (PNG bytes) and the loss it shows: validation loss if both runs have it, else
    training loss; per epoch and against training seconds, mean over seeds, A solid, B dashed."""
    key = "val_loss" if all(_has(s.histories, "val_loss") for s in (a, b)) else "train_loss"
    columns = ["model", "epoch", key, "elapsed_train_seconds"]
    mean = pd.concat([s.histories[columns].groupby(["model", "epoch"], as_index=False).mean()
                      .assign(run=s.name) for s in (a, b)])
    models = list(dict.fromkeys([*_models(a), *_models(b)]))
    fig = figures.runs_overlaid(mean, key, _words(key), models, [a.name, b.name])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    figures.close(fig)
    return buffer.getvalue(), key


def _has(histories: pd.DataFrame, column: str) -> bool:
    return column in histories and histories[column].notna().any()


FIGURE = "\0figure\0"  # where the figure goes in the page


def compare_runs(a: Path, b: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Compare run folders `a` and `b`; write the Markdown, the HTML and the figure into `out`
    (default: `default_out(a, b)`). Returns (Markdown path, HTML path).

    Raises PipelineError naming the folder when one is not a run folder or has no metrics.
    """
    side_a, side_b = Side.load("A", a), Side.load("B", b)
    folder = ComparisonFolder(Path(out) if out is not None else default_out(a, b))
    png, loss_key = curves_png(side_a, side_b)
    atomic_write_bytes(folder.curves, png)
    md = comparison_markdown(side_a, side_b, FIGURE, loss_key)
    atomic_write_text(folder.markdown, md.replace(FIGURE, folder.curves.name))
    alt = f"{_words(loss_key)}, A solid, B dashed"
    before, after = md.split(f"![{alt}]({FIGURE})")
    title = f"{side_a.run.root.name} vs {side_b.run.root.name}"
    atomic_write_text(folder.html, export.report_html(export.page([before, (png, alt), after],
                                                                  title)))
    return folder.markdown, folder.html


def _models(side: Side) -> list[str]:
    return list(dict.fromkeys(side.runs.model))


def _common(a: Side, b: Side) -> list[str]:
    return [m for m in _models(a) if m in _models(b)]


def _code(value: Any) -> str:
    return f"`{json.dumps(value)}`"
