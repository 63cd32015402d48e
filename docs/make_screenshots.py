"""Make the JupyterLab screenshots of docs/: real JupyterLab renderings, not mock-ups.

Headless Chromium opens a one-cell notebook in a local JupyterLab and runs the cell with a live
kernel, and the screenshot is cropped to that cell and its output:

- `sampler` (docs/sampler.png): notebook 05's sampler widget after a Generate (needs the run
  folder reports/fast);
- `live` (docs/live_plot.png): notebook 03's live loss plot while LSTM and GRU train (a short
  smoke-sized run of its own, in /tmp), taken mid-run, beside the progress bar.

Run from the repository root, with the project's virtual environment (needs `chromium` on PATH
and the `websocket-client` package, which JupyterLab's server already depends on):

    .venv/bin/python docs/make_screenshots.py sampler
    .venv/bin/python docs/make_screenshots.py live

It writes /tmp/charlm-screens/demo.ipynb, starts `jupyter lab` on port 8899 (no token), drives
Chromium over the DevTools protocol on port 9229, writes the PNG, and stops both.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path("/tmp/charlm-screens")
LAB_PORT, CDP_PORT = 8899, 9229
WIDTH, HEIGHT = 1300, 1100

SCENES = {
    "sampler": {
        "out": ROOT / "docs" / "sampler.png",
        "cell": """\
from charlm.experiment.run import Run
from charlm.experiment.sampler import Sampler

run = Run("reports/fast")
s = Sampler(run, run.read_spec())
s.model.value, s.prompt.value = "gru", "ROMEO:"
s.temperature.value, s.length.value = 0.8, 340
s.generate()
s.widget""",
        # the text has streamed in, and the kernel is done
        "ready": "((document.querySelector('.widget-textarea textarea')||{}).value||'')"
                 ".length >= 340",
        "idle": True,
    },
    "live": {
        "out": ROOT / "docs" / "live_plot.png",
        "cell": """\
from charlm.experiment import steps
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.report import live

spec = resolve("smoke", {"models": ["lstm", "gru"], "seeds": [0, 1], "tune_space": {},
                         "epochs": 4, "max_steps": 60})
run = Run("live-demo")
with live.LivePlot(run, spec, every=1.0):  # notebook 03's training cell
    history = steps.train_model(run, spec)""",
        # mid-run: the figure is drawn, then a few epochs later (training goes on)
        "ready": "document.querySelectorAll('.jp-OutputArea-output img').length > 0",
        "settle": 40,
        "idle": False,
    },
}


def write_notebook(cell: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    DEMO.mkdir(parents=True, exist_ok=True)
    if not (DEMO / "reports").is_symlink():  # so the cell can say Run("reports/fast")
        (DEMO / "reports").symlink_to(ROOT / "reports")
    nbformat.write(nb, DEMO / "demo.ipynb")
    # no "would you like news" pop-up
    notes = DEMO / "settings" / "@jupyterlab" / "apputils-extension"
    notes.mkdir(parents=True, exist_ok=True)
    (notes / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')


def wait_http(url: str, seconds: float = 60):
    for _ in range(int(seconds / 0.5)):
        try:
            return urllib.request.urlopen(url)
        except Exception:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


class Page:
    """The first tab of a Chromium, over the DevTools protocol."""

    def __init__(self):
        import websocket

        tabs = json.load(wait_http(f"http://127.0.0.1:{CDP_PORT}/json"))
        page = next(t for t in tabs if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"],
                                              suppress_origin=True)
        self.n = 0

    def call(self, method: str, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]

    def js(self, expr: str):
        return self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                         awaitPromise=True)["result"].get("value")

    def until(self, expr: str, seconds: float, what: str):
        for _ in range(int(seconds / 0.5)):
            if self.js(expr):
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out waiting for {what}")


def screenshot(scene: dict) -> None:
    from PIL import Image

    page_ = Page()
    page_.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
               deviceScaleFactor=1, mobile=False)
    page_.call("Emulation.setFocusEmulationEnabled", enabled=True)
    page_.call("Page.navigate", url=f"http://localhost:{LAB_PORT}/lab/tree/demo.ipynb?reset")
    page_.until("!!window.jupyterapp && !!document.querySelector('.jp-Notebook .jp-Cell')",
                90, "JupyterLab and the notebook")
    notebook = ("Array.from(jupyterapp.shell.widgets('main'))"
                ".find(w => w.title.label === 'demo.ipynb')")
    page_.js(f"jupyterapp.shell.activateById(({notebook}).id)")
    kernel = f"({notebook}).sessionContext.session?.kernel?.status === 'idle'"
    page_.until(kernel, 120, "the kernel")
    page_.js("jupyterapp.commands.execute('application:toggle-left-area')")
    page_.js("jupyterapp.commands.execute('notebook:run-all-cells')")
    page_.until(scene["ready"], 600, "the cell's output")
    time.sleep(scene.get("settle", 0))
    if scene["idle"]:
        page_.until(kernel, 60, "the kernel to finish")
    # a fresh cell below takes the selection, so the cell shown is drawn unselected
    page_.js("jupyterapp.commands.execute('notebook:insert-cell-below')")
    page_.js("jupyterapp.commands.execute('notebook:enter-command-mode')")
    time.sleep(2)
    # the first cell (code and widget), with a little margin
    box = page_.js("""(() => {
        const r = document.querySelector('.jp-Notebook .jp-Cell').getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom]; })()""")
    png = base64.b64decode(page_.call("Page.captureScreenshot", format="png")["data"])
    img = Image.open(io.BytesIO(png))
    left, top, right, bottom = box
    img = img.crop((int(left), int(top) - 6, int(right) + 8, int(bottom)))
    img = img.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    img.save(scene["out"], optimize=True)
    print(f"wrote {scene['out']}: {img.width}x{img.height}, {scene['out'].stat().st_size} bytes")


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "sampler"
    if name not in SCENES:
        raise SystemExit(f"usage: make_screenshots.py {{{','.join(SCENES)}}}")
    scene = SCENES[name]
    shutil.rmtree(DEMO / "live-demo", ignore_errors=True)  # the live scene trains from scratch
    write_notebook(scene["cell"])
    bin_ = Path(sys.executable).parent
    lab = subprocess.Popen(
        [str(bin_ / "jupyter"), "lab", "--no-browser", "--allow-root", f"--port={LAB_PORT}",
         "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={DEMO}",
         "--expose-app-in-browser", f"--LabApp.user_settings_dir={DEMO / 'settings'}"],
        cwd=DEMO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chrome = None
    try:
        wait_http(f"http://localhost:{LAB_PORT}/lab")
        chrome = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--remote-debugging-port={CDP_PORT}", f"--window-size={WIDTH},{HEIGHT}",
             f"--user-data-dir={DEMO / 'chrome'}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        screenshot(scene)
    finally:
        for proc in (chrome, lab):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
