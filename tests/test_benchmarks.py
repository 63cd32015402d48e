"""The benchmark scripts run (on a tiny setting); their timings are never asserted."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from charlm.project import PROJECT_ROOT

pytestmark = pytest.mark.slow  # trains, or runs Ray or subprocesses: the slow tier

BENCH = PROJECT_ROOT / "benchmarks"


def test_cpu_benchmark_tiny(tmp_path, corpus_text):
    subprocess.run([sys.executable, str(BENCH / "cpu.py"), "--tiny", "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    step = pd.read_csv(tmp_path / "cpu_step_tiny.csv")
    assert set(step.cell) == {"lstm", "gru"}
    # same weights, same batches: charlm's loss matches the baseline's to float tolerance
    assert (step.max_loss_diff_first_steps < 1e-4).all()
    quality = pd.read_csv(tmp_path / "time_to_quality_tiny.csv")
    assert {"charlm fast", "baseline"} <= set(quality.impl)
    assert (tmp_path / "time_to_quality_tiny.png").exists()


def test_gpu_benchmark_cpu_fallback(tmp_path, corpus_text):
    """The GPU machine's one command, as it runs there (`OUT=<folder> bash benchmarks/gpu.sh`),
    on this CPU: exit 0, both tables in OUT, every row saying whether a graph was used."""
    subprocess.run(["bash", str(BENCH / "gpu.sh")], check=True, capture_output=True,
                   timeout=540, env={**os.environ, "OUT": str(tmp_path), "PY": sys.executable})
    df = pd.read_csv(tmp_path / "gpu.csv")
    assert "error" not in df.columns, df.to_string()
    assert "| graph_used |" in (tmp_path / "gpu.md").read_text()
    assert df.graph_used.notna().all() and not df.graph_used.astype(bool).any()  # no CUDA here
    assert {"baseline", "one model, eager", "one model, captured", "stacked K=1, eager",
            "stacked K=3, captured"} <= set(df.impl)
    stacked = df[df.impl.str.startswith("stacked")]
    assert (stacked.kernels_per_step > 0).all()
    checks = df[df.impl.str.startswith("graph vs eager")]
    assert (checks.max_loss_diff == 0).all() and (checks.max_weight_diff == 0).all()
    e2e = df[df.impl.str.startswith("end to end")]
    assert len(e2e) == 2 and (e2e.measured_s > 0).all() and e2e.test_loss_last_epoch.notna().all()


def test_recipe_benchmark_tiny_scores_on_validation_only(tmp_path, corpus_text):
    subprocess.run([sys.executable, str(BENCH / "recipe.py"), "--tiny", "--lrs", "0.003", "0.01",
                    "--out", str(tmp_path)], check=True, capture_output=True, timeout=300)
    df = pd.read_csv(tmp_path / "recipe_tiny.csv")
    assert len(df) == 4 and df.val_loss.notna().all() and "test_loss" not in df
    assert df.groupby("cell").best_for_cell.sum().tolist() == [1, 1]


def test_reanalyse_reads_the_study_under_the_families(tmp_path):
    subprocess.run([sys.executable, str(BENCH / "reanalyse.py"), str(BENCH / "results" / "study"),
                    "--out", str(tmp_path)], check=True, capture_output=True, timeout=120)
    df = pd.read_csv(tmp_path / "verdicts.csv").set_index(["A - B", "Metric"])
    assert len(df) == 28  # 7 pairs x 4 metrics
    main = df.loc[("LSTM - GRU", "Final Test Loss")]
    assert main["Family"] == "primary endpoint" and main["Verdict"] == "GRU"  # p 0.012, alone
    assert float(main["sign-flip p"]) == 0.25  # 3 seeds: no distribution-free verdict possible
    times = df.xs("Training Time", level="Metric")
    assert (times["Corrected p"].isna() | (times["Corrected p"] == "n/a")).all()


def test_batched_benchmark_tiny(tmp_path, corpus_text):
    subprocess.run([sys.executable, str(BENCH / "batched.py"), "--tiny", "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    df = pd.read_csv(tmp_path / "batched_cpu_tiny.csv")
    assert len(df) == 3 and df.median_train_s.gt(0).all()
    # the same six runs either way: the same final losses
    assert df.mean_final_train_loss.iloc[0] == pytest.approx(df.mean_final_train_loss.iloc[1],
                                                             abs=1e-5)


@pytest.mark.slow
def test_large_vocabulary_benchmark_tiny(tmp_path, corpus_text):
    subprocess.run([sys.executable, str(BENCH / "large_vocab.py"), "--tiny", "--out",
                    str(tmp_path)], check=True, capture_output=True, timeout=300)
    df = pd.read_csv(tmp_path / "large_vocab_tiny.csv")
    assert list(df.path) == ["one-hot", "torch lookup", "fused lookup"] * 2
    assert df.seconds.gt(0).all() and df.iloc[:, 4].iloc[:3].gt(0).all()  # peak MB, lstm
    sys.path.insert(0, str(BENCH))
    from large_vocab import VOCAB, synthetic_text

    assert len(set(synthetic_text(chars=10))) == VOCAB  # every character at least once


def test_zoo_step_benchmark_tiny(tmp_path, corpus_text):
    subprocess.run([sys.executable, str(BENCH / "zoo_step.py"), "--tiny", "--out",
                    str(tmp_path)], check=True, capture_output=True, timeout=300)
    df = pd.read_csv(tmp_path / "zoo_step_tiny.csv")
    assert list(df.model) == ["lstm", "gru", "transformer", "mingru"]
    assert (df["ms per step (median)"] > 0).all() and (df["GFLOPs per step"] > 0).all()
    assert df.loc[df.model == "gru", "x gru's time"].iloc[0] == 1.0
    scans = pd.read_csv(tmp_path / "zoo_scan_tiny.csv")
    assert len(scans) == 3 and scans["x charlm's"].iloc[0] == 1.0
