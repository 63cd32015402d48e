"""Write requirements-lock.txt: every dependency of charlm and its extras (dev, lab, ray,
tensorboard), pinned with hashes, for every platform and Python that pyproject.toml claims
(`uv pip compile --universal`), torch left out (each machine installs its own build first:
CPU, CUDA, MPS).

    python .ci/lock.py            # `make lock`: needs uv (pip install uv)

The versions already in the lock are kept where they still fit (uv reads the old file as its
preferences); `--upgrade` takes the newest that pyproject's ranges allow.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: make lock installs tomli beside uv
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"
EXTRAS = ("dev", "lab", "ray", "tensorboard")
HEADER = """\
# Exact versions of charlm's dependencies with its {extras} extras, with their hashes: what CI
# installs and tests (.ci/run; make setup LOCK=1). For every platform and Python >= {python}
# (`uv pip compile --universal`; markers pick each one's versions). torch is left out: install
# your build of it first, then this file, then charlm with --no-deps. Made by `make lock`
# (.ci/lock.py).
"""


def requirements() -> tuple[list[str], str]:
    """pyproject's dependencies and extras, torch left out; and its lowest Python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [r for r in project["dependencies"] if not re.match(r"torch\b", r)]
    for extra in EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return reqs, project["requires-python"].removeprefix(">=")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upgrade", action="store_true", help="the newest versions that fit")
    args = ap.parse_args(argv)
    reqs, python = requirements()
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "requirements.in", Path(tmp) / "lock.txt"
        source.write_text("\n".join(reqs) + "\n", encoding="utf-8")
        if LOCK.exists() and not args.upgrade:
            out.write_text(LOCK.read_text(encoding="utf-8"), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "uv", "pip", "compile", str(source), "--universal",
                        "--python-version", python, "--generate-hashes", "--no-header",
                        "--annotation-style", "line", "-q", "-o", str(out)], check=True)
        body = out.read_text(encoding="utf-8").replace(str(source), "pyproject.toml")
    LOCK.write_text(HEADER.format(extras=", ".join(EXTRAS), python=python) + body,
                    encoding="utf-8")
    print(f"wrote {LOCK}")


if __name__ == "__main__":
    main()
