import hashlib
import io

import pytest
import torch

from charlm import data as data_mod
from charlm.config import DataConfig
from charlm.data import CORPUS_SHA256, Vocab, get_batch, load_text, make_windows, split_starts
from charlm.errors import CorpusError, VocabularyError


def test_real_corpus_shape(corpus_text):
    assert len(corpus_text) == 1_115_394
    assert hashlib.sha256(corpus_text.encode()).hexdigest() == CORPUS_SHA256
    assert Vocab.from_text(corpus_text).size == 65


@pytest.mark.parametrize("split", ["random", "contiguous"])
def test_windows_and_split_sizes(corpus_text, split):
    w = make_windows(DataConfig(split=split), text=corpus_text)
    assert w.n_windows == 1_115_374
    assert (w.train_starts.numel(), w.test_starts.numel()) == (892_299, 223_075)
    both = torch.cat([w.train_starts, w.test_starts])
    assert torch.equal(both.sort().values, torch.arange(1_115_374))  # disjoint, each once
    if split == "contiguous":
        assert w.train_starts.max() < w.test_starts.min()


def test_targets_line_up_with_text(corpus_text):
    w = make_windows(DataConfig(), text=corpus_text)
    starts = w.train_starts[:50]
    x, y = get_batch(w.data, starts, 20, "last")
    for s, xi, yi in zip(starts.tolist(), x, y):
        assert w.vocab.decode(xi) == corpus_text[s : s + 20]
        assert w.vocab.decode([yi]) == corpus_text[s + 20]
    x, y_all = get_batch(w.data, starts, 20, "all")
    assert torch.equal(y_all[:, -1], y) and torch.equal(y_all[:, :-1], x[:, 1:])


def test_random_split_is_seeded():
    a, _, _ = split_starts(1000, 0.8, "random", 0)
    b, _, _ = split_starts(1000, 0.8, "random", 0)
    c, _, _ = split_starts(1000, 0.8, "random", 1)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("split", ["random", "contiguous"])
def test_validation_is_carved_out_of_the_training_windows(split):
    train0, val0, test0 = split_starts(1000, 0.8, split, 0)
    train, val, test = split_starts(1000, 0.8, split, 0, val_frac=0.1)
    assert val0.numel() == 0 and val.numel() == 80 and train.numel() == 720
    assert torch.equal(test, test0)  # the test windows do not depend on val_frac
    assert torch.equal(torch.cat([train, val]).sort().values, train0.sort().values)
    if split == "contiguous":  # the text just before the test part
        assert train.max() < val.min() and val.max() < test.min()


def test_held_out_targets_are_masked(small_text):
    w = make_windows(DataConfig(val_frac=0.1), text=small_text)
    mask = w.held_out_target_mask()
    assert mask[w.test_starts + 20].all() and mask[w.val_starts + 20].all()
    assert not mask[w.train_starts + 20].any()
    assert mask.sum() == w.test_starts.numel() + w.val_starts.numel()


def test_encode_decode_round_trip(corpus_text):
    vocab = Vocab.from_text(corpus_text)
    sample = corpus_text[1000:3000]
    assert vocab.decode(vocab.encode(sample)) == sample
    assert Vocab.from_json(vocab.to_json()) == vocab


def test_unknown_characters_are_listed():
    vocab = Vocab.from_text("abc ")
    with pytest.raises(VocabularyError, match=r"'x', 'é'"):
        vocab.encode("a béx")


def test_corrupt_copy_is_rejected(tmp_path, corpus_text):
    bad = tmp_path / "tinyshakespeare.txt"
    bad.write_text(corpus_text.replace("ROMEO", "ROMEX", 1))
    with pytest.raises(CorpusError, match="corrupt.*expected " + CORPUS_SHA256):
        load_text(bad)


def test_own_text_needs_no_checksum(tmp_path):
    own = tmp_path / "mine.txt"
    own.write_text("hello world, " * 50)
    w = make_windows(DataConfig(corpus=str(own)))
    assert w.vocab.size == len(set("hello world, "))


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"\xff\xfe\xfa", "not UTF-8")])
def test_bad_own_text(tmp_path, content, match):
    f = tmp_path / "mine.txt"
    f.write_bytes(content)
    with pytest.raises(CorpusError, match=match):
        load_text(f)


def test_missing_named_file(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_text(tmp_path / "nope.txt")


class _FakeResponse(io.BytesIO):
    headers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_verifies_and_writes_atomically(tmp_path, monkeypatch, corpus_text):
    target = tmp_path / "data" / "tinyshakespeare.txt"
    monkeypatch.setenv("CHARLM_DATA", str(target))
    monkeypatch.setattr(
        data_mod.urllib.request,
        "urlopen",
        lambda url, timeout: _FakeResponse(corpus_text.encode()),
    )
    assert load_text() == corpus_text
    assert target.read_text() == corpus_text
    assert [p.name for p in target.parent.iterdir()] == ["tinyshakespeare.txt"]


def test_bad_download_writes_nothing(tmp_path, monkeypatch):
    target = tmp_path / "tinyshakespeare.txt"
    monkeypatch.setenv("CHARLM_DATA", str(target))
    monkeypatch.setattr(
        data_mod.urllib.request, "urlopen", lambda url, timeout: _FakeResponse(b"not the corpus")
    )
    with pytest.raises(CorpusError, match="expected " + CORPUS_SHA256):
        load_text()
    assert list(tmp_path.iterdir()) == []


def test_no_network_says_how_to_fix(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise OSError("network unreachable")

    monkeypatch.setenv("CHARLM_DATA", str(tmp_path / "tinyshakespeare.txt"))
    monkeypatch.setattr(data_mod.urllib.request, "urlopen", offline)
    with pytest.raises(CorpusError, match="(?s)network unreachable.*by hand"):
        load_text()
    assert list(tmp_path.iterdir()) == []
