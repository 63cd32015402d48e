"""The corpus at a glance: sizes, speakers, words (for 01_explore_data)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from charlm.config import DataConfig
from charlm.data import make_windows


def overview(text: str, cfg: DataConfig) -> pd.DataFrame:
    """Characters, vocabulary, windows and the split sizes, as a two-column table."""
    windows = make_windows(cfg, text=text)
    rows = {
        "characters": f"{windows.data.numel():,}",
        "lines": f"{text[: cfg.max_chars].count(chr(10)):,}",
        "vocabulary size": windows.vocab.size,
        "vocabulary": "".join(windows.vocab.chars).replace("\n", "\\n"),
        "sequence length": windows.seq_len,
        "windows": f"{windows.n_windows:,}",
        "training windows": f"{windows.train_starts.numel():,} ({windows.split} split)",
        "validation windows": (f"{windows.val_starts.numel():,} ({cfg.val_frac:.0%} of the "
                               "training share)" if cfg.val_frac else "none"),
        "test windows": f"{windows.test_starts.numel():,} (read once, after training)",
    }
    return pd.DataFrame({"quantity": list(rows), "value": list(rows.values())})


def top_speakers(text: str, n: int = 10) -> pd.DataFrame:
    """Most frequent speakers: lines that are a name in capitals followed by a colon."""
    names = re.findall(r"^([A-Z][A-Za-z' ]+):$", text, flags=re.M)
    return pd.DataFrame(Counter(names).most_common(n), columns=["speaker", "speeches"])


def top_words(text: str, n: int = 15) -> pd.DataFrame:
    words = re.findall(r"[a-z']+", text.lower())
    return pd.DataFrame(Counter(words).most_common(n), columns=["word", "count"])


def unigram_entropy(text: str) -> float:
    """The entropy of the character frequencies, in nats: the loss of a model without context."""
    counts = np.array(list(Counter(text).values()), dtype=float)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def real_word_share(text: str, samples: pd.DataFrame) -> pd.Series:
    """Per model (the samples' `model` column, in its order), the share of the words of its
    samples that are words of the corpus."""
    known = set(re.findall(r"[a-z']+", text.lower()))
    shares = {}
    for model, rows in samples.groupby("model", sort=False):
        words = re.findall(r"[a-z']+", " ".join(rows["text"]).lower())
        shares[model] = sum(w in known for w in words) / max(len(words), 1)
    return pd.Series(shares)


def facts(text: str, cfg: DataConfig) -> dict:
    """What notebook 01 says of the run's text: its size, vocabulary, the entropy of its
    character frequencies (nats) and its number of test windows."""
    windows = make_windows(cfg, text=text)
    return {"characters": windows.data.numel(), "vocabulary": windows.vocab.size,
            "entropy": unigram_entropy(text[: cfg.max_chars]),
            "test_windows": windows.test_starts.numel()}
