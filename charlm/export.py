"""The executed report notebook exported to one self-contained HTML file and to Markdown.

The HTML comes from charlm's nbconvert template, templates/charlm_report: JupyterLab's lab
template without the blocks that load scripts from the network and with a stylesheet of its own
(6 KB) in place of JupyterLab's (270 KB), plus a table of contents, a dark theme that follows the
reader's system (with a button to switch it) and each figure's alt text. The page opens offline
because nothing external is ever written into it, and it weighs little more than its figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from charlm.atomic import atomic_write_bytes, atomic_write_text
from charlm.run import Run

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "charlm_report"


def export_report(run: Run, notebook) -> None:
    """The report as HTML (code hidden, figures embedded, nothing loaded from the network) and
    Markdown.

    notebook: the executed report notebook (a path).
    """
    import nbformat
    from nbconvert import MarkdownExporter

    nb = nbformat.read(notebook, as_version=4)
    atomic_write_text(run.report_html, report_html(nb))
    md_exporter = MarkdownExporter(exclude_input=True, exclude_markdown=True)
    md, resources = md_exporter.from_notebook_node(
        nb, resources={"output_files_dir": run.report_files_dir}
    )
    for name, data in resources.get("outputs", {}).items():
        atomic_write_bytes(run.root / name, data)
    atomic_write_text(run.report_md, md)


def report_html(nb) -> str:
    """The report notebook (a notebook node) as one HTML page: its outputs only, figures
    embedded, a table of contents."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    exporter = HTMLExporter(
        # the page shows no highlighted code: the lab template's pygments stylesheet is unused
        config=Config({"CSSHTMLHeaderPreprocessor": {"enabled": False}}),
        template_name=TEMPLATE,
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_markdown=True,  # the notebook's own title cell; the report is its outputs
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    html, _ = exporter.from_notebook_node(nb, resources={"contents": contents(nb)})
    return html


def contents(nb) -> list[dict]:
    """The table of contents: the h2 headings of the report's Markdown outputs, each with its h3
    headings as children.

    Each entry is {"id", "text", "children"}; the ids are the ones the page's headings get, since
    the Markdown is rendered by the same nbconvert filter as in the export.
    """
    from bs4 import BeautifulSoup
    from nbconvert.filters import markdown2html_mistune

    sections: list[dict] = []
    for markdown in _markdown_outputs(nb):
        soup = BeautifulSoup(markdown2html_mistune(markdown), "html.parser")
        for heading in soup.find_all(["h2", "h3"]):
            for link in heading.find_all("a", class_="anchor-link"):
                link.decompose()  # the pilcrow nbconvert appends to every heading
            if not heading.get("id"):
                continue
            entry = {
                "id": heading["id"],
                "text": " ".join(heading.get_text().split()),
                "children": [],
            }
            if heading.name == "h3" and sections:
                sections[-1]["children"].append(entry)
            else:
                sections.append(entry)
    return sections


def _markdown_outputs(nb) -> Iterator[str]:
    """The Markdown the page shows: outputs rendered as Markdown (none has an HTML form, which
    the exporter would show instead)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data and "text/html" not in data:
                yield data["text/markdown"]
