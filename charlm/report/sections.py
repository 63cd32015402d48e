"""The report's sections: pure functions of the run's data, loaded once (06_report).

`load(run)` reads every file the report shows, once; each section formats what it holds as
Markdown. Fixed prose and headings live in the notebook's markdown cells, which the export keeps;
sentences written from numbers come from charlm.report.prose. Nothing is recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from IPython.display import Image

from charlm import reference
from charlm.config import LOG_EVERY
from charlm.experiment.layout import FIGURES_DIR, produced
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec
from charlm.kinds import model_label
from charlm.report import prose, search_prose, tables
from charlm.report.tables import (
    architectures_table,
    comparison_table,
    differences_table,
    held_out_table,
    md_table,
    reference_table,
    runs_table,
    seeds_table,
)
from charlm.stats import search
from charlm.stats.intervals import MIN_SEEDS
from charlm.stats.verdicts import interval_of

# absent from runs made before charlm drew them
OPTIONAL_FIGURES = ("step_losses", "expected_best", "budget")


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read once from the run folder."""

    run: Run
    spec: RunSpec
    environment: dict
    overview: pd.DataFrame
    metrics: dict[str, pd.DataFrame]
    histories: pd.DataFrame
    samples: pd.DataFrame
    choice: dict | None  # the search's choice, where the run searched
    trials: pd.DataFrame | None


def load(run: Run) -> ReportData:
    """Read the run folder's files that the report shows, once."""
    spec = run.read_spec()
    choice = run.read_choice() if spec.search.tune_space else None
    return ReportData(run=run, spec=spec, environment=run.read_environment(),
                      overview=run.read_data_overview(), metrics=run.read_metrics(),
                      histories=run.read_histories(), samples=run.read_samples(),
                      choice=choice, trials=run.read_trials() if choice else None)


def title(d: ReportData) -> str:
    names = " vs ".join(model_label(m) for m in d.spec.run.models)
    chars = d.overview.set_index("quantity")["value"].get("characters")
    corpus = tables.corpus_name(d.spec.data.corpus, d.spec.data.max_chars,
                                int(str(chars).replace(",", "")) if chars is not None else None)
    return (f"# {names} on {corpus}\n\nProfile `{d.spec.profile}`, run folder "
            f"`{d.run.root.name}`. Every number below was measured in this run.")


def dataset(d: ReportData) -> str:
    return md_table(d.overview)


def architectures(d: ReportData) -> str:
    return md_table(architectures_table(d.metrics["runs"], d.spec.model.num_layers))


def _split_line(spec: RunSpec) -> str:
    data = spec.data
    line = (f"- **Split**: `{data.split}` {data.train_frac:.0%}/{1 - data.train_frac:.0%} of "
            "the windows" + (f", first {data.max_chars:,} characters" if data.max_chars else ""))
    line += (f"; {data.val_frac:.0%} of the training windows held out for validation "
             "(per-epoch curves; anything chosen is chosen on them)" if data.val_frac else
             "; no validation set (the reference's 80/20)")
    if spec.run.split_per_seed:
        line += "; each seed its own random split (split seed + seed)"
    return line


def _together(runs: pd.DataFrame) -> str:
    k = int(runs.get("trained_with", pd.Series([1])).max())
    return ("" if k <= 1 else f", the seeds of each model trained together as one computation "
            f"({k} at a time; a model's training time is the group's time divided by {k})")


def training_configuration(d: ReportData) -> str:
    spec, t = d.spec, d.spec.train
    searched = list(spec.search.tune_space)
    lr = "each model's own, see below" if "lr" in searched else f"{t.lr:g}"
    schedule = (f"constant {lr}" if t.min_lr is None
                else f"{t.warmup_steps} warmup steps, cosine {lr} -> {t.min_lr:g}")
    steps = f", at most {t.max_steps} steps per epoch" if t.max_steps else ""
    objective = ("next character after each window, as the reference" if t.objective == "last"
                 else "every position predicts its next character; targets of validation and "
                      "test windows are skipped")
    per_epoch = (f"every epoch on {t.eval_windows or 'all'} validation windows, the last on all "
                 "of them; " if spec.data.val_frac else "")
    chosen = (d.choice or {"chosen": {}})["chosen"]
    lines = [
        f"- **Objective**: `{t.objective}` ({objective})",
        _split_line(spec),
        f"- **Optimizer**: Adam, learning rate {schedule}, batch size {t.batch_size}, "
        f"gradient clipping {t.grad_clip or 'none'}"
        + (f", dropout {spec.model.dropout:g}" if spec.model.dropout else ""),
        f"- **Epochs**: {t.epochs}{steps}; seeds {spec.run.seeds}"
        + _together(d.metrics["runs"]),
        *([f"- **Set per model** (these replace the values above{_where_from(spec)}): "
           + "; ".join(f"{model_label(m)} " + ", ".join(f"`{k}` {v:g}" if isinstance(v, float)
                                                       else f"`{k}` {v}" for k, v in s.items())
                       for m, s in spec.run.per_model.items())] if spec.run.per_model else []),
        *(["- **Searched per model** (see Tuning; these replace the values above): "
           + "; ".join(f"`{k}`: " + ", ".join(f"{model_label(m)} {s[k]}"
                                              for m, s in chosen.items())
                       for k in searched)] if searched else []),
        f"- **Evaluation**: {per_epoch}the test set once, after the last epoch, on all its "
        f"windows, {_tested(d)}; loss = cross entropy in nats",
        f"- **Hardware**: {tables.hardware_line(d.environment)}",
    ]
    return "\n".join(lines)


def _where_from(spec: RunSpec) -> str:
    """Where the per-model settings come from, where the run says (per_model_source)."""
    return f"; from {spec.run.per_model_source}" if spec.run.per_model_source else ""


def _tested(d: ReportData) -> str:
    """Which model the test set scored, and how often the best validation epoch was the last."""
    runs = d.metrics["runs"]
    if d.spec.train.test_model == "best":
        earlier = int((runs.tested_epoch != runs.epochs_done).sum())
        return (f"with each run's best validation epoch's model (`test_model=best`, its own "
                f"checkpoint; an epoch before the last in {earlier} of {len(runs)} runs)")
    which = "with the last epoch's model (`test_model=last`"
    if "best_epoch" in runs and runs.best_epoch.notna().any():
        last = int((runs.best_epoch == runs.epochs_done).sum())
        which += (f"; the lowest validation loss was at the last epoch in {last} of "
                  f"{len(runs)} runs")
    return which + ")"


def tuning(d: ReportData) -> str:
    """The search: what was searched, each model's choice, and whether it matters ("" where
    the run searched nothing)."""
    choice, trials, spec = d.choice, d.trials, d.spec
    if choice is None:
        return ""
    space = ", ".join(f"`{k}` in {v}" for k, v in choice["space"].items())
    chosen = ", ".join(f"{model_label(m)} at `{search.setting_name(s)}`"
                       for m, s in choice["chosen"].items())
    table = search.choice_table(choice).reset_index()
    for m in choice["scores"]:
        table[m] = table[m].map(lambda v: "diverged" if pd.isna(v) else f"{v:.4f}")
    minutes = trials["train_time"].sum() / 60
    return (
        f"## Tuning\n\nEach model searched {space}: {len(trials)} trials, "
        f"{len(spec.search.tune_seeds)} seed(s) per setting ({spec.search.tune_seeds}), each at "
        f"this run's budget and scored on the validation windows only ({minutes:.1f} minutes "
        f"of training in all). Chosen, by the lowest mean validation loss: {chosen}; every "
        "model below trained at its own choice with the run's seeds.\n\n"
        f"{md_table(table)}\n\n"
        f"{search_prose.shared_sentence(choice, spec.main_pair, spec.base_setting())}\n\n"
        "A setting is chosen as the lowest of several noisy scores, so its score in the search "
        "tends to flatter it. The run's own seeds, trained at the chosen settings, on the same "
        "validation windows (SE: of the difference, from both sides' seed variances; beyond the "
        "noise: outside its 95% band, Welch):\n\n"
        + md_table(search.recheck(choice, d.histories).round(4))
        + "\n\n" + search_prose.expected_best_sentence(search.expected_best_curve(trials))
    )


def performance(d: ReportData) -> str:
    """The reference's table with this run's numbers and the main pair's verdicts."""
    m = d.metrics
    splits = m["runs"].drop_duplicates("model").set_index("model")["split"]
    head = f"{splits.mode().iloc[0]} split"
    others = [f"{model_label(name)}: {split}" for name, split in splits.items()
              if split != splits.mode().iloc[0]]
    if others:
        head += "; " + ", ".join(others)
    return (f"### Performance Metrics ({head})\n\n"
            f"{md_table(comparison_table(m['runs'], m['comparisons']))}\n\n"
            "Mean ± standard deviation over seeds where there are several. " + prose.RULES)


def reference_results() -> str:
    return (f"### The reference report ({reference.HARDWARE})\n\n"
            + md_table(reference_table(reference)))


def over_seeds(d: ReportData) -> str:
    return (prose.seeds_cover_sentence(d.spec.run.split_per_seed) + "\n\n"
            + md_table(seeds_table(d.metrics["summary"])))


def differences(d: ReportData) -> str:
    return md_table(differences_table(d.metrics["comparisons"]))


def runs(d: ReportData) -> str:
    return md_table(runs_table(d.metrics["runs"]))


def samples(d: ReportData) -> str:
    rows = d.samples
    out = [f"Sampling seed {rows.seed.iloc[0]}."]
    notes = rows["note"].fillna("") if "note" in rows else pd.Series("", index=rows.index)
    for note in dict.fromkeys(n for n in notes if n):
        out.append(f"The prompt is {note}.")
    for r in rows.itertuples():
        out.append(f"**{model_label(r.model)}**, temperature {r.temperature}, prompt "
                   f'"{r.prompt}":\n\n```\n{r.text}\n```')
    return "\n\n".join(out)


def analysis(d: ReportData) -> str:
    comparisons = d.metrics["comparisons"]
    text = "\n".join(f"{i}. {s}" for i, s in
                     enumerate(prose.analysis_sentences(comparisons), 1))
    more = comparisons[~comparisons["main"].astype(bool) & (comparisons.metric == "test_loss")]
    if len(more):
        text += "\n\n### Further comparisons\n\n" + "\n".join(
            f"- {prose.pair_sentence(c)}" for c in more.itertuples())
    return text


def held_out(d: ReportData) -> str:
    """The n-gram floor, and where the contiguous split's extra loss comes from (measured)."""
    m, data = d.metrics, d.spec.data
    text = (prose.floor_sentence(m["held_out"], data.split, data.val_frac > 0) + "\n\n"
            + md_table(held_out_table(m["held_out"], data.train_frac)))
    tests = m["comparisons"].set_index(["a", "b", "metric"])
    for gap in m["split_gaps"].itertuples(index=False):
        key = (gap.contiguous, gap.random, "test_loss")
        row = tests.loc[key] if key in tests.index else tests.loc[
            (gap.random, gap.contiguous, "test_loss")]
        # a gap between splits is a difference between test sets: no winner, but is it beyond
        # the seed noise? (its interval over at least MIN_SEEDS seeds excludes zero)
        iv = interval_of(row)
        beyond = (iv is not None and row.n_seeds >= MIN_SEEDS and iv.method.startswith("paired")
                  and (iv.low > 0 or iv.high < 0))
        said = (f"95% CI [{iv.low:+.4f}, {iv.high:+.4f}] over seeds, "
                f"{'beyond' if beyond else 'within'} the seed noise" if iv is not None
                and iv.method.startswith("paired") else row.verdict)
        text += "\n\n" + prose.split_sentence(pd.Series(gap._asdict()), said, beyond)
    return text


def conclusion(d: ReportData) -> str:
    m = d.metrics
    return (prose.conclusion_sentences(m["comparisons"])
            + prose.reference_sentence(m.get("reference_fit"),
                                       not (d.spec.data.corpus or d.spec.data.max_chars)))


def figure(d: ReportData, name: str):
    """The run's figure `name` (an attribute of run.figures, e.g. "loss_curves") to display, with
    alt text that says what it shows (the exported page writes it into the <img>). None where
    there is nothing to show: the search's figure of a run without a search, the step losses
    of a run whose models were trained before charlm logged them."""
    path = getattr(d.run.figures, name)
    if name in ("tuning", "expected_best") and d.choice is None:
        return None
    if name in OPTIONAL_FIGURES and not path.exists():
        return None
    # metadata rather than alt=, which older IPython versions lack; both write the same output
    return Image(filename=produced(d.run.root, f"{FIGURES_DIR}/{path.name}"),
                 metadata={"alt": alt_text(d.spec, name, LOG_EVERY)})


def alt_text(spec, name: str, log_every: int) -> str:
    """What the figure `name` shows, in words, for readers who cannot see it."""
    names = [model_label(m) for m in spec.run.models]
    models = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    sets = "training and validation" if spec.data.val_frac else "training"
    empty = "Empty chart: the run has no validation set, so there is no {} per epoch"
    searched = list(spec.search.tune_space) or ["nothing"]  # the first is the x axis
    corpus = tables.corpus_name(spec.data.corpus, spec.data.max_chars).replace("`", "")
    return {
        "char_frequencies": f"Bar chart of how often each character occurs in {corpus}, most "
                            "frequent first",
        "loss_curves": f"Line chart of the {sets} loss (cross entropy, nats) per epoch for "
                       f"{models}: mean over seeds, band of one standard deviation",
        "step_losses": f"Line chart of the training loss every {log_every} optimizer steps "
                       f"for {models}: mean over seeds, band of one standard deviation, dashed "
                       "lines where epochs end",
        "accuracy": f"Line chart of the validation accuracy per epoch for {models}"
                    if spec.data.val_frac else empty.format("accuracy"),
        "time_and_size": f"Two bar charts for {models}: training time in seconds (mean over "
                         "seeds, whisker of one standard deviation) and model size in MB",
        "loss_vs_time": f"Line chart of the validation loss against training seconds for "
                        f"{models}, a line per seed" if spec.data.val_frac
                        else empty.format("validation loss"),
        "budget": f"Two line charts of the validation loss difference {names[0]} minus "
                  f"{names[1] if len(names) > 1 else names[0]} at every epoch, against optimizer "
                  "steps and against training seconds, with its 95% interval over seeds",
        "expected_best": f"Line chart of the expected best validation loss of k trials of the "
                         f"search against k, for {models}",
        "tuning": f"Line chart of the validation loss against {searched[0]} for {models}"
                  + (f", a dash style per {', '.join(searched[1:])}" if searched[1:] else "")
                  + ": a dot per trial, a line through the means, a star at each model's "
                  "chosen setting",
    }[name]
