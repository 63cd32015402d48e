"""The exported report page: contents, offline, dark theme, alt text, size (no training: each test
exports a small notebook built here)."""

import base64
import io
import re
from collections.abc import Iterator

import nbformat
import numpy as np
import pytest
import tinycss2
from bs4 import BeautifulSoup
from IPython.core.formatters import DisplayFormatter
from IPython.display import Image
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook, new_output
from PIL import Image as PILImage

from charlm.config import LOG_EVERY
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.report import sections as report
from charlm.report.export import contents, export_report, report_html

MARKDOWN = """# LSTM vs GRU on a test

## Dataset

Some text & a table.

### Windows (10% of the text)

## Results

```
## a generated line, not a heading
```
"""
ALT = 'Line chart of the loss per epoch for "LSTM" & GRU'
# bytes of the page that are not its figures: about 9,700 today (its stylesheet 6 KB, the theme
# button's script 1 KB, the lab template's markup); JupyterLab's stylesheets alone were 273 KB
OVERHEAD_BOUND = 14_000


def css_rules(css: str, media: str = "") -> Iterator[tuple[str, str, dict[str, str]]]:
    """The rules of a stylesheet, those inside @media blocks included: (media query, selector,
    {property: value}), whitespace removed from the query and the selector."""
    for rule in tinycss2.parse_rule_list(css, skip_comments=True, skip_whitespace=True):
        prelude = "".join(tinycss2.serialize(rule.prelude).split())
        if rule.type == "at-rule" and rule.lower_at_keyword == "media":
            yield from css_rules(rule.content, prelude)
        elif rule.type == "qualified-rule":
            declarations = tinycss2.parse_blocks_contents(
                rule.content, skip_comments=True, skip_whitespace=True
            )
            yield (
                media,
                prelude,
                {
                    d.name: tinycss2.serialize(d.value).strip()
                    for d in declarations
                    if d.type == "declaration"
                },
            )


def png(width: int = 300, height: int = 200) -> bytes:
    """A PNG of noise (incompressible: its size stays what it is)."""
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def displayed(obj) -> nbformat.NotebookNode:
    """The output a notebook cell holds after display(obj)."""
    data, metadata = DisplayFormatter().format(obj)
    return new_output("display_data", data=data, metadata=metadata)


def notebook(image: Image) -> nbformat.NotebookNode:
    """A report notebook as papermill leaves it: Markdown outputs with headings, a figure, and
    widget state in its metadata (which the lab template would load a widget manager for)."""
    nb = new_notebook(
        cells=[
            new_code_cell(
                "display(Markdown(...))",
                outputs=[
                    new_output(
                        "display_data", data={"text/markdown": MARKDOWN, "text/plain": "md"}
                    )
                ],
            ),
            new_code_cell("display(report.figure(...))", outputs=[displayed(image)]),
        ]
    )
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    return nb


@pytest.fixture(scope="module")
def figure_png() -> bytes:
    return png()


@pytest.fixture(scope="module")
def page(figure_png) -> str:
    return report_html(notebook(Image(data=figure_png, format="png", alt=ALT)))


def test_contents_link_to_every_section_heading(page):
    soup = BeautifulSoup(page, "html.parser")
    nav = soup.find("nav", attrs={"aria-label": "Contents"})
    links = [(a.get_text(), a["href"]) for a in nav.find_all("a")]
    assert [text for text, _ in links] == ["Dataset", "Windows (10% of the text)", "Results"]
    main = soup.find("main")
    for text, href in links:
        heading = main.find(id=href.removeprefix("#"))
        assert heading is not None and heading.name in ("h2", "h3"), href
        assert heading.get_text().startswith(text)
    nested = nav.find("ul").find("ul")  # the h3 under its h2
    assert [a.get_text() for a in nested.find_all("a")] == ["Windows (10% of the text)"]


def test_contents_are_read_from_the_markdown_outputs():
    nb = notebook(Image(data=png(4, 4), format="png"))
    assert [(s["text"], [c["text"] for c in s["children"]]) for s in contents(nb)] == [
        ("Dataset", ["Windows (10% of the text)"]),
        ("Results", []),
    ]


def test_nothing_is_loaded_from_the_network(page, figure_png):
    lab, _ = HTMLExporter(template_name="lab").from_notebook_node(
        notebook(Image(data=figure_png, format="png"))
    )
    assert "<script src=" in lab  # what the lab template alone writes for this notebook
    assert not re.search(r"<script[^>]*\ssrc=", page)
    assert not re.search(r"<link[^>]*\shref=", page)
    assert "@import" not in page
    for script in re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S):
        assert "http://" not in script and "https://" not in script
    assert not re.search(r"url\(\s*[\"']?https?:", page)


def test_a_dark_theme_follows_the_system_and_a_button_switches_it(page):
    soup = BeautifulSoup(page, "html.parser")
    [style] = soup.find_all("style")  # the page's own stylesheet, and no other
    css = style.get_text()
    palettes = {
        (media, selector): declarations
        for media, selector, declarations in css_rules(css)
        if any(name.startswith("--") for name in declarations)
    }
    light = palettes.pop(("", ":root"))
    by_system = palettes.pop(("(prefers-color-scheme:dark)", ':root:not([data-theme="light"])'))
    by_button = palettes.pop(("", ':root[data-theme="dark"]'))
    assert not palettes  # no colours set anywhere else
    assert by_system == by_button  # the button's dark is the system's dark
    assert light.keys() == by_system.keys()  # every colour has its dark value
    assert (light["color-scheme"], by_system["color-scheme"]) == ("light", "dark")
    assert light["--bg"] != by_system["--bg"] and light["--fg"] != by_system["--fg"]
    assert set(re.findall(r"var\((--[\w-]+)\)", css)) <= light.keys()  # none undefined
    button = soup.find("button", id="charlm-theme-button")
    assert button["aria-pressed"] == "false" and button.has_attr("hidden")  # shown by its script
    script = " ".join(s.get_text() for s in soup.find_all("script"))
    assert "charlm-theme-button" in script and "data-theme" in script
    assert "prefers-color-scheme: dark" in script  # the state it shows until a pick


def test_figures_carry_their_alt_text(page):
    images = BeautifulSoup(page, "html.parser").find_all("img")
    assert [img["alt"] for img in images] == [ALT]


def test_report_figure_describes_the_run(tmp_path):
    run = Run(tmp_path)
    run.write_spec(resolve("smoke", {"models": ["lstm", "gru", "rnn"], "pairs": []}))
    run.figures.loss_curves.parent.mkdir(parents=True)
    run.figures.loss_curves.write_bytes(png(8, 8))
    data = report.ReportData(run=run, spec=run.read_spec(), environment={}, overview=None,
                             metrics={}, histories=None, samples=None, choice=None, trials=None)
    page = report_html(notebook(report.figure(data, "loss_curves")))
    alt = BeautifulSoup(page, "html.parser").find("img")["alt"]
    assert alt == report.alt_text(data.spec, "loss_curves", LOG_EVERY)
    assert alt.startswith("Line chart of the") and "per epoch for LSTM, GRU and RNN" in alt


def test_the_page_is_its_figures_plus_a_bounded_overhead(page, figure_png):
    encoded = base64.b64encode(figure_png)
    assert page.count(encoded.decode()) == 1
    overhead = len(page.encode()) - len(encoded)
    assert 0 < overhead < OVERHEAD_BOUND


def test_export_writes_the_page_and_the_markdown(tmp_path, figure_png):
    path = tmp_path / "06_report.ipynb"
    nbformat.write(notebook(Image(data=figure_png, format="png", alt=ALT)), path)
    run = Run(tmp_path / "run")
    run.root.mkdir()
    export_report(run, path)
    assert 'id="Dataset"' in run.report_html.read_text()
    md = run.report_md.read_text()
    assert "## Dataset" in md and f"{run.report_files_dir}/" in md


def test_the_report_page_is_an_nbconvert_exporter():
    """`jupyter nbconvert --to charlm_report`, and JupyterLab's export menu: the entry point."""
    from nbconvert.exporters import get_exporter

    from charlm.report.export import ReportExporter

    assert get_exporter("charlm_report") is ReportExporter
    nb = new_notebook(cells=[nbformat.v4.new_markdown_cell("# Results\n\nSome text."),
                             new_code_cell("print('hidden code')")])
    html, _ = ReportExporter().from_notebook_node(nb, resources={"metadata": {"name": "06_x"}})
    assert html == report_html(nb)  # named as nbconvert names it: the same page
    assert "<title>Results</title>" in html  # the page's own first heading
    assert "hidden code" not in html


@pytest.mark.slow
def test_export_renders_an_edited_report_notebook_again(smoke_run, tmp_path, capsys):
    import shutil
    import subprocess
    import sys

    from charlm.__main__ import main

    copy = Run(shutil.copytree(smoke_run.root, tmp_path / "run"))
    notebook = copy.executed_notebook("06_report.ipynb")
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("## A note of mine\n\nRead with care."))
    nbformat.write(nb, notebook)
    assert main(["export", str(copy.root)]) == 0  # nothing is executed again
    assert "report written" in capsys.readouterr().err
    assert "A note of mine" in copy.report_html.read_text() and "A note of mine" in \
        copy.report_md.read_text()
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "charlm_report",
                           str(notebook), "--output-dir", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "06_report.html").read_text() == copy.report_html.read_text()
    assert main(["export", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
