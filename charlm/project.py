"""Where the project's own folders are: found once, here.

From a checkout (pip install -e), the notebooks are the checkout's notebooks/ and the latest
report's figures are copied into its figures/. Installed (pip install .), the notebooks ship in
the package (charlm/notebooks/), and nothing is ever written into site-packages: run folders and
the corpus go under the current folder (reports/, data/, or $CHARLM_DATA).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent


def in_checkout() -> bool:
    """True when charlm runs from its source tree (pip install -e), not from site-packages."""
    return (PROJECT_ROOT / "pyproject.toml").exists() and (PROJECT_ROOT / "notebooks").is_dir()


NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks" if in_checkout() else PACKAGE_DIR / "notebooks"
# the latest report's figures, for the README: a checkout's only (None: not copied)
FIGURES_DIR = PROJECT_ROOT / "figures" if in_checkout() else None
