"""The corpus at a glance: sizes, speakers, words (for 01_explore_data)."""

from __future__ import annotations

import re
from collections import Counter

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
