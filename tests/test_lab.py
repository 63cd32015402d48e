"""The notebooks as a JupyterLab user meets them: opened from notebooks/, run in order with
their defaults; prompts checked against the corpus before any training."""

import shutil

import nbformat
import papermill as pm
import pytest

from charlm.errors import PipelineError, VocabularyError
from charlm.experiment.pipeline import run_report
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.experiment.steps import evaluate_run
from charlm.generate import fit_prompt
from charlm.project import NOTEBOOKS_DIR
from charlm.reference import PROMPT

LACKING = "jqxzJQXZ"  # the default prompt's j, q, x, z (and their capitals)


@pytest.fixture(scope="module")
def corpus_lacking(tmp_path_factory, corpus_text):
    """Tiny Shakespeare without j, q, x and z: a text the default prompt does not fit."""
    path = tmp_path_factory.mktemp("corpus") / "shakespeare-without-jqxz.txt"
    path.write_text(corpus_text.translate({ord(c): None for c in LACKING}))
    return path


def test_the_default_prompt_fits_the_corpus():
    chars = set(PROMPT) - set("jqxz")
    prompt, note = fit_prompt(PROMPT, chars)
    assert prompt == "The uick brown fo umps over the lay dog"
    assert "'j', 'q', 'x', 'z'" in note
    assert fit_prompt(PROMPT, set(PROMPT)) == (PROMPT, "")
    assert fit_prompt("ROMEO:", set("ROME")) == ("ROMEO:", "")  # the user's own: not changed
    first, note = fit_prompt(PROMPT, set("ab \n"), "\n  ab ba\nrest")
    assert first == "ab ba" and "first line" in note


def test_an_explicit_prompt_the_corpus_lacks_is_refused_before_any_work(tmp_path,
                                                                         corpus_lacking):
    with pytest.raises(VocabularyError, match=r"prompt 'quiz' holds 'q', 'z'.*prompts="):
        run_report("smoke", {"corpus": str(corpus_lacking), "prompts": ["quiz"]},
                   reports_dir=tmp_path, figures_dir=None, progress=False)
    assert not (tmp_path / "smoke").exists()


def test_a_notebook_without_its_inputs_names_the_one_that_writes_them(tmp_path):
    run = Run(tmp_path / "lab")
    with pytest.raises(PipelineError, match="params.json does not exist"):
        run.read_spec()
    spec = resolve("smoke")
    run.write_spec(spec)
    with pytest.raises(PipelineError, match=r"checkpoint.pt does not exist yet: notebook "
                                            r"03_train \(model='lstm'"):
        evaluate_run(run, spec)
    for read, producer in [(run.read_metrics, "04_evaluate"), (run.read_samples, "05_generate"),
                           (run.read_data_overview, "01_explore_data"),
                           (run.read_trials, "02_tune")]:
        with pytest.raises(PipelineError, match=f"notebook {producer} writes it"):
            read()


@pytest.mark.slow
def test_the_notebooks_run_in_order_with_their_defaults(tmp_path, corpus_lacking, monkeypatch):
    """What "Run All" in each notebook, 01 to 06, does in JupyterLab; on a corpus that lacks
    some characters of the default prompt."""
    monkeypatch.setenv("CHARLM_DATA", str(corpus_lacking))
    lab = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, lab)
    for source in sorted(lab.glob("*.ipynb")):
        pm.execute_notebook(str(source), str(source), cwd=str(lab), kernel_name="python3",
                            progress_bar=False)
    run = Run(tmp_path / "reports" / "lab")
    spec = run.read_spec()
    for model in spec.run.models:  # 03 trained every model, not only the first
        for seed in spec.run.seeds:
            assert run.model(model, seed).checkpoint.exists(), (model, seed)
        assert run.figures.loss_curves_of(model).exists()
    samples = run.read_samples()
    assert set(samples.prompt) == {"The uick brown fo umps over the lay dog"}
    report = nbformat.read(lab / "06_report.ipynb", as_version=4)
    shown = "".join(c.source if c.cell_type == "markdown" else "".join(
        str(o.get("data", {}).get("text/markdown", "")) for o in c.get("outputs", []))
        for c in report.cells)
    assert "## Results" in shown and "without 'j', 'q', 'x', 'z'" in shown


@pytest.mark.slow
@pytest.mark.parametrize("how", [["-p", "overrides", '{"max_chars": 20000, "seq_len": 10}'],
                                 ["-y", "overrides: {max_chars: 20000, seq_len: 10}"]])
def test_papermill_passes_overrides_as_the_readme_says(tmp_path, corpus_text, how):
    """The papermill command line itself: -p gives the notebook text, -y a dict."""
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    source = NOTEBOOKS_DIR / "01_explore_data.ipynb"
    subprocess.run([sys.executable, "-m", "papermill", str(source), str(tmp_path / "out.ipynb"),
                    "-p", "run_dir", str(run_dir), "-p", "profile", "smoke", *how,
                    "--cwd", str(tmp_path)], check=True, capture_output=True)
    spec = Run(run_dir).read_spec()
    assert (spec.data.max_chars, spec.data.seq_len) == (20000, 10)
    assert Run(run_dir).read_data_overview() is not None
