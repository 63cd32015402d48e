"""Atomic writes give a file the permissions a plain open() would (not mkstemp's 0600), write
text as UTF-8 whatever the locale, and wait a moment for a reader holding the file."""

import os
import stat
import subprocess
import sys

import pytest

from charlm import atomic
from charlm.atomic import atomic_write_json, atomic_write_text

posix = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@posix
@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_follow_the_umask(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        path = atomic_write_json(tmp_path / "metrics.json", {"a": 1})
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert _mode(path) == expected == _mode(plain)


@posix
def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "report.md"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_text_is_utf8_whatever_the_locale_says(tmp_path):
    """Windows' locale encoding (cp1252) would garble a report under <meta charset=utf-8>, or
    raise on a sample outside cp1252. Python warns of every open() that leans on the locale
    (-X warn_default_encoding); made an error, it proves charlm's writes and reads name UTF-8."""
    code = ("import sys, json; from charlm.atomic import atomic_write_text, atomic_write_json\n"
            "from charlm.experiment.run import Run\n"
            "atomic_write_text(sys.argv[1] + '/report.html', 'Ω ß — 你好\\n')\n"
            "run = Run(sys.argv[1]); atomic_write_json(run.steps_file, {'é': 1})\n"
            "assert run.read_steps() == {'é': 1}\n")
    done = subprocess.run([sys.executable, "-X", "warn_default_encoding", "-W",
                           "error::EncodingWarning", "-c", code, str(tmp_path)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONUTF8": "0"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report.html").read_bytes() == "Ω ß — 你好\n".encode()


def test_a_file_held_by_a_reader_is_waited_for_then_named(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("old")
    real, refusals = os.replace, []

    def held(src, dst):
        if len(refusals) < 3:  # Windows, while a browser reads the file
            refusals.append(dst)
            raise PermissionError(13, "held")
        real(src, dst)

    monkeypatch.setattr(atomic.time, "sleep", lambda s: None)
    monkeypatch.setattr(atomic, "RETRY_EVERYWHERE", True)  # as on Windows
    monkeypatch.setattr(atomic.os, "replace", held)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and len(refusals) == 3
    refusals.clear()
    monkeypatch.setattr(atomic, "REPLACE_TRIES", 2)
    with pytest.raises(PermissionError, match="another program holds it open.*Close it"):
        atomic_write_text(path, "newer")
    assert path.read_text() == "new" and not list(tmp_path.glob(".*.tmp"))
