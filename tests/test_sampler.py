"""Notebook 05's sampler, driven as JupyterLab would, without a browser."""

import pytest

from charlm.checkpoint import load_model
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.experiment.sampler import Sampler
from charlm.generate import generate
from charlm.train import run_training


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus_text):
    spec = resolve("smoke", {"models": ["lstm", "gru"], "pairs": [], "seeds": [0],
                             "epochs": 1, "max_steps": 3, "eval_windows": 100,
                             "tune_space": {}})
    run = Run(tmp_path_factory.mktemp("run"))
    for model in spec.run.models:
        c = spec.configs(model, 0)
        run_training(c.data, c.model, c.train, out_dir=run.model(model, 0).path,
                     progress=False)
    return run, spec


def test_the_button_streams_the_text_of_generate(trained):
    run, spec = trained
    sampler = Sampler(run, spec)
    seen = []
    sampler.output.observe(lambda change: seen.append(change["new"]), names="value")
    sampler.model.value, sampler.prompt.value = "gru", "ROMEO:"
    sampler.temperature.value, sampler.top_k.value = 0.5, 5
    sampler.length.value, sampler.seed.value = 30, 7
    sampler.button.click()  # what a click in JupyterLab does
    model, vocab, _ = load_model(run.model("gru", 0).checkpoint)
    expected = generate(model, vocab, "ROMEO:", 30, 0.5, top_k=5, seed=7)
    assert sampler.output.value == expected
    assert len(seen) > 30 and seen[-1] == expected  # the text grew a character at a time
    assert not sampler.button.disabled and sampler.status.value == ""


def test_a_prompt_the_model_cannot_read_is_said_in_the_status_line(trained):
    sampler = Sampler(*trained)
    sampler.prompt.value = "ROMEO<€"
    assert sampler.generate() == ""
    assert "€" in sampler.status.value and not sampler.button.disabled
    assert "&lt;" in sampler.status.value and "<€" not in sampler.status.value  # shown as text
    assert sampler.top_k.max == len(set(sampler._text))  # at most every char
