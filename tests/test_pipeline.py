"""The whole notebook chain through papermill on the smoke profile, read back from its files."""

import re
import shutil
import subprocess
import sys

import nbformat
import pandas as pd
import pytest

from charlm.errors import ParameterError, PipelineError
from charlm.experiment import pipeline
from charlm.experiment.notebook import open_run
from charlm.experiment.pipeline import choose_folder, run_report
from charlm.experiment.profiles import read_parameters_file, resolve
from charlm.experiment.run import Run
from charlm.experiment.steps import evaluate_run
from charlm.project import NOTEBOOKS_DIR
from charlm.report import sections as report
from charlm.report.tables import comparison_table
from charlm.stats import held_out, ngram
from charlm.stats import intervals as stats
from charlm.stats import verdicts as analysis

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def _as_committed(path):
    """The notebook as git would commit it (through the checkout's filters: nbstripout once
    `make setup` set it up), or as it is outside a checkout."""
    git = ["git", "-C", str(path.parent)]
    if shutil.which("git") is None or subprocess.run([*git, "rev-parse"],
                                                     capture_output=True).returncode:
        return nbformat.read(path, as_version=4)
    blob = subprocess.run([*git, "hash-object", "-w", f"--path={path.name}", path.name],
                          capture_output=True, text=True, check=True).stdout.strip()
    text = subprocess.run([*git, "cat-file", "-p", blob], capture_output=True, text=True,
                          check=True).stdout
    return nbformat.reads(text, as_version=4)


def test_source_notebooks_carry_no_outputs():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]
    for path in NOTEBOOKS:
        nb = _as_committed(path)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged parameters"
        assert "def " not in "".join(c.source for c in code), f"{path.name} defines functions"


@pytest.mark.skipif(not (shutil.which("git") and shutil.which("make")), reason="git and make")
def test_a_notebook_saved_with_outputs_is_committed_without(tmp_path):
    """JupyterLab's "Run All" and save: git's filter (make setup) strips the outputs, keeps
    the cell ids and the parameters tag, and git sees the notebook unchanged."""
    from charlm.project import PROJECT_ROOT

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True,
                              text=True, check=True).stdout

    git("init", "-q")
    shutil.copy(PROJECT_ROOT / ".gitattributes", tmp_path)
    shutil.copy(NOTEBOOKS_DIR / "03_train.ipynb", tmp_path)
    subprocess.run(["make", "-s", "-C", str(tmp_path), "-f", str(PROJECT_ROOT / "Makefile"),
                    "strip-filter", f"PY={sys.executable}"], check=True)
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clean")
    nb = nbformat.read(tmp_path / "03_train.ipynb", as_version=4)
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="epoch 1\n")]
        cell.execution_count = 1
    nbformat.write(nb, tmp_path / "03_train.ipynb")
    assert git("diff") == ""  # saved with outputs: git sees no change,
    git("add", ".")
    assert git("status", "--porcelain") == ""  # and there is nothing to commit
    committed = nbformat.reads(git("show", "HEAD:03_train.ipynb"), as_version=4)
    assert [c.id for c in committed.cells] == [c.id for c in nb.cells]
    assert not any(c.get("outputs") for c in committed.cells)
    assert any("parameters" in c.metadata.get("tags", []) for c in committed.cells)


@pytest.mark.slow
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


@pytest.mark.slow
def test_metrics_hold_every_comparison(smoke_run):
    spec = smoke_run.read_spec()
    c = smoke_run.read_metrics()["comparisons"]
    pairs = list(dict.fromkeys(zip(c.a, c.b)))
    assert pairs == spec.comparisons() and pairs[0] == ("lstm", "gru")
    assert len(c) == len(pairs) * len(analysis.METRICS)
    assert c["main"].tolist() == [True] * 5 + [False] * (len(c) - 5)
    assert set(c.method.dropna()) == {"paired t over seeds", "exact"}  # two seeds each


@pytest.mark.slow
def test_evaluation_bootstraps_each_run_once_and_the_report_never(smoke_run, monkeypatch):
    calls = []
    real = analysis.test_set_interval
    monkeypatch.setattr(analysis, "test_set_interval", lambda *a, **k: calls.append(1) or real(
        *a, **k))
    spec = smoke_run.read_spec()
    evaluate_run(smoke_run, spec)
    assert len(calls) == len(spec.run.models) * len(spec.run.seeds)  # each run's own interval

    def forbidden(*args, **kwargs):
        raise AssertionError("the report computed a statistic")

    for module in (stats, analysis, ngram, held_out):
        for name in ("block_bootstrap", "block_bootstrap_unpaired", "paired_t", "mean_ci", "holm",
                     "compare", "comparisons", "summary_over_seeds", "with_test_loss_intervals",
                     "held_out_text", "split_gaps", "window_losses", "choose_order",
                     "iid_interval", "test_set_interval", "sign_flip_p", "against_reference",
                     "reference_fits", "difference_noise"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, forbidden)
    data = report.load(smoke_run)
    for section in (report.title, report.dataset, report.architectures, report.tuning,
                    report.training_configuration, report.performance, report.over_seeds,
                    report.differences, report.runs, report.samples, report.analysis,
                    report.held_out, report.conclusion):
        assert section(data).strip()


@pytest.mark.slow
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
    # the verdicts' protocol, in the report: the primary endpoint marked, a sign-flip p beside
    # every t-test p, no p for training time (its floor decides), never "matches" unproven
    assert "Final Test Loss (the primary endpoint)" in text and "| primary endpoint |" in text
    table = [line for line in text.splitlines() if line.startswith("| LSTM - ")]
    assert table and all(line.count("n/a (floor)") == 2 for line in table
                         if "| Training Time |" in line)
    for line in table:
        cells = [c.strip() for c in line.split("|")]
        t, flip = cells[6], cells[7]
        assert (t == "n/a") == (flip == "n/a") or t.startswith("n/a"), line
    assert "matches the reference" not in text
    # one seed: no test-loss or accuracy winner, and the reason
    spec = smoke_run.read_spec()
    one = resolve("smoke", {"seeds": [0]})
    c = evaluate_run(smoke_run, one).comparisons.set_index(["a", "b", "metric"])
    for metric in ("test_loss", "test_accuracy"):
        row = c.loc[("lstm", "gru", metric)]
        assert pd.isna(row.winner) and row.verdict == "not established: 1 seed, a verdict needs 3"
        assert row.method.startswith("iid windows") and row.low < row.high  # a random split
    assert spec == smoke_run.read_spec()


def _table_numbers(run: Run) -> list[str]:
    m = run.read_metrics()
    table = comparison_table(m["runs"], m["comparisons"])
    return [entry for m in ("LSTM", "GRU") for entry in table[m]]


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_report_tells_the_search(smoke_run):
    md, choice = smoke_run.report_md.read_text(), smoke_run.read_choice()
    assert "## Tuning" in md and "scored on the validation windows only" in md
    assert smoke_run.figures.tuning.exists()
    runs = smoke_run.read_metrics()["runs"]
    for model, setting in choice["chosen"].items():  # each model trained at its own choice
        assert (runs[runs.model == model]["lr"] == setting["lr"]).all()
    assert "shared setting" in md and "tends to flatter it" in md  # the choice, rechecked


@pytest.mark.slow
def test_executor_ray_gives_the_numbers_of_a_local_run(smoke_run, tmp_path, capfd):
    pytest.importorskip("ray", reason="needs the extra: pip install -e '.[ray]'")
    ray_run = run_report("smoke", {"executor": "ray"}, reports_dir=tmp_path, figures_dir=None,
                         progress=False)
    assert "started a local Ray instance" in capfd.readouterr().err
    a, b = smoke_run.read_metrics(), ray_run.read_metrics()
    assert list(a) == list(b)
    # Every number but the measured times, to float32's rounding: the same kernels in another
    # process can round one value a unit differently (MKL's results depend on the memory
    # alignment), and a spread over seeds turns that 1e-7 into 1e-5 of itself: hence atol.
    for key in a:
        timing = [c for c in a[key] if "time" in c or "seconds" in c]
        rows_a, rows_b = a[key], b[key]
        if "metric" in rows_a:
            rows_a = rows_a[~rows_a.metric.str.contains("time")].reset_index(drop=True)
            rows_b = rows_b[~rows_b.metric.str.contains("time")].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows_a.drop(columns=timing), rows_b.drop(columns=timing),
                                      check_exact=False, rtol=1e-5, atol=1e-6)
    choice, local = ray_run.read_choice(), smoke_run.read_choice()
    assert choice["chosen"] == local["chosen"] and choice["shared"] == local["shared"]
    for model, scores in local["scores"].items():  # to 1e-5, as the metrics above
        assert choice["scores"][model] == pytest.approx(scores, rel=1e-5)


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_failing_notebook_is_named_and_kept(tmp_path, corpus_text):
    with pytest.raises(PipelineError, match=r"(?s)03_train.ipynb failed in cell.*partially"):
        run_report("smoke", {"models": ["lstm", "gru"], "pairs": [], "seeds": [0], "lr": 1e9,
                             "tune_space": {}},
                   reports_dir=tmp_path, figures_dir=None, progress=False)
    run = Run(tmp_path / "smoke")
    assert run.executed_notebook("03_train-lstm.ipynb").exists()
    assert list(run.read_steps()) == ["01_explore_data.ipynb"]  # the failed step is not done


@pytest.mark.slow
def test_a_dead_kernel_is_named_and_says_how_to_resume(tmp_path):
    from charlm.experiment.execute import execute

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


def test_charlm_lines_from_a_kernel_reach_the_terminal(tmp_path, capfd):
    from charlm.experiment.execute import execute

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                        "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import sys\n"
                    "print('charlm: trial lstm-lr0.1-s0 diverged', file=sys.stderr)\n"
                    "print('a kernel warning', file=sys.stderr)\n"
                    "sys.stderr.write('progress 50%\\rprogress 100%\\n')\n"
                    "sys.stderr.write('\\repoch 1:  40%|####  | 4/10')\n"  # a bar, unfinished
                    "print('charlm: resuming after epoch 1', file=sys.stderr)\n"
                    "print('charlm: said on stdout is not forwarded')")]
    source = tmp_path / "talks.ipynb"
    nbformat.write(nb, source)
    execute(source, tmp_path / "out.ipynb", {"x": 2}, progress=False)
    err = capfd.readouterr().err
    assert "charlm: trial lstm-lr0.1-s0 diverged\n" in err
    assert "\ncharlm: resuming after epoch 1\n" in err  # after the bar's unfinished line
    assert "a kernel warning" not in err and "progress" not in err and "stdout" not in err


def test_unknown_parameter_refused_before_any_work(tmp_path):
    with pytest.raises(ParameterError, match="unknown parameter.*epoch"):
        run_report("smoke", {"epoch": 3}, reports_dir=tmp_path, progress=False)
    assert not (tmp_path / "smoke").exists()


@pytest.mark.slow
def test_other_parameters_refuse_to_reuse_a_run_folder(smoke_run):
    before = smoke_run.params_file.read_text()
    with pytest.raises(PipelineError, match="other parameters.*epochs: 2 -> 1.*--fresh"):
        run_report("smoke", {"epochs": 1}, reports_dir=smoke_run.root.parent, progress=False)
    assert smoke_run.params_file.read_text() == before


@pytest.mark.slow
def test_rerun_resumes_the_run_folder(smoke_run, capfd):
    checkpoints = sorted(smoke_run.models_dir.glob("*/*.pt"))
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    run_report("smoke", reports_dir=smoke_run.root.parent, figures_dir=None, progress=False)
    err = capfd.readouterr().err
    assert "resuming the run in" in err and "running" not in err
    assert err.count("is up to date, skipped") == len(smoke_run.read_steps())
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps  # nothing retrained
    assert smoke_run.report_html.exists()


@pytest.mark.slow
def test_a_parameters_file_is_kept_in_the_run_folder(smoke_run, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("# nothing changed: the run resumes\nepochs: 2\n", encoding="utf-8")
    run_report("smoke", read_parameters_file(params), reports_dir=smoke_run.root.parent,
               figures_dir=None, progress=False, parameters_file=params)
    assert (smoke_run.root / "parameters_file.yaml").read_text() == params.read_text()
    run_report("smoke", reports_dir=smoke_run.root.parent, figures_dir=None, progress=False)
    assert not (smoke_run.root / "parameters_file.yaml").exists()  # it would say other values


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


@pytest.mark.slow
def test_papermill_describes_each_notebook_parameter():
    for path in NOTEBOOKS:
        out = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(path)],
                             capture_output=True,
                             text=True, check=True).stdout
        assert "Unknown type" not in out and "overrides: dict (default {})" in out, path.name


# The smoke run's numbers, pinned (as recommenders pins its notebooks' metrics): made by charlm
# before the layout of issue 19 (commit b5fa071), so a refactor that changes a number fails here.
# rel=1e-3 allows the float drift of another CPU's kernels; any change of data, order or maths
# moves these by far more.
SMOKE = {  # (model, seed): (test loss, test accuracy, training loss)
    ("lstm", 0): (2.739160169585011, 0.22948974487243623, 2.9968984127044678),
    ("lstm", 1): (3.0087396207826025, 0.19984992496248125, 3.1905741691589355),
    ("gru", 0): (2.5415782622355647, 0.2982741370685343, 2.8358538150787354),
    ("gru", 1): (2.4754333752615114, 0.2990245122561281, 2.773069143295288),
    ("gru-h149", 0): (2.5353570913876395, 0.29552276138069034, 2.845141649246216),
    ("gru-h149", 1): (2.4028025027047684, 0.3265382691345673, 2.6493687629699707),
    ("rnn", 0): (3.1084518461688986, 0.1848424212106053, 3.2171833515167236),
    ("rnn", 1): (2.6145997617958394, 0.28989494747373684, 2.9845166206359863),
    ("lstm@contiguous", 0): (2.717374114109098, 0.2488744372186093, 2.9715890884399414),
    ("lstm@contiguous", 1): (3.301812085719512, 0.15220110055027514, 3.3146555423736572),
}


@pytest.mark.slow
def test_the_smoke_runs_numbers_are_pinned(smoke_run):
    runs = smoke_run.read_runs().set_index(["model", "seed"])
    assert sorted(runs.index) == sorted(SMOKE)
    for key, expected in SMOKE.items():
        got = tuple(runs.loc[key, ["test_loss", "test_accuracy", "train_loss"]])
        assert got == pytest.approx(expected, rel=1e-3), key
    chosen = {m: s["lr"] for m, s in smoke_run.read_choice()["chosen"].items()}
    assert chosen == {"lstm": 0.03, "gru": 0.01, "gru-h149": 0.01, "rnn": 0.01,
                      "lstm@contiguous": 0.03}
    main = smoke_run.read_metrics()["comparisons"].query("a == 'lstm' and b == 'gru'")
    test_loss = main.set_index("metric").loc["test_loss"]
    assert (test_loss.estimate, test_loss.p_value) == pytest.approx((0.365444, 0.274123),
                                                                    rel=1e-3)
    floor = smoke_run.read_metrics()["held_out"].set_index(["scorer", "split"])
    assert floor.loc[("4-gram counts", "random"), "test_loss"] == pytest.approx(1.8205241)


def _checkpoint_stamps(run: Run) -> list[int]:
    return [p.stat().st_mtime_ns for p in sorted(run.models_dir.glob("*/checkpoint.pt"))]


@pytest.fixture
def smoke_copy(smoke_run, tmp_path) -> Run:
    """A copy of the finished smoke run, to change without touching the shared one."""
    return Run(shutil.copytree(smoke_run.root, tmp_path / "reports" / "smoke"))


def _rerun(run: Run, notebooks, monkeypatch) -> list[str]:
    """The smoke run again with these notebooks; the steps it executed."""
    monkeypatch.setattr(pipeline, "NOTEBOOKS_DIR", notebooks)
    before = run.read_steps()
    run_report("smoke", reports_dir=run.root.parent, figures_dir=None, progress=False)
    after = run.read_steps()
    return sorted(n for n in after if after[n]["finished"] != before.get(n, {}).get("finished")
                  or after[n]["seconds"] != before[n]["seconds"])


def _edited_copy(tmp_path, name: str, cell: str):
    """A copy of the notebooks with a markdown cell appended to notebook `name`."""
    folder = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, folder)
    nb = nbformat.read(folder / name, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(cell))
    nbformat.write(nb, folder / name)
    return folder


@pytest.mark.slow
def test_an_edited_report_notebook_reruns_the_report_only(smoke_copy, tmp_path, monkeypatch,
                                                          capfd):
    stamps = _checkpoint_stamps(smoke_copy)
    sentence = "A sentence added to the report's notebook."
    edited = _edited_copy(tmp_path / "a", "06_report.ipynb", sentence)
    assert _rerun(smoke_copy, edited, monkeypatch) == ["06_report.ipynb"]
    assert "running 06_report.ipynb (its notebook changed)" in capfd.readouterr().err
    assert sentence in smoke_copy.report_md.read_text()
    assert sentence in smoke_copy.report_html.read_text()
    assert _checkpoint_stamps(smoke_copy) == stamps


@pytest.mark.slow
def test_an_edited_training_notebook_reruns_it_and_every_step_after(smoke_copy, tmp_path,
                                                                    monkeypatch):
    stamps = _checkpoint_stamps(smoke_copy)
    edited = _edited_copy(tmp_path / "b", "03_train.ipynb", "Trained again?")
    rerun = _rerun(smoke_copy, edited, monkeypatch)
    assert rerun == sorted([*(f"03_train-{m}.ipynb" for m in smoke_copy.read_spec().run.models),
                            "04_evaluate.ipynb", "05_generate.ipynb", "06_report.ipynb"])
    assert _checkpoint_stamps(smoke_copy) == stamps  # every model was trained already


@pytest.mark.slow
def test_changed_charlm_code_reruns_all_but_training_and_says_so(smoke_copy, monkeypatch, capfd):
    stamps = _checkpoint_stamps(smoke_copy)
    code = pipeline.code_record()
    monkeypatch.setattr(pipeline, "code_record", lambda: {**code, "code_hash": "edited"})
    rerun = _rerun(smoke_copy, NOTEBOOKS_DIR, monkeypatch)
    assert rerun == ["01_explore_data.ipynb", "04_evaluate.ipynb", "05_generate.ipynb",
                     "06_report.ipynb"]
    err = capfd.readouterr().err
    assert f"03_train-lstm.ipynb: trained with charlm {code['git_commit']}" in err
    assert "the trained models are kept (--fresh retrains)" in err
    assert _checkpoint_stamps(smoke_copy) == stamps
    record = smoke_copy.read_steps()["04_evaluate.ipynb"]
    assert record["code"]["code_hash"] == "edited" and len(record["notebook"]) == 16


@pytest.mark.slow
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
