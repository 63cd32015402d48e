"""Corpus, vocabulary, windows and split.

How windows and targets line up (seq_len = 4 here, 20 in the reference)::

    text     T  h  e     q  u  i  c  k
    index    0  1  2  3  4  5  6  7  8
    window 0 [T  h  e  _] -> q            input text[0:4], target text[4]
    window 1    [h  e  _  q] -> u         input text[1:5], target text[5]
    ...
    window i: input text[i : i + seq_len], target text[i + seq_len]

So n_chars - seq_len windows; they are never copied: a batch gathers
`data[starts[:, None] + arange(seq_len)]` from the one encoded tensor, on the training device.
Objective "all" also trains position t of a window on text[i + t + 1] (the `all` targets).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from charlm.atomic import atomic_write_bytes
from charlm.config import DataConfig
from charlm.errors import CorpusError, VocabularyError
from charlm.project import PROJECT_ROOT, in_checkout

CORPUS_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
CORPUS_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
CORPUS_NAME = "tinyshakespeare.txt"


CORPUS_ENV = "CHARLM_DATA"  # where Tiny Shakespeare is (a file path), instead of data/


def default_corpus_path() -> Path:
    """$CHARLM_DATA if set, else data/tinyshakespeare.txt of the project (or of the cwd)."""
    if os.environ.get(CORPUS_ENV):
        return Path(os.environ[CORPUS_ENV]).expanduser()
    root = PROJECT_ROOT if in_checkout() else Path.cwd()
    return root / "data" / CORPUS_NAME


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _by_hand(path: Path) -> str:
    return (
        f"Put the file in place by hand: download {CORPUS_URL}\n"
        f"save it as {path} (sha256 {CORPUS_SHA256}), or set CHARLM_DATA to a verified copy."
    )


def download_corpus(path: Path, url: str = CORPUS_URL, sha256: str = CORPUS_SHA256) -> None:
    """Download Tiny Shakespeare to `path` with a progress bar; verify, then write atomically."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            chunks = []
            with tqdm(total=total, unit="B", unit_scale=True, desc="download corpus") as bar:
                while chunk := response.read(1 << 16):
                    chunks.append(chunk)
                    bar.update(len(chunk))
    except OSError as exc:
        raise CorpusError(f"Could not download the corpus from {url}: {exc}.\n{_by_hand(path)}")
    data = b"".join(chunks)
    if _sha256(data) != sha256:
        raise CorpusError(
            f"The download from {url} has sha256 {_sha256(data)}, expected {sha256}; "
            f"nothing was written.\n{_by_hand(path)}"
        )
    atomic_write_bytes(path, data)


def is_tiny_shakespeare(path: Path) -> bool:
    return path.name == CORPUS_NAME


def load_text(path: str | Path | None = None, download: bool = True) -> str:
    """Return the corpus text.

    path: a UTF-8 text file; None or "" means Tiny Shakespeare at `default_corpus_path()`,
    downloaded
    (and verified) if missing. A file named tinyshakespeare.txt is always checked against its
    sha256; any other file is the user's own text and is taken as it is.
    """
    named = bool(path)
    path = Path(path).expanduser() if named else default_corpus_path()
    if not path.exists():
        if named and not is_tiny_shakespeare(path):
            raise CorpusError(f"The corpus file {path} does not exist: check the path.")
        if not download:
            raise CorpusError(f"The corpus {path} is missing.\n{_by_hand(path)}")
        download_corpus(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"Could not read the corpus {path}: {exc}.")
    if is_tiny_shakespeare(path) and _sha256(raw) != CORPUS_SHA256:
        raise CorpusError(
            f"The corpus {path} is corrupt: sha256 {_sha256(raw)}, expected {CORPUS_SHA256}. "
            f"Delete it to download it again.\n{_by_hand(path)}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"The corpus {path} is not UTF-8 text ({exc}); convert it to UTF-8.")
    if not text:
        raise CorpusError(f"The corpus {path} is empty: it needs text to learn from.")
    return text


def load_corpus(cfg: DataConfig) -> str:
    """The text a DataConfig names, cut to its first max_chars characters if set."""
    return load_text(cfg.corpus)[: cfg.max_chars]


@dataclass(frozen=True)
class Vocab:
    """The sorted distinct characters of a text; index i stands for chars[i]."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls(tuple(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    @property
    def stoi(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def unknown(self, text: str) -> list[str]:
        known = set(self.chars)
        return sorted({c for c in text if c not in known})

    def encode(self, text: str) -> list[int]:
        missing = self.unknown(text)
        if missing:
            raise VocabularyError(
                f"{len(missing)} character(s) not in the vocabulary: "
                f"{', '.join(repr(c) for c in missing)}. Remove or replace them; the vocabulary "
                f"has {self.size} characters: {''.join(self.chars)!r}."
            )
        stoi = self.stoi
        return [stoi[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def to_json(self) -> str:
        return json.dumps({"chars": list(self.chars)})

    @classmethod
    def from_json(cls, s: str) -> Vocab:
        return cls(tuple(json.loads(s)["chars"]))


@dataclass
class Windows:
    """The encoded text and the start indices of the training, validation and test windows.

    Validation windows are carved out of the training share (DataConfig.val_frac), so the test
    windows are the same with or without them; per-epoch evaluation and every choice read
    validation, and the test windows are read once, after the last epoch.
    """

    data: torch.Tensor  # (n_chars,) int64, on the training device
    train_starts: torch.Tensor  # (n_train,) int64
    val_starts: torch.Tensor  # (n_val,) int64, empty when val_frac is 0
    test_starts: torch.Tensor  # (n_test,) int64
    seq_len: int
    vocab: Vocab
    split: str

    @property
    def n_windows(self) -> int:
        return self.data.numel() - self.seq_len

    def to(self, device: torch.device | str) -> Windows:
        move = lambda t: t.to(device)  # noqa: E731
        return Windows(
            move(self.data),
            move(self.train_starts),
            move(self.val_starts),
            move(self.test_starts),
            self.seq_len,
            self.vocab,
            self.split,
        )

    def held_out_target_mask(self) -> torch.Tensor:
        """Bool per character: True where it is the target of a validation or test window.

        Objective "all" skips these targets, so no held-out target is ever a training target
        (the reference's "last" objective has that property by construction).
        """
        mask = torch.zeros(self.data.numel(), dtype=torch.bool, device=self.data.device)
        mask[self.test_starts + self.seq_len] = True
        mask[self.val_starts + self.seq_len] = True
        return mask



def split_starts(n_windows: int, train_frac: float, split: str, seed: int,
                 val_frac: float = 0.0):
    """Start indices of (train, validation, test) windows.

    int(train_frac * n) windows for training and validation, the rest test; validation is the
    last int(val_frac * n_train) of the training share (random: a random subset; contiguous: the
    text just before the test part). The test windows do not depend on val_frac.
    """
    n_train = int(train_frac * n_windows)
    n_val = int(val_frac * n_train)
    if n_train - n_val < 1 or n_train >= n_windows or (val_frac > 0 and n_val < 1):
        raise CorpusError(
            f"{n_windows} windows cannot be split {train_frac:.2f}/{1 - train_frac:.2f} (with "
            f"{val_frac:.0%} of the training share for validation) into non-empty sets: use a "
            "longer text or a shorter seq_len."
        )
    if split == "random":
        order = torch.randperm(n_windows, generator=torch.Generator().manual_seed(seed))
    else:
        order = torch.arange(n_windows)
    return (order[: n_train - n_val].clone(), order[n_train - n_val : n_train].clone(),
            order[n_train:].clone())


MIN_TEST_WINDOWS = 200  # fewer, and the test-set noise swamps any difference between models
MIN_VAL_WINDOWS = 50  # fewer, and a choice on validation is a coin toss


def _split_sizes(n_chars: int, cfg: DataConfig) -> tuple[int, int]:
    """(test windows, validation windows) of a text of n_chars characters."""
    n_windows = max(n_chars - cfg.seq_len, 0)
    n_train = int(cfg.train_frac * n_windows)
    return n_windows - n_train, int(cfg.val_frac * n_train)


def _enough(n_chars: int, cfg: DataConfig) -> bool:
    n_test, n_val = _split_sizes(n_chars, cfg)
    return n_test >= MIN_TEST_WINDOWS and (not cfg.val_frac or n_val >= MIN_VAL_WINDOWS)


def check_comparable(cfg: DataConfig, text: str) -> None:
    """Refuse, before any training, a text too short for a comparison: a report with 5 test
    windows would print intervals and verdicts that mean nothing. `text` is the cut corpus."""
    if _enough(len(text), cfg):
        return
    n_test, n_val = _split_sizes(len(text), cfg)
    few = [f"{n:,} {what} windows (at least {least} needed)" for n, what, least in
           ((n_test, "test", MIN_TEST_WINDOWS), (n_val, "validation", MIN_VAL_WINDOWS))
           if n < least and (what == "test" or cfg.val_frac > 0)]
    need = cfg.seq_len + math.ceil(max(MIN_TEST_WINDOWS / (1 - cfg.train_frac),
                                       MIN_VAL_WINDOWS / (cfg.train_frac * cfg.val_frac)
                                       if cfg.val_frac else 0))
    while _enough(need - 1, cfg):  # the estimate, to the rounding of the split
        need -= 1
    while not _enough(need, cfg):
        need += 1
    cut = cfg.max_chars is not None and len(text) == cfg.max_chars
    raise CorpusError(
        f"The text has {len(text):,} characters: {' and '.join(few)} with seq_len "
        f"{cfg.seq_len}, train_frac {cfg.train_frac} and val_frac {cfg.val_frac}. Too few "
        f"to compare models: use a text of at least {need:,} characters"
        + (f" (max_chars={cfg.max_chars:,} cuts this one: raise it)." if cut else ".")
    )


def make_windows(cfg: DataConfig, text: str | None = None, vocab: Vocab | None = None) -> Windows:
    """Load (or take) the text, build the vocabulary and the train/test split of windows."""
    text = load_corpus(cfg) if text is None else text[: cfg.max_chars]
    vocab = vocab or Vocab.from_text(text)
    data = torch.tensor(vocab.encode(text), dtype=torch.long)
    n_windows = data.numel() - cfg.seq_len
    if n_windows < 2:
        raise CorpusError(
            f"The text has {data.numel()} characters: too short for windows of {cfg.seq_len}."
        )
    train, val, test = split_starts(n_windows, cfg.train_frac, cfg.split, cfg.split_seed,
                                    cfg.val_frac)
    return Windows(data, train, val, test, cfg.seq_len, vocab, cfg.split)


def get_batch(data: torch.Tensor, starts: torch.Tensor, seq_len: int, objective: str = "last"):
    """Gather a batch on data's device: x (..., seq_len); y (...) "last", (..., seq_len) "all".

    starts: (B,) for one model, or (K, B) for K models trained together.
    """
    offsets = torch.arange(seq_len, device=data.device)
    x = data[starts[..., None] + offsets]  # (..., T)
    if objective == "last":
        return x, data[starts + seq_len]  # (...)
    return x, data[starts[..., None] + offsets + 1]  # (..., T)
