"""An interactive sampler for JupyterLab (notebook 05): controls, and the text as it comes.

    Sampler(run, spec).widget      the controls and the text (ipywidgets)
    Sampler(run, spec).generate()  what the button does: streams into the text box

Executed by papermill, the notebook keeps its static samples; the sampler only adds a widget,
which needs a live kernel to do anything.
"""

from __future__ import annotations

import html

from charlm.checkpoint import configs_of, load_model
from charlm.data import load_corpus
from charlm.errors import CharlmError
from charlm.experiment.run import Run
from charlm.experiment.spec import RunSpec
from charlm.generate import fit_prompt, stream


class Sampler:
    """Model, prompt, temperature, top-k, length and seed controls, a Generate button, and the
    text box the characters stream into. Each model's first seed is loaded once, when used."""

    def __init__(self, run: Run, spec: RunSpec):
        import ipywidgets as w

        self.run, self.spec, self._models = run, spec, {}
        first = spec.generation.prompts[0]
        self._text = load_corpus(spec.data)
        wide = {"layout": w.Layout(width="95%"), "style": {"description_width": "90px"}}
        self.model = w.Dropdown(options=spec.run.models, description="model", **wide)
        self.prompt = w.Text(value=fit_prompt(first, set(self._text), self._text)[0],
                             description="prompt", **wide)
        self.temperature = w.FloatSlider(value=0.8, min=0.1, max=2.0, step=0.05,
                                         description="temperature", **wide)
        self.top_k = w.IntSlider(value=0, min=0, max=len(set(self._text)),
                                 description="top-k (0: all)", **wide)
        self.length = w.IntSlider(value=spec.generation.gen_length, min=10, max=2000, step=10,
                                  description="length", **wide)
        self.seed = w.IntText(value=spec.generation.gen_seed, description="seed", **wide)
        self.button = w.Button(description="Generate", button_style="primary", icon="play")
        self.output = w.Textarea(value="", layout=w.Layout(width="95%", height="16em"))
        self.status = w.HTML(value="")
        self.button.on_click(lambda _: self.generate())
        self.widget = w.VBox([self.model, self.prompt, self.temperature, self.top_k,
                              self.length, self.seed, w.HBox([self.button, self.status]),
                              self.output])

    def _model(self, name: str):
        if name not in self._models:
            model, vocab, ckpt = load_model(self.run.model(name, self.spec.run.seeds[0])
                                            .checkpoint)
            self._models[name] = model, vocab, configs_of(ckpt).data.seq_len
        return self._models[name]

    def generate(self) -> str:
        """Sample with the controls' values, writing each character into the text box as it
        is produced; bad input (a character the model never saw) is said in the status line."""
        self.output.value, self.status.value = "", ""
        self.button.disabled = True
        try:
            model, vocab, context = self._model(self.model.value)
            for chunk in stream(model, vocab, self.prompt.value, self.length.value,
                                self.temperature.value, self.top_k.value or None,
                                seed=self.seed.value, context=context):
                self.output.value += chunk
        except CharlmError as exc:
            self.status.value = f"<span style='color:#c0392b'>{html.escape(str(exc))}</span>"
        finally:
            self.button.disabled = False
        return self.output.value
