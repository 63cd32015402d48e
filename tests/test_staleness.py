"""When a finished step counts as up to date (the pipeline's rules), without running any."""

import json

from charlm.experiment import jobs, layout
from charlm.experiment.environment import notebook_hash
from charlm.experiment.pipeline import _stale, plan
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.project import NOTEBOOKS_DIR

SPEC = resolve("smoke", {"models": ["lstm", "gru"], "pairs": []})
CODE = {"charlm_version": "0.1.0", "git_commit": "abc1234", "git_dirty": False,
        "code_hash": "now"}


def _step(name: str):
    return next(s for s in plan(SPEC) if s.name == name)


def _nb(step) -> str:
    return notebook_hash(NOTEBOOKS_DIR / step.source)


def _record(step, **code) -> dict:
    reads = {k: SPEC.params()[k] for k in sorted(step.reads)}
    return {"reads": reads, "notebook": _nb(step),
            "code": {**CODE, **code}, "seconds": 1.0, "finished": "then"}


def test_the_rules_in_order(tmp_path):
    output = tmp_path / "done.ipynb"
    output.write_text("{}")
    train, evaluate = _step("03_train-gru.ipynb"), _step("04_evaluate.ipynb")
    reads = _record(evaluate)["reads"]

    def why(record, reads=reads, out=output, upstream=False, step=evaluate):
        return _stale(step, record, reads, _nb(step), CODE, out, upstream)

    assert why(None) == "not run yet"
    assert why(_record(evaluate), out=tmp_path / "gone") == "not run yet"
    assert why(_record(evaluate), reads={**reads, "pairs": [["lstm", "gru"]]}) == \
        "its parameters changed"
    assert why({**_record(evaluate), "notebook": "other"}) == "its notebook changed"
    assert why(_record(evaluate), upstream=True) == "it reads files of a step that ran again"
    assert why(_record(evaluate)) is None
    assert why(_record(evaluate, code_hash="then")) == "charlm's code changed"
    # a training step keeps its models when only the code changed
    assert why(_record(train, code_hash="then"), reads=_record(train)["reads"], step=train) is None


def test_a_record_from_before_steps_recorded_their_code_counts_as_changed_code(tmp_path):
    output = tmp_path / "done.ipynb"
    output.write_text("{}")
    for name, why in (("03_train-gru.ipynb", None),
                      ("04_evaluate.ipynb", "charlm's code changed")):
        step = _step(name)
        old = {k: v for k, v in _record(step).items() if k not in ("notebook", "code")}
        assert _stale(step, old, old["reads"], _nb(step), CODE, output, False) == why


def test_the_chain_table_gives_the_order_and_who_writes_what():
    assert [n.name for n in layout.CHAIN] == ["01_explore_data", "02_tune", "03_train",
                                              "04_evaluate", "05_generate", "06_report"]
    assert layout.producer("metrics.json") == "04_evaluate"
    assert layout.producer("models/lstm-s0/checkpoint.pt") == "03_train"
    assert layout.producer("figures/loss_curves_gru.png") == "03_train"
    assert layout.producer("figures/loss_curves.png") == "04_evaluate"
    steps = {s.name: s for s in plan(SPEC)}
    assert steps["03_train-lstm.ipynb"].after == ("02_tune.ipynb",)
    assert steps["06_report.ipynb"].after[0] == "01_explore_data.ipynb"


def test_progress_names_every_model_of_a_search_that_has_not_chosen_for_it(tmp_path):
    """A model added to a run that searched: the old choice lacks it, and the progress lines
    (which need names, folders and epochs only) must not stop the run."""
    run = Run(tmp_path)
    (run.tuning_dir).mkdir(parents=True)
    (run.tuning_dir / "chosen.json").write_text(json.dumps(
        {"space": SPEC.search.tune_space, "chosen": {"lstm": {"lr": 0.01}}}))
    bigger = resolve("smoke", {"models": ["lstm", "gru", "rnn"], "pairs": []})
    names = [j.name for j in jobs.all_jobs(run, bigger) if not j.trial]
    assert names == ["lstm-s0", "lstm-s1", "gru-s0", "gru-s1", "rnn-s0", "rnn-s1"]
