"""A large vocabulary (6,310 characters) on this machine: evaluation one-hot against charlm's
lookups, side by side in one run, and the whole `fast` report on such a text.

This machine has no internet, so the text is a synthetic stand-in of the multilingual one that
issue 22 tried (9.8 million characters; English, German, Spanish, Russian, Bulgarian, Chinese;
6,310 distinct): Tiny Shakespeare as English, as "German" and "Spanish" (letters swapped for
their accented ones), as "Russian" and "Bulgarian" (transliterated into Cyrillic), and "Chinese"
drawn from CJK ideographs with Zipf frequencies, cut and mixed to the same size and vocabulary.
What is measured (the time and memory of a vocabulary this wide) depends on those sizes only.

    python benchmarks/large_vocab.py             # forward passes (a minute), then the report
    python benchmarks/large_vocab.py --no-report # the forward passes only
    python benchmarks/large_vocab.py --tiny      # seconds (used by the tests)

Writes benchmarks/results/large_vocab.{md,csv} (and large_vocab_report.md), or under --out.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from common import RESULTS, write

from charlm.config import ModelConfig
from charlm.data import default_corpus_path, load_text
from charlm.experiment.environment import describe_environment
from charlm.experiment.run import Run
from charlm.fused import fused_rnn
from charlm.models import CharRNN
from charlm.report.tables import hardware_line

VOCAB, CHARS = 6_310, 9_800_000
CYRILLIC = dict(zip("abcdefghijklmnopqrstuvwxyz", "абцдефгхийклмнопярстуввхыз"))
ACCENTS = {"german": dict(zip("aousAOU", "äöüßÄÖÜ")),
           "spanish": dict(zip("aeiounAEI", "áéíóúñÁÉÍ"))}


def synthetic_text(chars: int = CHARS, vocab: int = VOCAB, seed: int = 0) -> str:
    """About `chars` characters with exactly `vocab` distinct ones (see the module's text)."""
    english = load_text(default_corpus_path())
    parts = [english,
             english.translate(str.maketrans(ACCENTS["german"])),
             english.translate(str.maketrans(ACCENTS["spanish"])),
             english.translate(str.maketrans(CYRILLIC)),
             english.upper().translate(str.maketrans({k.upper(): v.upper()
                                                      for k, v in CYRILLIC.items()}))]
    latin = "".join(parts)
    left = vocab - len(set(latin)) - 2  # CJK ideographs, and the two CJK punctuation marks
    rng = np.random.default_rng(seed)
    ideographs = np.array([chr(0x4E00 + i) for i in range(left)])
    n = max(int((chars - len(latin)) * 16 / 17), left)  # 1 mark per 16 ideographs
    zipf = 1.0 / np.arange(1, left + 1)
    drawn = rng.choice(left, size=n, p=zipf / zipf.sum())
    drawn[:left] = np.arange(left)  # every ideograph at least once
    rng.shuffle(drawn)
    flat = "".join(ideographs[drawn])
    clauses = [flat[i:i + 16] for i in range(0, len(flat), 16)]
    chinese = "".join(c + ("。" if i % 5 == 4 else "，") for i, c in enumerate(clauses))
    text = latin + chinese
    assert len(set(text)) == vocab, len(set(text))
    return text


def forward_seconds(way: str, model: CharRNN, x: torch.Tensor, repeats: int) -> float:
    """Median seconds of one evaluation forward (last position only) of the windows x."""
    def once():
        if way == "one-hot":  # before: the torch layers on a one-hot tensor
            out, _ = model.rnn(F.one_hot(x, model.vocab_size).float())
            return model.head(out[:, -1])
        if way == "torch lookup":  # generation and CUDA's path: W_ih's columns, an identity
            return model.head(model._lookup_rnn(x, None)[0][:, -1])
        return model.head(fused_rnn(model.rnn, x, True)[-1])  # the CPU evaluation's path

    times = []
    with torch.inference_mode():
        once()  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            once()
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def peak_mb(way: str, windows: int) -> float:
    """Peak resident memory of a fresh process evaluating `windows` windows one way."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import torch, "
            f"large_vocab as lv, resource; from charlm.models import CharRNN; "
            f"from charlm.config import ModelConfig; torch.manual_seed(0); "
            f"m = CharRNN({VOCAB}, ModelConfig('lstm')).eval(); "
            f"x = torch.randint(0, {VOCAB}, ({windows}, 20)); "
            f"lv.forward_seconds({way!r}, m, x, 1); "
            f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


WAYS = ("one-hot", "torch lookup", "fused lookup")


def forward_table(batch: int, repeats: int, memory_windows: int) -> pd.DataFrame:
    # the peaks first, while this process is small: a child's peak counts what it was forked
    # from (Linux keeps the high-water mark across exec)
    peaks = {way: peak_mb(way, memory_windows) for way in WAYS}
    torch.manual_seed(0)
    rows = []
    for cell in ("lstm", "gru"):
        model = CharRNN(VOCAB, ModelConfig(cell)).eval()
        x = torch.randint(0, VOCAB, (batch, 20))
        for way in WAYS:  # interleaved per cell
            rows.append({"cell": cell, "path": way, "windows": batch,
                         "seconds": forward_seconds(way, model, x, repeats),
                         f"peak MB at {memory_windows:,} windows (LSTM, a fresh process)":
                             peaks[way] if cell == "lstm" else np.nan})
    df = pd.DataFrame(rows)
    df["x faster than one-hot"] = [
        df[(df.cell == r.cell) & (df.path == "one-hot")].seconds.iloc[0] / r.seconds
        for r in df.itertuples()]
    return df


def report_run(text: str, out: Path, overrides: list[str]) -> dict:
    """`charlm report --profile fast` with `overrides` on the text: seconds, peak memory of the
    process and its kernels, the test losses."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "multilingual.txt"
        corpus.write_text(text, encoding="utf-8")
        args = [sys.executable, "-m", "charlm", "report", "--profile", "fast", "--name", "big",
                "--reports-dir", str(Path(tmp) / "reports"), "-p", f"corpus={corpus}",
                *[a for o in overrides for a in ("-p", o)]]
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        (out / "large_vocab_report.log").write_text(done.stdout + done.stderr)
        if done.returncode:
            raise SystemExit(f"the report failed: see {out / 'large_vocab_report.log'}")
        big = Run(Path(tmp) / "reports" / "big")
        runs, steps = big.read_metrics()["runs"], big.read_steps()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    said = [line for line in done.stderr.splitlines() if line.startswith("charlm: about ")]
    return {"command": "charlm report --profile fast " + " ".join(f"-p {o}" for o in overrides),
            "estimate said up front": said[0] if said else None,
            "characters": len(text), "vocabulary": len(set(text)), "seconds": seconds,
            "peak MB (largest process)": peak,
            "notebook seconds": {k: round(v.get("seconds", 0)) for k, v in steps.items()},
            "test loss": dict(zip(runs.model, runs.test_loss.round(4)))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="a few windows, no report (tests)")
    ap.add_argument("--no-report", action="store_true", help="the forward passes only")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.tiny:
        df = forward_table(batch=64, repeats=1, memory_windows=64)
        write("large_vocab_tiny", df, "Large vocabulary, tiny (a test)", args.out)
        return
    if not args.no_report:  # first: the peak memory of this process's children is its own
        text = synthetic_text()
        row = report_run(text, args.out, ["epochs=1", "max_steps=100"])
        (args.out / "large_vocab_report.md").write_text(
            "# `charlm report` on a 6,310-character text\n\n"
            f"Machine: {hardware_line(describe_environment())}, {time.strftime('%Y-%m-%d')}. "
            "The synthetic stand-in of benchmarks/large_vocab.py, one epoch of 100 steps per "
            "model (the run issue 22 tried).\n\n```json\n" + json.dumps(row, indent=2)
            + "\n```\n")
        print(json.dumps(row, indent=2))
    df = forward_table(batch=1024, repeats=5, memory_windows=4096)
    write("large_vocab", df, f"Evaluation forward at {VOCAB:,} characters: 2x128 models, "
          "1,024 windows of 20, last position (median of 5)", args.out)


if __name__ == "__main__":
    main()
