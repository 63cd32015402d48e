"""The live loss plot of notebook 03: redrawn when the model folders change, silent in batch."""

from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.report import live


class Shown:
    """A display handle that records what it was given."""

    images: list = []

    def __init__(self, png):
        Shown.images = [png]

    def update(self, png):
        Shown.images.append(png)


def test_the_live_plot_follows_the_files_training_writes(tmp_path):
    run, spec = Run(tmp_path), resolve("smoke", {"models": ["lstm", "gru"], "seeds": [0]})
    plot = live.LivePlot(run, spec, display=Shown)
    assert not plot.poll()  # nothing trained yet: nothing shown
    folder = run.model("lstm", 0)
    folder.write_step_losses([{"epoch": 1, "step": s, "train_loss": 4 - s / 10,
                               "objective_loss": 4 - s / 10} for s in (10, 20)])
    assert plot.poll() and len(Shown.images) == 1 and Shown.images[0][:4] == b"\x89PNG"
    assert not plot.poll()  # unchanged: not redrawn
    folder.write_history([{"epoch": 1, "train_loss": 3.0, "val_loss": 3.1}])
    assert plot.poll() and len(Shown.images) == 2  # the same figure, updated


def test_no_live_plot_in_batch_or_outside_ipython(monkeypatch, tmp_path):
    spec = resolve("smoke")
    assert live.LivePlot(Run(tmp_path), spec).display is None  # pytest: no IPython kernel
    monkeypatch.setenv(live.BATCH_ENV, "1")
    assert live._ipython_display() is None
    with live.LivePlot(Run(tmp_path), spec) as plot:  # a no-op context
        assert plot._thread is None
