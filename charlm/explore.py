"""The corpus at a glance: sizes, speakers, words (for 01_explore_data)."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

from charlm.config import DataConfig
from charlm.data import Vocab, split_starts


def overview(text: str, cfg: DataConfig) -> pd.DataFrame:
    """Characters, vocabulary, windows and the split sizes, as a two-column table."""
    vocab = Vocab.from_text(text)
    n_windows = len(text) - cfg.seq_len
    train, test = split_starts(n_windows, cfg.train_frac, cfg.split, cfg.split_seed)
    rows = {
        "characters": f"{len(text):,}",
        "lines": f"{text.count(chr(10)):,}",
        "vocabulary size": vocab.size,
        "vocabulary": "".join(vocab.chars).replace("\n", "\\n"),
        "sequence length": cfg.seq_len,
        "windows": f"{n_windows:,}",
        "training windows": f"{train.numel():,} ({cfg.split} split)",
        "test windows": f"{test.numel():,}",
    }
    return pd.DataFrame({"quantity": list(rows), "value": list(rows.values())})


def top_speakers(text: str, n: int = 10) -> pd.DataFrame:
    """Most frequent speakers: lines that are a name in capitals followed by a colon."""
    names = re.findall(r"^([A-Z][A-Za-z' ]+):$", text, flags=re.M)
    return pd.DataFrame(Counter(names).most_common(n), columns=["speaker", "speeches"])


def top_words(text: str, n: int = 15) -> pd.DataFrame:
    words = re.findall(r"[a-z']+", text.lower())
    return pd.DataFrame(Counter(words).most_common(n), columns=["word", "count"])
