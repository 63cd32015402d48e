"""Where the project's own folders are: found once, here."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
FIGURES_DIR = PROJECT_ROOT / "figures"  # the latest report's figures, for the README


def in_checkout() -> bool:
    """True when charlm runs from its source tree (pip install -e), not from site-packages."""
    return (PROJECT_ROOT / "pyproject.toml").exists()
