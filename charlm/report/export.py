"""Pages exported through charlm's nbconvert template: the run's report (the executed notebook
06) and `charlm compare`'s comparison, each one self-contained HTML file and Markdown.

The HTML comes from templates/charlm_report: JupyterLab's lab template without the blocks that
load scripts from the network and with a stylesheet of its own (6 KB) in place of JupyterLab's
(270 KB), plus a table of contents, a dark theme that follows the reader's system (with a button
to switch it) and each figure's alt text. The page opens offline because nothing external is
ever written into it, and it weighs little more than its figures. Code is never shown; the
notebook's markdown cells (its fixed prose and headings) are, but those tagged `notebook-only`
(the notebook's own title cell, notes for a reader in JupyterLab).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from pathlib import Path

import nbformat
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter, MarkdownExporter
from nbconvert.filters import markdown2html_mistune
from traitlets.config import Config

from charlm.atomic import atomic_write_bytes, atomic_write_text
from charlm.experiment.run import Run

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "charlm_report"
NOTEBOOK_ONLY = "notebook-only"  # a markdown cell for JupyterLab readers, not for the report


def _config() -> Config:
    return Config({
        # the page shows no highlighted code: the lab template's pygments stylesheet is unused
        "CSSHTMLHeaderPreprocessor": {"enabled": False},
        "TagRemovePreprocessor": {"enabled": True, "remove_cell_tags": [NOTEBOOK_ONLY]},
    })


def export_report(run: Run, notebook) -> None:
    """The report as HTML (code hidden, figures embedded, nothing loaded from the network) and
    Markdown. notebook: the executed report notebook (a path)."""
    nb = nbformat.read(notebook, as_version=4)
    atomic_write_text(run.report_html, report_html(nb))
    md, files = report_markdown(nb, run.report_files_dir)
    for name, data in files.items():
        atomic_write_bytes(run.root / name, data)
    atomic_write_text(run.report_md, md)


def report_markdown(nb, files_dir: str) -> tuple[str, dict[str, bytes]]:
    """The notebook as Markdown (outputs and kept markdown cells), and its figures' files by
    their path (under files_dir), which the Markdown links."""
    exporter = MarkdownExporter(config=_config(), exclude_input=True)
    md, resources = exporter.from_notebook_node(nb, resources={"output_files_dir": files_dir})
    return md, resources.get("outputs", {})


class ReportExporter(HTMLExporter):
    """charlm's report page as an nbconvert exporter, registered under the name `charlm_report`
    (pyproject's nbconvert.exporters entry point): `jupyter nbconvert --to charlm_report
    06_report.ipynb`, or JupyterLab's File > Save and Export Notebook As > Charlm Report."""

    export_from_notebook = "charlm report"

    def __init__(self, config=None, **kw):
        merged = _config()
        if config is not None:
            merged.merge(config)
        page = {"template_name": TEMPLATE, "extra_template_basedirs": [str(TEMPLATES)],
                "exclude_input": True, "exclude_input_prompt": True,
                "exclude_output_prompt": True}
        super().__init__(config=merged, **{**page, **kw})

    def from_notebook_node(self, nb, resources=None, **kw):
        if "title" not in nb.metadata:  # the page's title: the report's, not the file's name
            nb = copy.deepcopy(nb)
            nb.metadata["title"] = page_title(nb)
        resources = {**(resources or {}), "contents": contents(nb)}
        return super().from_notebook_node(nb, resources=resources, **kw)


def page_title(nb) -> str:
    """The first level-1 heading the page shows (the report's title), in plain words."""
    for markdown in _markdown_shown(nb):
        for line in markdown.splitlines():
            if line.startswith("# "):
                return line[2:].replace("`", "").strip()
    return "charlm report"


def report_html(nb) -> str:
    """A notebook (node) as one HTML page: its outputs and kept markdown cells, figures
    embedded, a table of contents."""
    html, _ = ReportExporter().from_notebook_node(nb)
    return html


def page(blocks: list, title: str):
    """A notebook node of Markdown text and figures, for report_html: each block is Markdown
    (a str) or a figure (png bytes, alt text)."""
    cells = []
    for block in blocks:
        if isinstance(block, str):
            cells.append(nbformat.v4.new_markdown_cell(block))
            continue
        png, alt = block
        image = nbformat.v4.new_output("display_data", data={"image/png": _base64(png)},
                                       metadata={"image/png": {"alt": alt}})
        cells.append(nbformat.v4.new_code_cell("", outputs=[image]))
    return nbformat.v4.new_notebook(cells=cells, metadata={"title": title})


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def contents(nb) -> list[dict]:
    """The table of contents: the h2 headings of the page's Markdown (kept markdown cells and
    Markdown outputs), each with its h3 headings as children.

    Each entry is {"id", "text", "children"}; the ids are the ones the page's headings get, since
    the Markdown is rendered by the same nbconvert filter as in the export.
    """
    sections: list[dict] = []
    for markdown in _markdown_shown(nb):
        soup = BeautifulSoup(markdown2html_mistune(markdown), "html.parser")
        for heading in soup.find_all(["h2", "h3"]):
            for link in heading.find_all("a", class_="anchor-link"):
                link.decompose()  # the pilcrow nbconvert appends to every heading
            if not heading.get("id"):
                continue
            entry = {"id": heading["id"], "text": " ".join(heading.get_text().split()),
                     "children": []}
            if heading.name == "h3" and sections:
                sections[-1]["children"].append(entry)
            else:
                sections.append(entry)
    return sections


def _markdown_shown(nb) -> Iterator[str]:
    """The Markdown the page shows, in order: markdown cells not tagged notebook-only, and
    outputs rendered as Markdown (none has an HTML form, which the exporter would show)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            if NOTEBOOK_ONLY not in cell.get("metadata", {}).get("tags", []):
                yield cell.source
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data and "text/html" not in data:
                yield data["text/markdown"]
