"""The report's sections, as Markdown, formatted from what the run folder holds (06_report).

Every number comes from the files that notebooks 01-04 wrote; nothing is recomputed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from charlm import explain, reference
from charlm.analysis import METRICS, interval_of
from charlm.environment import hardware_line
from charlm.run import LOG_EVERY, Run, produced
from charlm.stats import ALPHA, MIN_SEEDS, TIME_FLOOR

WORDS = {"train_time": "faster", "size_mb": "smaller"}


def fmt(key: str, value: float) -> str:
    return METRICS[key].fmt.format(value) if np.isfinite(value) else "n/a"


def md_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (no extra dependency), `|` in cells escaped."""
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    head = "| " + " | ".join(map(cell, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(map(cell, r)) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _mean_and_spread(key: str, values: np.ndarray) -> str:
    """One model's entry in the table: the value, or mean ± std over seeds."""
    if len(values) == 1 or key == "size_mb":
        return fmt(key, values[0])
    return f"{fmt(key, values.mean())} ± {fmt(key, values.std(ddof=1))}"


def _main(comparisons: pd.DataFrame) -> pd.DataFrame:
    return comparisons[comparisons["main"].astype(bool)]


def corpus_name(spec) -> str:
    """The text the run used, in words: Tiny Shakespeare or the file's name, and any cut."""
    name = "Tiny Shakespeare" if not spec.data.corpus else f"`{Path(spec.data.corpus).name}`"
    return name + (f" (first {spec.data.max_chars:,} characters)" if spec.data.max_chars else "")


def comparison_table(runs: pd.DataFrame, comparisons: pd.DataFrame) -> pd.DataFrame:
    """The reference's table: a row per metric, a column per model, the main pair's verdict."""
    main = _main(comparisons).set_index("metric")
    a, b = main.iloc[0][["a", "b"]]
    models = list(dict.fromkeys([a, b, *runs.model]))
    rows = []
    for key, metric in METRICS.items():
        row = {"Metric": metric.label}
        for m in models:
            row[m.upper()] = _mean_and_spread(key, runs.loc[runs.model == m, key].to_numpy())
        row[f"Verdict, {a.upper()} vs {b.upper()}"] = main.loc[key, "verdict"]
        rows.append(row)
    return pd.DataFrame(rows)


def seeds_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per model and metric: mean, standard deviation and 95% t-interval over seeds."""
    rows = []
    for s in summary.itertuples():
        if s.metric == "size_mb":
            continue
        show = lambda v, k=s.metric: fmt(k, v)  # noqa: E731
        ci = "n/a" if s.n < 2 else f"[{show(s.ci_low)}, {show(s.ci_high)}]"
        rows.append({"Model": s.model.upper(), "Metric": METRICS[s.metric].label,
                     "Mean": show(s.mean), "Std": "n/a" if s.n < 2 else show(s.std),
                     "95% CI over seeds": ci, "Seeds": s.n})
    return pd.DataFrame(rows)


def _scale(key: str) -> tuple[float, str]:
    """Differences of accuracy in percentage points, of time in seconds."""
    return {"test_accuracy": (100, " pp"), "train_time": (1, " s")}.get(key, (1, ""))


def differences_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Every difference A - B but size (exact), with its interval, what the interval covers, the
    p-value and the Holm-adjusted p-value that decides the verdict."""
    rows = []
    for c in comparisons[comparisons.metric != "size_mb"].itertuples():
        d, (scale, unit) = interval_of(c), _scale(c.metric)
        ci = "none" if d is None else f"[{d.low * scale:+.4g}, {d.high * scale:+.4g}]{unit}"
        rows.append({"A - B": f"{c.a.upper()} - {c.b.upper()}", "Metric": METRICS[c.metric].label,
                     "Difference": f"{c.estimate * scale:+.4g}{unit}", "95% CI": ci,
                     "Covers": c.covers if isinstance(c.covers, str) else "n/a",
                     "p": "n/a" if d is None or d.p_value is None else f"{d.p_value:.3g}",
                     "Holm p": f"{c.p_holm:.3g}" if pd.notna(c.p_holm) else "n/a",
                     "Verdict": c.verdict})
    return pd.DataFrame(rows)


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs table: every model and seed, with its test loss's interval (test-set noise)."""
    return pd.DataFrame([{
        "Model": r.model.upper(), "Seed": r.seed, "Split": r.split,
        "Train loss": f"{r.train_loss:.4f}",
        "Test loss [95% CI, test-set noise]":
            f"{r.test_loss:.4f} [{r.test_loss_low:.4f}, {r.test_loss_high:.4f}]",
        "Accuracy": f"{r.test_accuracy:.2%}", "Time": f"{r.train_time:.1f} s",
    } for r in runs.itertuples()])


def _diff_text(key: str, c) -> str:
    """The interval of a comparison row in words, with what it covers."""
    iv, (scale, unit) = interval_of(c), _scale(key)
    if iv is None or iv.method == "exact":
        return ""
    text = (f"95% CI of the difference [{iv.low * scale:+.4g}, {iv.high * scale:+.4g}]{unit}, "
            f"{iv.method}, n={iv.n}; it covers {c.covers}")
    return f" ({text})"


def _apart(key: str, c) -> str:
    """How far apart two means are: percentage points for accuracy, relative otherwise."""
    if key == "test_accuracy":
        return f"{abs(c.mean_a - c.mean_b) * 100:.2f} percentage points"
    rel = abs(c.mean_a - c.mean_b) / max(abs(c.mean_a), abs(c.mean_b), 1e-12)
    return f"{rel:.1%}"


def analysis_sentences(comparisons: pd.DataFrame) -> list[str]:
    """One sentence per metric of the main pair, written from its numbers and verdict."""
    out = []
    for c in _main(comparisons).itertuples():
        metric, a, b = METRICS[c.metric], c.a.upper(), c.b.upper()
        pair = f"{fmt(c.metric, c.mean_a)} for {a} vs {fmt(c.metric, c.mean_b)} for {b}"
        if isinstance(c.winner, str):
            win = c.winner.upper()
            loser = b if win == a else a
            word = WORDS.get(c.metric, "higher" if metric.higher_is_better else "lower")
            out.append(f"{metric.label}: {win} is {word} than {loser} by {_apart(c.metric, c)} "
                       f"({pair}){_diff_text(c.metric, c)}.")
        else:
            out.append(f"{metric.label}: {pair}; no winner ({c.verdict})"
                       f"{_diff_text(c.metric, c)}.")
    return out


def pair_sentence(c) -> str:
    """One sentence on the test loss of a further pair (a comparison row of test_loss)."""
    a, b = c.a.upper(), c.b.upper()
    head = f"Test loss {a} {c.mean_a:.4f} vs {b} {c.mean_b:.4f}: "
    if isinstance(c.winner, str):
        head += f"{c.winner.upper()} is lower by {abs(c.estimate):.4f} nats"
    else:
        head += f"no winner ({c.verdict})"
    return head + _diff_text("test_loss", c) + "."


# -- the sections, in the order of the report
def title(run: Run) -> str:
    spec = run.read_spec()
    names = " vs ".join(m.upper() for m in spec.run.models)
    return (f"# {names} on {corpus_name(spec)}\n\nProfile `{spec.profile}`, run folder "
            f"`{run.root.name}`. Every number below was measured in this run.")


def dataset(run: Run) -> str:
    return "## Dataset\n\n" + md_table(run.read_data_overview())


def architectures(run: Run) -> str:
    runs = run.read_metrics()["runs"].drop_duplicates("model")
    table = runs[["model", "cell", "hidden_size", "parameters", "size_mb"]].assign(
        layers=run.read_spec().model.num_layers, size_mb=runs.size_mb.map(lambda v: f"{v:.2f}"))
    return ("## Model Architectures\n\nOne-hot characters (input size = vocabulary size), a "
            "stacked recurrent layer, a linear layer to the vocabulary.\n\n" + md_table(table))


def _split_line(spec) -> str:
    d = spec.data
    line = (f"- **Split**: `{d.split}` {d.train_frac:.0%}/{1 - d.train_frac:.0%} of the windows"
            + (f", first {d.max_chars:,} characters" if d.max_chars else ""))
    line += (f"; {d.val_frac:.0%} of the training windows held out for validation (per-epoch "
             "curves; anything chosen is chosen on them)" if d.val_frac else
             "; no validation set (the reference's 80/20)")
    if spec.run.split_per_seed:
        line += "; each seed its own random split (split seed + seed)"
    return line


def training_configuration(run: Run) -> str:
    spec = run.read_spec()
    t = spec.train
    searched = list(spec.run.tune_space)
    lr = "each model's own, see below" if "lr" in searched else f"{t.lr:g}"
    schedule = (f"constant {lr}" if t.min_lr is None
                else f"{t.warmup_steps} warmup steps, cosine {lr} -> {t.min_lr:g}")
    steps = f", at most {t.max_steps} steps per epoch" if t.max_steps else ""
    objective = ("next character after each window, as the reference" if t.objective == "last"
                 else "every position predicts its next character; targets of validation and "
                      "test windows are skipped")
    per_epoch = (f"every epoch on {t.eval_windows or 'all'} validation windows, the last on all "
                 "of them; " if spec.data.val_frac else "")
    lines = [
        f"- **Objective**: `{t.objective}` ({objective})",
        _split_line(spec),
        f"- **Optimizer**: Adam, learning rate {schedule}, batch size {t.batch_size}, "
        f"gradient clipping {t.grad_clip or 'none'}",
        f"- **Epochs**: {t.epochs}{steps}; seeds {spec.run.seeds}" + _together(run),
        *(["- **Searched per model** (see Tuning; these replace the values above): "
           + "; ".join(f"`{k}`: " + ", ".join(f"{m} {v}" for m, v in _chosen(run, k).items())
                       for k in searched)] if searched else []),
        f"- **Evaluation**: {per_epoch}the test set once, after the last epoch, on all its "
        "windows; loss = cross entropy in nats",
        f"- **Hardware**: {hardware_line(run.read_environment())}",
    ]
    return "## Training Configuration\n\n" + "\n".join(lines)


def _chosen(run: Run, key: str) -> dict:
    """Each model's chosen value of a searched setting."""
    return {m: s[key] for m, s in (run.read_choice() or {"chosen": {}})["chosen"].items()}


def _together(run: Run) -> str:
    k = int(run.read_metrics()["runs"].get("trained_with", pd.Series([1])).max())
    return ("" if k <= 1 else f", the seeds of each model trained together as one computation "
            f"({k} at a time; a model's training time is the group's time divided by {k})")


RULES = (f"Verdicts: model size is exact. Test loss, accuracy and training loss: a winner only "
         f"with at least {MIN_SEEDS} seeds and a Holm-adjusted p-value below {ALPHA:.2f}, the "
         "correction taken over every such test in this report (all pairs and metrics); with "
         "fewer seeds the verdict is 'not established' and says why. Training time: models train "
         "one after another, so the machine's drift lands on one model and seeds do not cover "
         f"it; a winner needs times more than {TIME_FLOOR:.0%} apart (the floor, above the "
         f"run-to-run spread measured on the development machines), and with {MIN_SEEDS} seeds "
         "or more also the Holm test.")


def tuning(run: Run) -> str:
    """The search: what was searched, each model's choice, and whether it matters ("" where
    the run searched nothing)."""
    from charlm import tuning as search

    spec = run.read_spec()
    choice = search.choice_of(run, spec)
    if choice is None:
        return ""
    trials = run.read_trials()
    space = ", ".join(f"`{k}` in {v}" for k, v in choice["space"].items())
    chosen = ", ".join(f"{m.upper()} at `{search.setting_name(s)}`"
                       for m, s in choice["chosen"].items())
    table = search.choice_table(choice).reset_index()
    for m in choice["scores"]:
        table[m] = table[m].map(lambda v: "diverged" if pd.isna(v) else f"{v:.4f}")
    minutes = trials["train_time"].sum() / 60
    return (
        f"## Tuning\n\nEach model searched {space}: {len(trials)} trials, "
        f"{len(spec.run.tune_seeds)} seed(s) per setting ({spec.run.tune_seeds}), each at this "
        f"run's budget and scored on the validation windows only ({minutes:.1f} minutes of "
        f"training in all). Chosen, by the lowest mean validation loss: {chosen}; every model "
        "below trained at its own choice with the run's seeds.\n\n"
        f"{md_table(table)}\n\n"
        f"{search.shared_sentence(choice, spec.main_pair, search.base_setting(spec))}\n\n"
        "A setting is chosen as the lowest of several noisy scores, so its score in the search "
        "tends to flatter it. The run's own seeds, trained at the chosen settings, on the same "
        "validation windows:\n\n"
        + md_table(search.recheck(choice, run.read_histories()).round(4))
    )


def tuning_figure(run: Run):
    """The search's figure, where the run searched (None otherwise: a notebook shows nothing)."""
    return figure(run, "tuning") if run.read_spec().run.tune_space and \
        run.figures.tuning.exists() else None


OPTIONAL_FIGURES = ("step_losses",)  # absent from runs trained before step losses were logged


def figure(run: Run, name: str):
    """The run's figure `name` (an attribute of run.figures, e.g. "loss_curves") to display, with
    alt text that says what it shows (the exported page writes it into the <img>). None for
    the step losses of a run whose models were trained before charlm logged them."""
    from IPython.display import Image

    path = getattr(run.figures, name)
    if name in OPTIONAL_FIGURES and not path.exists():
        return None
    # metadata rather than alt=, which older IPython versions lack; both write the same output
    return Image(filename=produced(path, run.figures.producer(name)),
                 metadata={"alt": alt_text(run, name)})


def alt_text(run: Run, name: str) -> str:
    """What the figure `name` shows, in words, for readers who cannot see it."""
    spec = run.read_spec()
    names = [m.upper() for m in spec.run.models]
    models = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    sets = "training and validation" if spec.data.val_frac else "training"
    empty = "Empty chart: the run has no validation set, so there is no {} per epoch"
    searched = list(spec.run.tune_space) or ["nothing"]  # the first is the x axis
    return {
        "char_frequencies": "Bar chart of how often each character occurs in "
                            f"{corpus_name(spec).replace('`', '')}, most frequent first",
        "loss_curves": f"Line chart of the {sets} loss (cross entropy, nats) per epoch for "
                       f"{models}: mean over seeds, band of one standard deviation",
        "step_losses": f"Line chart of the training loss every {LOG_EVERY} optimizer steps "
                       f"for {models}: mean over seeds, band of one standard deviation, dashed "
                       "lines where epochs end",
        "accuracy": f"Line chart of the validation accuracy per epoch for {models}"
                    if spec.data.val_frac else empty.format("accuracy"),
        "time_and_size": f"Two bar charts for {models}: training time in seconds (mean over "
                         "seeds, whisker of one standard deviation) and model size in MB",
        "loss_vs_time": f"Line chart of the validation loss against training seconds for "
                        f"{models}, a line per seed" if spec.data.val_frac
                        else empty.format("validation loss"),
        "tuning": f"Line chart of the validation loss against {searched[0]} for {models}"
                  + (f", a dash style per {', '.join(searched[1:])}" if searched[1:] else "")
                  + ": a dot per trial, a line through the means, a star at each model's "
                  "chosen setting",
    }[name]


def results(run: Run) -> str:
    m = run.read_metrics()
    table = comparison_table(m["runs"], m["comparisons"])
    ref = pd.DataFrame([{"Metric": metric.label,
                         **{f"Reference {name.upper()}": reference.as_printed(key, name)
                            for name in reference.MODELS}}
                        for key, metric in METRICS.items()])
    splits = m["runs"].drop_duplicates("model").set_index("model")["split"]
    head = f"{splits.mode().iloc[0]} split"
    others = [f"{name.upper()}: {split}" for name, split in splits.items()
              if split != splits.mode().iloc[0]]
    if others:
        head += "; " + ", ".join(others)
    note = ("Mean ± standard deviation over seeds where there are several. " + RULES)
    return (f"## Results\n\n### Performance Metrics ({head})\n\n"
            f"{md_table(table)}\n\n{note}\n\n### The reference report ({reference.HARDWARE})"
            f"\n\n{md_table(ref)}")


def statistics(run: Run) -> str:
    """Seeds summary, differences with intervals, and the runs table."""
    m, spec = run.read_metrics(), run.read_spec()
    return (
        "### Over seeds: mean, spread, 95% interval (t distribution)\n\nThe interval covers "
        "seed noise (initialisation and data order)"
        + (" and each seed's own split" if spec.run.split_per_seed else " on fixed test windows")
        + ".\n\n"
        + md_table(seeds_table(m["summary"]))
        + "\n\n### Differences A - B (accuracy in percentage points)\n\nSeveral seeds: paired "
        "differences over matched seeds, 95% t-interval and paired t-test p-value; Holm p: the "
        "p-value adjusted for every test in this table. One seed: a bootstrap over contiguous "
        "blocks of 1,000 test windows (fewer under 10,000 windows; neighbouring windows "
        "overlap, so resampling single "
        "windows would understate the spread). Covers: the noise each interval "
        "accounts for.\n\n"
        + md_table(differences_table(m["comparisons"]))
        + "\n\n### Runs: every model and seed\n\n" + md_table(runs_table(m["runs"]))
    )


def samples(run: Run) -> str:
    rows = run.read_samples()
    out = [f"## Text Generation Examples\n\nSampling seed {rows.seed.iloc[0]}."]
    notes = rows["note"].fillna("") if "note" in rows else pd.Series("", index=rows.index)
    for note in dict.fromkeys(n for n in notes if n):
        out.append(f"The prompt is {note}.")
    for r in rows.itertuples():
        out.append(f"**{r.model.upper()}**, temperature {r.temperature}, prompt "
                   f'"{r.prompt}":\n\n```\n{r.text}\n```')
    return "\n\n".join(out)


def analysis(run: Run) -> str:
    m = run.read_metrics()
    comparisons = m["comparisons"]
    text = "## Analysis\n\n" + "\n".join(
        f"{i}. {s}" for i, s in enumerate(analysis_sentences(comparisons), 1))
    more = comparisons[~comparisons["main"].astype(bool) & (comparisons.metric == "test_loss")]
    if len(more):
        text += "\n\n### Further comparisons\n\n" + "\n".join(
            f"- {pair_sentence(c)}" for c in more.itertuples())
    return text + "\n\n" + held_out(run)


def held_out(run: Run) -> str:
    """The n-gram floor, and where the contiguous split's extra loss comes from (measured)."""
    m, spec = run.read_metrics(), run.read_spec()
    shown = lambda v: "n/a" if not np.isfinite(v) else f"{v:.4f}"  # noqa: E731
    table = m["held_out"].astype({"n_late": int, "n_early": int})
    table = table.assign(scorer=table.scorer.map(lambda s: s if "gram" in s else s.upper()),
                         **{col: table[col].map(shown)
                            for col in ("test_loss", "late_loss", "early_loss")})
    table = table.rename(columns={
        "scorer": "Model", "split": "Split", "test_loss": "Test loss",
        "late_loss": f"in the last {1 - spec.data.train_frac:.0%} of the text",
        "early_loss": "elsewhere", "n_late": "windows there", "n_early": "windows elsewhere"})
    text = ("### The held-out text\n\n" + explain.floor_sentence(m["held_out"], spec.data.split,
                                                          spec.data.val_frac > 0)
            + "\n\n" + md_table(table))
    tests = m["comparisons"].set_index(["a", "b", "metric"])
    for gap in m["split_gaps"].itertuples(index=False):
        row = (tests.loc[(gap.contiguous, gap.random, "test_loss")]
               if (gap.contiguous, gap.random, "test_loss") in tests.index
               else tests.loc[(gap.random, gap.contiguous, "test_loss")])
        text += "\n\n" + explain.split_sentence(pd.Series(gap._asdict()), row.verdict,
                                                 isinstance(row.winner, str))
    return text


def _reference_line(run: Run, m: dict) -> str:
    """Each reference model's test loss against the reference's, with the run's interval."""
    spec, runs, summary = run.read_spec(), m["runs"], m["summary"].set_index(["model", "metric"])
    if spec.data.corpus or spec.data.max_chars:
        return "The reference's numbers are for all of Tiny Shakespeare: not comparable here. "
    text = ""
    for model in reference.MODELS:
        rows = runs[runs.model == model]
        if rows.empty or (rows.split != "random").any():
            continue
        ref = reference.number("test_loss", model)
        if len(rows) >= 2:
            s = summary.loc[(model, "test_loss")]
            low, high, covers = s.ci_low, s.ci_high, f"seed noise over {len(rows)} seeds"
        else:
            r = rows.iloc[0]
            low, high = r.test_loss_low, r.test_loss_high
            covers = "test-set noise of one seed; seed-to-seed variation is not covered"
        where = ("matches the reference's {ref} within noise" if low <= ref <= high
                 else "is below the reference's {ref}" if high < ref
                 else "is above the reference's {ref}").format(ref=ref)
        text += (f"{model.upper()}'s test loss {rows.test_loss.mean():.4f} {where} (95% "
                 f"interval [{low:.4f}, {high:.4f}], {covers}). ")
    return text


def conclusion(run: Run) -> str:
    m = run.read_metrics()
    main = _main(m["comparisons"])
    a, b = (x.upper() for x in main.iloc[0][["a", "b"]])
    decided = [f"{METRICS[c.metric].label.lower()}: {c.winner.upper()}"
               for c in main.itertuples() if isinstance(c.winner, str)]
    open_: dict[str, list[str]] = {}
    for c in main.itertuples():
        if not isinstance(c.winner, str):
            open_.setdefault(c.verdict, []).append(METRICS[c.metric].label.lower())
    text = f"## Conclusion\n\n{a} against {b}. "
    text += (f"Established: {'; '.join(decided)}. " if decided
             else "No difference between the two models is established. ")
    for verdict, labels in open_.items():
        text += f"No winner for {', '.join(labels)}: {verdict}. "
    return text + _reference_line(run, m)
