"""Two made-up run folders (written through Run, nothing trained) compared by
charlm.report.compare."""

import base64
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from charlm.errors import PipelineError
from charlm.experiment.profiles import resolve
from charlm.experiment.run import Run
from charlm.report.compare import ComparisonFolder, compare_runs, default_out
from charlm.stats.intervals import welch_interval

COMMON = {"models": ["lstm", "gru"], "seeds": [0, 1, 2], "pairs": [], "tune_space": {},
          "epochs": 2, "lr": 0.01}
# lstm's test losses per seed; gru in A only, rnn in B only
LOSSES = {"A": {"lstm": [1.50, 1.52, 1.51], "gru": [1.45, 1.46, 1.44]},
          "B": {"lstm": [1.40, 1.43, 1.41], "rnn": [1.70, 1.72, 1.71]}}
ENV = {"device": "cpu", "gpu": None, "cpu": "Test CPU", "cpu_cores": 2, "torch_threads": 2,
       "torch_version": "2.5.0", "cuda_version": None, "python": "3.11.7"}


def fake_run(root, label: str, overrides: dict, commit: str, validation: bool = True) -> Run:
    """A run folder with params, environment and metrics, as the pipeline would leave it."""
    run = Run(root)
    spec = resolve("smoke", {**COMMON, **overrides})
    run.write_spec(spec)
    run.write_environment({**ENV, "git_commit": commit})
    rows, histories = [], []
    for model, losses in LOSSES[label].items():
        for seed, loss in enumerate(losses[:len(spec.run.seeds)]):
            rows.append({"model": model, "seed": seed, "split": "random", "train_loss": loss - .1,
                         "test_loss": loss, "test_accuracy": 1 - loss / 3,
                         "train_time": 10.0 + seed, "size_mb": 0.5})
            for epoch in range(1, spec.train.epochs + 1):
                histories.append({"model": model, "seed": seed, "epoch": epoch,
                                  "train_loss": loss + 1 / epoch,
                                  "val_loss": loss + 1 / epoch if validation else np.nan,
                                  "elapsed_train_seconds": 5.0 * epoch})
    run.write_metrics({"runs": pd.DataFrame(rows), "comparisons": pd.DataFrame()},
                      pd.DataFrame(histories))
    return run


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A (lstm, gru; lr searched per model) vs B (lstm, rnn; 3 epochs, another commit)."""
    base = tmp_path_factory.mktemp("runs")
    a = fake_run(base / "a", "A", {"tune_space": {"lr": [0.01, 0.03]}}, "aaaaaaa")
    a.write_tuning(pd.DataFrame(), {"space": {"lr": [0.01, 0.03]},
                                    "chosen": {"lstm": {"lr": 0.03}, "gru": {"lr": 0.01}}})
    b = fake_run(base / "b", "B", {"epochs": 3}, "bbbbbbb")
    md_path, html_path = compare_runs(a.root, b.root)
    return md_path.read_text(), html_path.read_text(), md_path.parent


def rows(md: str, first_cell: str) -> list[list[str]]:
    """The cells of the Markdown table rows whose first cell is `first_cell`."""
    out = []
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            out.append(cells)
    return out


def test_the_default_output_folder_is_beside_run_a(compared, tmp_path):
    md, _, folder = compared
    assert folder.name == "compare-a-vs-b" and (folder.parent / "a").is_dir()
    assert default_out(tmp_path / "x" / "fast", tmp_path / "tune") == tmp_path / "x" / (
        "compare-fast-vs-tune")


def test_settings_that_differ_are_listed_and_equal_ones_are_not(compared):
    md, _, _ = compared
    assert rows(md, "`epochs`") == [["`epochs`", "`2`", "`3`"]]
    assert rows(md, "`tune_space`") == [["`tune_space`", '`{"lr": [0.01, 0.03]}`', "`{}`"]]
    for equal in ("`seeds`", "`lr`", "`seq_len`", "`max_chars`", "`models`"):
        assert rows(md, equal) == []
    differ = re.search(r"(\d+) parameters differ; (\d+) are equal", md)
    assert differ and int(differ[1]) == 2 and int(differ[2]) > 20
    # lstm trained at its searched lr in A, at the run's lr in B; gru is not in B
    assert rows(md, "`lr` [lstm]") == [["`lr` [lstm]", "`0.03` (searched)", "`0.01`"]]
    assert rows(md, "`lr` [gru]") == []
    assert rows(md, "git_commit") == [["git_commit", '`"aaaaaaa"`', '`"bbbbbbb"`']]
    assert 'torch_version `"2.5.0"`' in md and rows(md, "torch_version") == []


def test_metrics_side_by_side_with_the_difference_and_welch_interval(compared):
    md, _, _ = compared
    table = md[md.index("| Model | Metric"):].split("\n\n")[0].splitlines()
    lstm = table.index(next(r for r in table if r.startswith("| lstm |")))
    seeds, loss, accuracy = (table[lstm + i].split("|")[1:-1] for i in range(3))
    assert [c.strip() for c in seeds[2:5]] == ["3", "3", ""]
    a, b = LOSSES["A"]["lstm"], LOSSES["B"]["lstm"]
    assert loss[2].strip() == f"{np.mean(a):.4f}" and loss[3].strip() == f"{np.mean(b):.4f}"
    assert loss[4].strip() == f"{np.mean(b) - np.mean(a):+.4f}" == "-0.0967"
    ci = sps.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert loss[5].strip() == f"[{ci.low:+.4f}, {ci.high:+.4f}]"
    assert accuracy[4].strip() == f"{(np.mean(a) - np.mean(b)) / 3 * 100:+.2f} pp"
    assert "Welch's t-interval" in md and "test windows are the same in both runs" in md


def test_a_model_in_one_run_only_is_said_so(compared):
    md, _, _ = compared
    assert "gru only in A (a)" in md and "rnn only in B (b)" in md
    assert rows(md, "gru")[0][2:5] == ["3", "—", "only in A"]
    assert rows(md, "rnn")[0][2:5] == ["—", "3", "only in B"]


def test_the_html_embeds_the_png_and_the_markdown_links_it(compared):
    md, html, folder = compared
    png = ComparisonFolder(folder).curves.read_bytes()
    assert png.startswith(b"\x89PNG")
    assert "![validation loss, A solid, B dashed](curves.png)" in md
    embedded = re.search(r'<img[^>]* src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert embedded and base64.b64decode(embedded[1]) == png
    assert "<table>" in html and "<td>`" not in html  # Markdown tables and code rendered
    assert not re.search(r"(src|href)=\"https?:", html)


def test_welch_interval_matches_scipy_and_needs_two_seeds_and_spread():
    a, b = [1.0, 1.2, 1.1, 1.3], [0.8, 0.9, 1.05]
    iv = welch_interval(a, b)
    ci = sps.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert iv.estimate == pytest.approx(np.mean(b) - np.mean(a))
    assert (iv.low, iv.high) == pytest.approx((ci.low, ci.high))
    assert welch_interval([1.0], b) is None and welch_interval([1.0, 1.0], [2.0, 2.0]) is None


def test_other_test_windows_or_one_seed_give_no_interval(tmp_path):
    a = fake_run(tmp_path / "a", "A", {}, "c")
    b = fake_run(tmp_path / "b", "B", {"split_seed": 7}, "c", validation=False)
    md = compare_runs(a.root, b.root, tmp_path / "out")[0].read_text()
    assert "No intervals: the two runs' test windows may differ (`split_seed`)" in md
    assert rows(md, "")[0][5] == "n/a"  # lstm's test loss row
    # B has no validation loss: both runs are drawn with their training loss
    assert "Training loss of each model" in md
    assert "Nothing in common" not in md and rows(md, "git_commit") == []
    one = fake_run(tmp_path / "one", "A", {"seeds": [0]}, "c")
    md = compare_runs(one.root, a.root, tmp_path / "out2")[0].read_text()
    assert "they need at least 2 seeds per model in both runs" in md


def test_a_folder_that_is_not_a_finished_run_is_refused_by_name(tmp_path):
    good = fake_run(tmp_path / "good", "A", {}, "c")
    with pytest.raises(PipelineError, match=rf"{re.escape(str(tmp_path / 'nope'))} is not a run"):
        compare_runs(good.root, tmp_path / "nope")
    fresh = Run(tmp_path / "fresh")
    fresh.write_spec(resolve("smoke", COMMON))
    with pytest.raises(PipelineError, match=r"fresh has no metrics yet.*python -m charlm report"):
        compare_runs(fresh.root, good.root)
    assert not default_out(fresh.root, good.root).exists()
