import os

import pytest

from charlm.data import default_corpus_path, load_text


@pytest.fixture(scope="session")
def corpus_text() -> str:
    """The real corpus; CI copies it into data/. Elsewhere, skip when it cannot be had."""
    if not default_corpus_path().exists() and not os.environ.get("CI"):
        pytest.skip("Tiny Shakespeare is not in data/ (run `make data`)")
    return load_text()


@pytest.fixture(scope="session")
def small_text(corpus_text) -> str:
    return corpus_text[:30_000]
