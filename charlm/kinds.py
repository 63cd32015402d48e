"""The model kinds charlm builds, by name, read from charlm/models/ without importing torch.

Each module of charlm/models/ declares the names it builds (`KINDS = ("mingru", "minlstm")`), so
adding a kind is adding one module (and its test). A model can also be the user's own class,
named by an import path: `package.module:Class` or `path/to/file.py:Class`.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
IMPORT_PATH = re.compile(r"(?P<target>[^@:\s]+):(?P<cls>[A-Za-z_]\w*)")
KIND_NAME = re.compile(r"[a-z][a-z0-9_]*")  # what a kind may be called (a model name adds -h, @)
RECURRENT = ("lstm", "gru", "rnn")  # charlm.models.rnn's: fused layers, stacked seeds (batched)
WORKDIR_ENV = "CHARLM_WORKDIR"  # where `charlm report` ran: file.py:Class is found there


@cache
def _declared() -> dict[str, tuple[str, tuple[str, ...] | None]]:
    """{kind: (its module of charlm.models, the ModelConfig fields it reads or None for all)},
    from each module's KINDS and READS literals."""
    out = {}
    for path in sorted(MODELS_DIR.glob("*.py")):
        literals = {t.id: node.value for node in ast.parse(path.read_text(encoding="utf-8")).body
                    if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name) and t.id in ("KINDS", "READS")}
        reads = ast.literal_eval(literals["READS"]) if "READS" in literals else None
        for kind in ast.literal_eval(literals.get("KINDS", ast.Tuple(elts=[]))):
            out[kind] = (path.stem, reads)
    return out


def kind_modules() -> dict[str, str]:
    """{kind: the module of charlm.models that builds it}."""
    return {kind: module for kind, (module, _) in _declared().items()}


def fields_read(cell: str) -> tuple[str, ...] | None:
    """The ModelConfig fields a kind's models read (None: every one, for the user's class)."""
    return None if is_import_path(cell) else _declared()[cell][1]


def has_width(cell: str) -> bool:
    """Whether a kind is sized by `width` (READS names it): matched to the LSTM's parameter
    count unless set, and what a model name's -h<size> sets (hidden_size for the others)."""
    reads = fields_read(cell)
    return reads is not None and "width" in reads


def kinds() -> tuple[str, ...]:
    """Every built-in kind's name, the reference's cells first."""
    return (*RECURRENT, *sorted(set(kind_modules()) - set(RECURRENT)))


def is_import_path(cell: str) -> bool:
    """Whether a model's kind names the user's class (`module:Class`, `file.py:Class`)."""
    return bool(IMPORT_PATH.fullmatch(str(cell)))


def model_label(model: str) -> str:
    """A model's name as the report prints it: a built-in name in capitals (GRU-H149), the
    user's class by its class name (examples/my_cell.py:MyCell -> MyCell)."""
    path = re.fullmatch(rf"{IMPORT_PATH.pattern}(@[a-z]+)?", str(model))
    return path.group("cls") + (path.group(3) or "") if path else str(model).upper()
