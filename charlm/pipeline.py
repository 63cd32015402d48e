"""The notebook chain, executed by papermill into a run folder, exported to HTML and Markdown."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from charlm.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from charlm.data import PROJECT_ROOT
from charlm.environment import describe_environment
from charlm.errors import CharlmError
from charlm.profiles import resolve

NOTEBOOKS = PROJECT_ROOT / "notebooks"
SEED_HOURS_ON_CPU = 2.6  # measured: 30 faithful epochs of one model on a 2-core CPU


class PipelineError(CharlmError):
    """A notebook of the chain failed, or the run folder cannot be used."""


def plan(params: dict) -> list[tuple[str, str, dict]]:
    """(source notebook, executed copy's name, extra parameters) in run order."""
    steps = [("01_explore_data.ipynb", "01_explore_data.ipynb", {})]
    for model in params["models"]:
        steps.append(("02_train.ipynb", f"02_train-{model}.ipynb", {"cell": model}))
    steps += [(n, n, {}) for n in ("03_evaluate.ipynb", "04_generate.ipynb", "05_report.ipynb")]
    return steps


def prepare_run_dir(reports_dir: Path, name: str, params: dict, fresh: bool) -> Path:
    """The run folder: new, or resumed when it holds the same parameters; never overwritten."""
    import json

    run_dir = reports_dir / name
    saved = run_dir / "params.json"
    if run_dir.exists() and fresh:
        run_dir = reports_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        print(
            f"charlm: --fresh: starting a new run in {run_dir}; the old one is kept.",
            file=sys.stderr,
        )
    elif saved.exists():
        old = json.loads(saved.read_text())
        if old != json.loads(json.dumps(params)):
            diff = sorted(k for k in set(old) | set(params) if old.get(k) != params.get(k))
            raise PipelineError(
                f"The run folder {run_dir} holds a run with other parameters ({', '.join(diff)})."
                " Use --fresh to start a new run beside it, or --name for another folder."
            )
        print(
            f"charlm: resuming the run in {run_dir}: finished models are kept, unfinished "
            "ones continue after their last finished epoch (--fresh starts anew).",
            file=sys.stderr,
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "params.json", params)
    atomic_write_json(run_dir / "environment.json", describe_environment())
    return run_dir


def execute(source: Path, output: Path, parameters: dict, progress: bool = True) -> None:
    """Run one notebook with papermill; a failure names the notebook and the failing cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(
            str(source),
            str(output),
            parameters=parameters,
            cwd=str(output.parent),
            kernel_name="python3",
            progress_bar=progress,
            report_mode=False,
        )
    except PapermillExecutionError as exc:
        raise PipelineError(
            f"notebook {source.name} failed in cell {exc.exec_count} with {exc.ename}: "
            f"{exc.evalue}\nThe partially executed notebook is {output}; fix the cause and run "
            "the same command again to resume."
        ) from None


def export_report(run_dir: Path) -> tuple[Path, Path]:
    """report.html (code hidden, figures embedded, no external links) and report.md + PNGs."""
    import nbformat
    from nbconvert import HTMLExporter, MarkdownExporter

    nb = nbformat.read(run_dir / "notebooks" / "05_report.ipynb", as_version=4)
    html_exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_markdown=True,  # the notebook's own title cell; the report is its outputs
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    html, _ = html_exporter.from_notebook_node(nb)
    html_path = atomic_write_text(run_dir / "report.html", strip_external_scripts(html))
    md_exporter = MarkdownExporter(exclude_input=True, exclude_markdown=True)
    md, resources = md_exporter.from_notebook_node(
        nb, resources={"output_files_dir": "report_files"}
    )
    for name, data in resources.get("outputs", {}).items():
        atomic_write_bytes(run_dir / name, data)
    md_path = atomic_write_text(run_dir / "report.md", md)
    return html_path, md_path


def strip_external_scripts(html: str) -> str:
    """Drop every <script> that loads code from the network (MathJax, mermaid, require.js).

    The report is tables, text and embedded PNGs: it needs none of them, and must open offline.
    """
    import re

    def keep(match: re.Match) -> str:
        external = re.search(r"(src=|import|from)\s*[\"']https?://", match.group(0))
        return "" if external else match.group(0)

    return re.sub(r"<script\b[^>]*>.*?</script>", keep, html, flags=re.S | re.I)


def copy_figures(run_dir: Path, figures_dir: Path) -> None:
    figures_dir.mkdir(parents=True, exist_ok=True)
    for png in (run_dir / "figures").glob("*.png"):
        shutil.copy2(png, figures_dir / png.name)


def run_report(
    profile: str = "auto",
    overrides: dict | None = None,
    name: str | None = None,
    reports_dir: str | Path = "reports",
    fresh: bool = False,
    figures_dir: str | Path | None = PROJECT_ROOT / "figures",
    progress: bool = True,
) -> Path:
    """Execute the whole chain for a profile; returns the run folder."""
    params = resolve(profile, overrides)
    if params["profile"] == "seed" and params.get("device") != "cuda":
        import torch

        if not torch.cuda.is_available():
            hours = SEED_HOURS_ON_CPU * len(params["models"]) * len(params["seeds"])
            print(
                f"charlm: profile 'seed' on a CPU: about {hours:.0f} hours of training. "
                "Use --profile fast for the reference's quality in minutes.",
                file=sys.stderr,
            )
    run_dir = prepare_run_dir(
        Path(reports_dir).resolve(), name or params["profile"], params, fresh
    )
    (run_dir / "notebooks").mkdir(exist_ok=True)
    base = {
        "run_dir": str(run_dir),
        "profile": params["profile"],
        "overrides": dict(overrides or {}),
    }
    for source, output, extra in plan(params):
        started = time.perf_counter()
        print(f"charlm: running {output} ...", file=sys.stderr, flush=True)
        execute(NOTEBOOKS / source, run_dir / "notebooks" / output, {**base, **extra}, progress)
        print(f"charlm: {output} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    html, md = export_report(run_dir)
    if figures_dir is not None:
        copy_figures(run_dir, Path(figures_dir))
    print(f"charlm: report written: {html} and {md}", file=sys.stderr)
    return run_dir
