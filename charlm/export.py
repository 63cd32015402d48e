"""The executed report notebook exported to one self-contained HTML file and to Markdown."""

from __future__ import annotations

import re

from charlm.atomic import atomic_write_bytes, atomic_write_text
from charlm.run import Run


def export_report(run: Run, notebook) -> None:
    """The report as HTML (code hidden, figures embedded, no external links) and Markdown.

    notebook: the executed report notebook (a path).
    """
    import nbformat
    from nbconvert import HTMLExporter, MarkdownExporter

    nb = nbformat.read(notebook, as_version=4)
    html_exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_markdown=True,  # the notebook's own title cell; the report is its outputs
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    html, _ = html_exporter.from_notebook_node(nb)
    atomic_write_text(run.report_html, strip_external_scripts(html))
    md_exporter = MarkdownExporter(exclude_input=True, exclude_markdown=True)
    md, resources = md_exporter.from_notebook_node(
        nb, resources={"output_files_dir": run.report_files_dir}
    )
    for name, data in resources.get("outputs", {}).items():
        atomic_write_bytes(run.root / name, data)
    atomic_write_text(run.report_md, md)


def strip_external_scripts(html: str) -> str:
    """Drop every <script> that loads code from the network (MathJax, mermaid, require.js).

    The report is tables, text and embedded PNGs: it needs none of them, and must open offline.
    """

    def keep(match: re.Match) -> str:
        external = re.search(r"(src=|import|from)\s*[\"']https?://", match.group(0))
        return "" if external else match.group(0)

    return re.sub(r"<script\b[^>]*>.*?</script>", keep, html, flags=re.S | re.I)
