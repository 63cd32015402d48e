"""A live loss plot while notebook 03 trains in JupyterLab: one figure under the cell, redrawn as
step losses and epochs land in the run folder.

    with LivePlot(run, spec, model):
        history = steps.train_model(run, spec, model)

A background thread polls the model folders' files (training writes them whatever executes it:
this kernel, stacked seeds or Ray), so nothing in the training loop knows about the plot. Left:
the training loss every LOG_EVERY steps; right: the validation loss per epoch; a line per model
and seed, a colour per model. Under `charlm report` (CHARLM_BATCH set) and outside IPython it does
nothing: the executed notebooks keep their static figures only.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython import get_ipython
from IPython.display import Image, display

from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec
from charlm.report.figures import model_colors

BATCH_ENV = "CHARLM_BATCH"  # set by charlm report for its kernels: no live plot there


def _stamp(path: Path):
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()  # not written yet (files are replaced whole)


class LivePlot:
    """The figure of the runs `model` names ("": every model of the run), kept up to date."""

    def __init__(self, run: Run, spec: RunSpec, model: str = "", every: float = 3.0,
                 display=None):
        names = [model] if model else spec.run.models
        self.runs = [(m, run.model(m, s)) for m in names for s in spec.run.seeds]
        self.colors = model_colors(spec.run.models)
        self.every, self.stamps, self.handle = every, None, None
        self.display = display if display is not None else _ipython_display()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LivePlot:
        if self.display is not None:
            self._thread = threading.Thread(target=self._loop, name="charlm-live", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.poll()  # the last epoch's state

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.poll()

    def poll(self) -> bool:
        """Redraw if a file changed since the last drawing; whether it drew."""
        stamps = [(_stamp(f.step_losses), _stamp(f.history)) for _, f in self.runs]
        if stamps == self.stamps or not any(s != (None, None) for s in stamps):
            return False
        self.stamps = stamps
        png = self.draw()
        if self.handle is None:
            self.handle = self.display(png)
        else:
            self.handle.update(png)
        return True

    def draw(self) -> bytes:
        """The figure, as PNG bytes."""
        fig, (steps_ax, epochs_ax) = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
        shown = set()
        for model, folder in self.runs:
            color, label = self.colors[model], model if model not in shown else None
            steps, history = _read(folder.step_losses), _read(folder.history)
            if len(steps):
                steps_ax.plot(steps["step"], steps["train_loss"], color=color, lw=1, alpha=0.8,
                              label=label)
                shown.add(model)
            if len(history) and "val_loss" in history:
                epochs_ax.plot(history["epoch"], history["val_loss"], "o-", color=color, ms=4)
        steps_ax.set(xlabel="step", ylabel="training loss (nats)", title="Training loss, live")
        epochs_ax.set(xlabel="epoch", ylabel="validation loss (nats)",
                      title="Validation loss per epoch")
        epochs_ax.xaxis.get_major_locator().set_params(integer=True)
        if shown:
            steps_ax.legend(loc="upper right", frameon=False)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        return buffer.getvalue()


def _ipython_display():
    """How to show and update a PNG in this kernel's cell; None outside IPython or in batch."""
    if os.environ.get(BATCH_ENV) or get_ipython() is None:
        return None

    class _Handle:
        def __init__(self, png):
            self.inner = display(Image(data=png), display_id=True)

        def update(self, png):
            self.inner.update(Image(data=png))

    return _Handle
