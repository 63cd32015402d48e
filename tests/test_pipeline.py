"""The whole notebook chain through papermill on the smoke profile, read back from its files."""

import re
import shutil
import subprocess
import sys

import nbformat
import pandas as pd
import pytest

from charlm.errors import ParameterError, PipelineError
from charlm.experiment.pipeline import choose_folder, run_report
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.experiment.notebook import open_run
from charlm.experiment.steps import evaluate_run
from charlm.project import NOTEBOOKS_DIR
from charlm.report import sections as report
from charlm.stats import intervals as stats
from charlm.stats import ngram
from charlm.stats import verdicts as analysis

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_source_notebooks_carry_no_outputs():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged parameters"
        assert "def " not in "".join(c.source for c in code), f"{path.name} defines functions"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, corpus_text) -> Run:
    reports = tmp_path_factory.mktemp("reports")
    return run_report("smoke", reports_dir=reports, figures_dir=reports / "figures",
                      progress=False)


def test_chain_writes_everything(smoke_run):
    spec = resolve("smoke")
    assert smoke_run.read_spec() == spec
    for model in spec.run.models:
        for seed in spec.run.seeds:
            assert smoke_run.model(model, seed).checkpoint.exists()
    for name in ("01_explore_data", "02_tune", "04_evaluate", "05_generate", "06_report"):
        assert smoke_run.executed_notebook(f"{name}.ipynb").exists()
    assert smoke_run.executed_notebook("03_train-gru-h149.ipynb").exists()
    runs = smoke_run.read_metrics()["runs"]
    assert list(runs.model.unique()) == spec.run.models  # the run's order
    assert smoke_run.environment_file.exists()
    assert (smoke_run.root.parent / "figures" / smoke_run.figures.loss_curves.name).exists()


def test_metrics_hold_every_comparison(smoke_run):
    spec = smoke_run.read_spec()
    c = smoke_run.read_metrics()["comparisons"]
    pairs = list(dict.fromkeys(zip(c.a, c.b)))
    assert pairs == spec.comparisons() and pairs[0] == ("lstm", "gru")
    assert len(c) == len(pairs) * len(analysis.METRICS)
    assert c["main"].tolist() == [True] * 5 + [False] * (len(c) - 5)
    assert set(c.method.dropna()) == {"paired t over seeds", "exact"}  # two seeds each


def test_evaluation_bootstraps_each_run_once_and_the_report_never(smoke_run, monkeypatch):
    calls = []
    real = analysis.block_bootstrap
    monkeypatch.setattr(analysis, "block_bootstrap", lambda *a, **k: calls.append(1) or real(
        *a, **k))
    spec = smoke_run.read_spec()
    evaluate_run(smoke_run, spec)
    assert len(calls) == len(spec.run.models) * len(spec.run.seeds)  # each run's own interval

    def forbidden(*args, **kwargs):
        raise AssertionError("the report computed a statistic")

    for module in (stats, analysis, ngram):
        for name in ("block_bootstrap", "block_bootstrap_unpaired", "paired_t", "mean_ci", "holm",
                     "compare", "comparisons", "summary_over_seeds", "with_test_loss_intervals",
                     "held_out_text", "split_gaps", "window_losses", "score_splits"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, forbidden)
    for section in (report.title, report.dataset, report.architectures, report.tuning,
                    report.training_configuration, report.results, report.statistics,
                    report.samples, report.analysis, report.conclusion):
        assert section(smoke_run).strip()


def test_test_set_is_read_once_and_verdicts_wait_for_seeds(smoke_run):
    h = smoke_run.read_histories()
    last = h.epoch == h.epoch.max()
    assert h.val_loss.notna().all() and h.val_accuracy.notna().all()
    assert h.loc[~last, "test_loss"].isna().all() and h.loc[last, "test_loss"].notna().all()
    text = smoke_run.report_md.read_text()
    assert "# LSTM vs GRU vs GRU-H149 vs RNN vs LSTM@CONTIGUOUS on Tiny Shakespeare (first " \
           "40,000 characters)" in text
    assert "not established: 2 seeds, a verdict needs 3" in text
    assert "count model" in text and "Holm" in text
    # one seed: no test-loss or accuracy winner, and the reason
    spec = smoke_run.read_spec()
    one = resolve("smoke", {"seeds": [0]})
    c = evaluate_run(smoke_run, one).comparisons.set_index(["a", "b", "metric"])
    for metric in ("test_loss", "test_accuracy"):
        row = c.loc[("lstm", "gru", metric)]
        assert pd.isna(row.winner) and row.verdict == "not established: 1 seed, a verdict needs 3"
        assert row.method.startswith("block bootstrap") and row.low < row.high
    assert spec == smoke_run.read_spec()


def _table_numbers(run: Run) -> list[str]:
    m = run.read_metrics()
    table = report.comparison_table(m["runs"], m["comparisons"])
    return [entry for m in ("LSTM", "GRU") for entry in table[m]]


def test_markdown_report(smoke_run):
    md = smoke_run.report_md.read_text()
    for heading in ("## Dataset", "## Model Architectures", "## Tuning",
                    "## Training Configuration", "## Results", "## Text Generation Examples",
                    "## Analysis", "## Conclusion",
                    "### Runs: every model and seed", "### Further comparisons"):
        assert heading in md
    for number in _table_numbers(smoke_run):
        assert number in md
    assert smoke_run.read_samples().text.iloc[0] in md
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (smoke_run.root / image).exists()


def test_the_report_tells_the_search(smoke_run):
    md, choice = smoke_run.report_md.read_text(), smoke_run.read_choice()
    assert "## Tuning" in md and "scored on the validation windows only" in md
    assert smoke_run.figures.tuning.exists()
    runs = smoke_run.read_metrics()["runs"]
    for model, setting in choice["chosen"].items():  # each model trained at its own choice
        assert (runs[runs.model == model]["lr"] == setting["lr"]).all()
    assert "shared setting" in md and "tends to flatter it" in md  # the choice, rechecked


def test_executor_ray_gives_the_numbers_of_a_local_run(smoke_run, tmp_path, capfd):
    pytest.importorskip("ray", reason="needs the extra: pip install -e '.[ray]'")
    ray_run = run_report("smoke", {"executor": "ray"}, reports_dir=tmp_path, figures_dir=None,
                         progress=False)
    assert "started a local Ray instance" in capfd.readouterr().err
    a, b = smoke_run.read_metrics(), ray_run.read_metrics()
    assert list(a) == list(b)
    for key in a:  # every number but the measured times
        timing = [c for c in a[key] if "time" in c or "seconds" in c]
        rows_a, rows_b = a[key], b[key]
        if "metric" in rows_a:
            rows_a = rows_a[~rows_a.metric.str.contains("time")].reset_index(drop=True)
            rows_b = rows_b[~rows_b.metric.str.contains("time")].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows_a.drop(columns=timing), rows_b.drop(columns=timing),
                                      check_exact=False, rtol=1e-5, atol=1e-9)
    choice, local = ray_run.read_choice(), smoke_run.read_choice()
    assert choice["chosen"] == local["chosen"] and choice["shared"] == local["shared"]
    for model, scores in local["scores"].items():  # to 1e-5, as the metrics above
        assert choice["scores"][model] == pytest.approx(scores, rel=1e-5)


def test_html_report_is_self_contained(smoke_run):
    html = smoke_run.report_html.read_text()
    assert not re.search(r"<(script|img|link)[^>]*(src|href)=\"https?://", html)
    for script in re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S):
        assert not re.search(r"(import|from)\s*[\"']https?://", script)
    assert html.count("data:image/png;base64") >= 4
    for number in _table_numbers(smoke_run):
        assert number in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_html_renders_in_chromium(smoke_run, tmp_path):
    url = smoke_run.report_html.as_uri()
    shot = tmp_path / "shot.png"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout
    for number in _table_numbers(smoke_run):
        assert number in dom
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1200,2000", url],
                   capture_output=True, timeout=120)
    from PIL import Image

    image = Image.open(shot).convert("L")
    low, high = image.getextrema()
    assert high - low > 100  # not blank: dark text on a light page


def test_failing_notebook_is_named_and_kept(tmp_path, corpus_text):
    with pytest.raises(PipelineError, match=r"(?s)03_train.ipynb failed in cell.*partially"):
        run_report("smoke", {"models": ["lstm", "gru"], "pairs": [], "seeds": [0], "lr": 1e9,
                             "tune_space": {}},
                   reports_dir=tmp_path, figures_dir=None, progress=False)
    run = Run(tmp_path / "smoke")
    assert run.executed_notebook("03_train-lstm.ipynb").exists()
    assert list(run.read_steps()) == ["01_explore_data.ipynb"]  # the failed step is not done


def test_a_dead_kernel_is_named_and_says_how_to_resume(tmp_path):
    from charlm.experiment.pipeline import execute

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                        "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import os, signal; os.kill(os.getpid(), "
                                          "signal.SIGKILL)")]
    source = tmp_path / "dies.ipynb"
    nbformat.write(nb, source)
    with pytest.raises(PipelineError, match=r"(?s)kernel running notebook dies.ipynb died.*"
                                            r"run the same command again to resume"):
        execute(source, tmp_path / "out.ipynb", {"x": 2}, progress=False)


def test_unknown_parameter_refused_before_any_work(tmp_path):
    with pytest.raises(ParameterError, match="unknown parameter.*epoch"):
        run_report("smoke", {"epoch": 3}, reports_dir=tmp_path, progress=False)
    assert not (tmp_path / "smoke").exists()


def test_other_parameters_refuse_to_reuse_a_run_folder(smoke_run):
    before = smoke_run.params_file.read_text()
    with pytest.raises(PipelineError, match="other parameters.*epochs: 2 -> 1.*--fresh"):
        run_report("smoke", {"epochs": 1}, reports_dir=smoke_run.root.parent, progress=False)
    assert smoke_run.params_file.read_text() == before


def test_rerun_resumes_the_run_folder(smoke_run, capfd):
    checkpoints = sorted(smoke_run.models_dir.glob("*/*.pt"))
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    run_report("smoke", reports_dir=smoke_run.root.parent, figures_dir=None, progress=False)
    err = capfd.readouterr().err
    assert "resuming the run in" in err and "running" not in err
    assert err.count("is up to date, skipped") == len(smoke_run.read_steps())
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps  # nothing retrained
    assert smoke_run.report_html.exists()


def test_fresh_starts_beside_the_old_run(tmp_path):
    first = choose_folder(tmp_path, "smoke", fresh=False)
    first.root.mkdir()
    (first.root / "keep.txt").write_text("old")
    second = choose_folder(tmp_path, "smoke", fresh=True)
    assert second.root != first.root and second.root.name.startswith("smoke-")
    assert (first.root / "keep.txt").read_text() == "old"


def test_notebook_refuses_undeclared_papermill_parameter(tmp_path):
    namespace = {"run_dir": str(tmp_path), "profile": "smoke", "overrides": {}, "epochs": 3,
                 "Path": object, "In": [], "_": None}
    with pytest.raises(ParameterError, match="unknown notebook parameter.*epochs.*overrides"):
        open_run(namespace, ["run_dir", "profile", "overrides"])
    del namespace["epochs"]
    run, spec = open_run(namespace, ["run_dir", "profile", "overrides"])
    assert spec.profile == "smoke" and run.read_spec() == spec  # opened on its own: recorded
    run2, spec2 = open_run({**namespace, "profile": None, "overrides": None},
                           ["run_dir", "profile", "overrides"])
    assert spec2 == spec  # run by the pipeline: the folder's own run
    # what papermill's -p passes is text: JSON or a Python literal, read as the dict it says
    for text in ('{"epochs": 1}', "{'epochs': 1}"):
        _, spec3 = open_run({**namespace, "overrides": text, "run_dir": str(tmp_path / "t")},
                            ["run_dir", "profile", "overrides"])
        assert spec3.train.epochs == 1
    with pytest.raises(ParameterError, match="not a dict of parameters.*-p overrides"):
        open_run({**namespace, "overrides": "epochs=1"}, ["run_dir", "profile", "overrides"])


def test_papermill_describes_each_notebook_parameter():
    for path in NOTEBOOKS:
        out = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(path)],
                             capture_output=True,
                             text=True, check=True).stdout
        assert "Unknown type" not in out and "overrides: dict (default {})" in out, path.name


def test_what_only_evaluation_generation_or_the_report_read_changes_on_a_trained_run(
        smoke_run, capfd):
    """Last in this module: it leaves the smoke run with other prompts."""
    before = smoke_run.read_steps()
    checkpoints = sorted(smoke_run.models_dir.glob("*/*.pt"))
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    run_report("smoke", {"prompts": ["ROMEO:"], "temperatures": [0.7], "gen_length": 40,
                         "pairs": []},
               reports_dir=smoke_run.root.parent, figures_dir=None, progress=False)
    after = smoke_run.read_steps()
    rerun = sorted(name for name in after if after[name]["finished"] != before[name]["finished"]
                   or after[name]["seconds"] != before[name]["seconds"])
    assert rerun == ["04_evaluate.ipynb", "05_generate.ipynb", "06_report.ipynb"]
    assert "changed: gen_length, pairs, prompts, temperatures" in capfd.readouterr().err
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps  # nothing retrained
    samples = smoke_run.read_samples()
    assert set(samples.prompt) == {"ROMEO:"} and set(samples.temperature) == {0.7}
    assert "ROMEO:" in smoke_run.report_md.read_text()
    assert len(smoke_run.read_metrics()["comparisons"].pipe(lambda c: set(zip(c.a, c.b)))) == 1


def test_a_step_that_starts_unfinishes_every_step_that_reads_its_files():
    from charlm.experiment.pipeline import _dependents, plan

    steps = plan(resolve("smoke", {"models": ["lstm", "gru"], "pairs": []}))
    by_name = {s.name: s for s in steps}
    assert _dependents(steps, by_name["03_train-gru.ipynb"]) == [
        "03_train-gru.ipynb", "04_evaluate.ipynb", "05_generate.ipynb", "06_report.ipynb"]
    assert _dependents(steps, by_name["02_tune.ipynb"]) == [  # a new search: train again
        "02_tune.ipynb", "03_train-lstm.ipynb", "03_train-gru.ipynb", "04_evaluate.ipynb",
        "05_generate.ipynb", "06_report.ipynb"]
    no_search = plan(resolve("smoke", {"models": ["lstm", "gru"], "pairs": [],
                                       "tune_space": {}}))
    assert "02_tune.ipynb" not in {s.name for s in no_search}
    assert _dependents(steps, by_name["05_generate.ipynb"]) == ["05_generate.ipynb",
                                                                "06_report.ipynb"]


def test_a_notebook_cell_run_again_and_a_notebook_on_its_own(tmp_path):
    namespace = {"run_dir": str(tmp_path), "profile": "smoke", "overrides": {}}
    run, spec = open_run(namespace, ["run_dir", "profile", "overrides"])
    namespace.update(run=run, spec=spec, text="made by the notebook")
    open_run(namespace, ["run_dir", "profile", "overrides"])  # the same cell, run again
    run.record_step("01_explore_data.ipynb", {}, 1.0)
    open_run({**namespace, "overrides": {"prompts": ["ROMEO:"]}}, ["run_dir", "profile",
                                                                   "overrides"])
    assert run.read_steps() == {}  # other parameters: the pipeline trusts no earlier step
