"""Atomic writes give a file the permissions a plain open() would (not mkstemp's 0600)."""

import os
import stat

import pytest

from charlm.atomic import atomic_write_json, atomic_write_text

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


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


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "report.md"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
