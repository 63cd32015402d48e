"""The whole notebook chain through papermill on the smoke profile, read back from its files."""

import json
import re
import shutil
import subprocess

import nbformat
import pytest

from charlm.data import PROJECT_ROOT
from charlm.pipeline import PipelineError, run_report
from charlm.profiles import resolve

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def test_source_notebooks_carry_no_outputs():
    assert len(NOTEBOOKS) == 5
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged parameters"
        assert "def " not in "".join(c.source for c in code), f"{path.name} defines functions"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, corpus_text):
    reports = tmp_path_factory.mktemp("reports")
    run_dir = run_report("smoke", reports_dir=reports, figures_dir=reports / "figures",
                         progress=False)
    return run_dir


def test_chain_writes_everything(smoke_run):
    params = resolve("smoke")
    for model in params["models"]:
        for seed in params["seeds"]:
            assert (smoke_run / "models" / f"{model}-s{seed}" / "checkpoint.pt").exists()
    for name in ("01_explore_data", "03_evaluate", "04_generate", "05_report"):
        assert (smoke_run / "notebooks" / f"{name}.ipynb").exists()
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert {r["model"] for r in metrics["runs"]} == set(params["models"])
    assert [r["Metric"] for r in metrics["table"]][:2] == ["Final Training Loss",
                                                           "Final Test Loss"]
    assert (smoke_run / "params.json").exists() and (smoke_run / "environment.json").exists()
    assert (smoke_run.parent / "figures" / "loss_curves.png").exists()


def _table_numbers(metrics) -> list[str]:
    return [row[m.upper()] for row in metrics["table"] for m in ("lstm", "gru")]


def test_markdown_report(smoke_run):
    md = (smoke_run / "report.md").read_text()
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    for heading in ("## Dataset", "## Model Architectures", "## Training Configuration",
                    "## Results", "## Text Generation Examples", "## Analysis", "## Conclusion"):
        assert heading in md
    for number in _table_numbers(metrics):
        assert number in md
    samples = json.loads((smoke_run / "samples.json").read_text())
    assert samples[0]["text"] in md
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (smoke_run / image).exists()


def test_html_report_is_self_contained(smoke_run):
    html = (smoke_run / "report.html").read_text()
    assert not re.search(r"<(script|img|link)[^>]*(src|href)=\"https?://", html)
    for script in re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S):
        assert not re.search(r"(import|from)\s*[\"']https?://", script)
    assert html.count("data:image/png;base64") >= 4
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    for number in _table_numbers(metrics):
        assert number in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_html_renders_in_chromium(smoke_run, tmp_path):
    url = (smoke_run / "report.html").as_uri()
    shot = tmp_path / "shot.png"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    for number in _table_numbers(metrics):
        assert number in dom
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1200,2000", url],
                   capture_output=True, timeout=120)
    from PIL import Image

    image = Image.open(shot).convert("L")
    low, high = image.getextrema()
    assert high - low > 100  # not blank: dark text on a light page


def test_failing_notebook_is_named_and_kept(tmp_path, corpus_text):
    with pytest.raises(PipelineError, match=r"(?s)02_train.ipynb failed in cell.*partially"):
        run_report("smoke", {"models": ["lstm", "gru"], "pairs": [], "seeds": [0], "lr": 1e9},
                   reports_dir=tmp_path, figures_dir=None, progress=False)
    assert (tmp_path / "smoke" / "notebooks" / "02_train-lstm.ipynb").exists()
    assert (tmp_path / "smoke" / "notebooks" / "01_explore_data.ipynb").exists()


def test_unknown_parameter_refused_before_any_work(tmp_path):
    with pytest.raises(Exception, match="unknown parameter.*epoch"):
        run_report("smoke", {"epoch": 3}, reports_dir=tmp_path, progress=False)
    assert not (tmp_path / "smoke").exists()


def test_other_parameters_refuse_to_reuse_a_run_folder(smoke_run):
    with pytest.raises(PipelineError, match="other parameters.*--fresh"):
        run_report("smoke", {"epochs": 1}, reports_dir=smoke_run.parent, progress=False)


def test_rerun_resumes_the_run_folder(smoke_run, capfd):
    checkpoints = sorted((smoke_run / "models").glob("*/checkpoint.pt"))
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    run_report("smoke", reports_dir=smoke_run.parent, figures_dir=None, progress=False)
    assert "resuming the run in" in capfd.readouterr().err
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps  # nothing retrained
    assert (smoke_run / "report.html").exists()


def test_fresh_starts_beside_the_old_run(tmp_path):
    from charlm.pipeline import prepare_run_dir

    params = resolve("smoke")
    first = prepare_run_dir(tmp_path, "smoke", params, fresh=False)
    (first / "keep.txt").write_text("old")
    second = prepare_run_dir(tmp_path, "smoke", params, fresh=True)
    assert second != first and second.name.startswith("smoke-")
    assert (first / "keep.txt").read_text() == "old"


def test_notebook_refuses_undeclared_papermill_parameter():
    from charlm.errors import ParameterError
    from charlm.profiles import notebook_params

    namespace = {"run_dir": "r", "profile": "smoke", "overrides": {}, "epochs": 3,
                 "Path": object, "In": [], "_": None}
    with pytest.raises(ParameterError, match="unknown notebook parameter.*epochs.*overrides"):
        notebook_params(namespace, ["run_dir", "profile", "overrides"])
    del namespace["epochs"]
    assert notebook_params(namespace, ["run_dir", "profile", "overrides"])["profile"] == "smoke"
