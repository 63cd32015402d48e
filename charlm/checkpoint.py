"""Checkpoints: a state_dict plus plain data, loadable with torch.load(weights_only=True); and
a model folder's other torch files (the per-window test results)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import torch

from charlm.atomic import atomic_write
from charlm.config import Configs
from charlm.data import Vocab
from charlm.errors import CheckpointError
from charlm.folder import ModelFolder
from charlm.kinds import is_import_path
from charlm.models import build
from charlm.models.imported import source_changes


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    """torch.save, atomically: a reader sees the old file or the new one, never half of one."""
    return atomic_write(path, lambda f: torch.save(obj, f), "wb")


def save_checkpoint(
    path: str | Path,
    model,
    optimizer_state: dict | None,
    vocab: Vocab,
    configs: Configs,
    history: list[dict],
    epoch: int,
) -> Path:
    """Write the checkpoint atomically."""
    path = Path(path)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer_state,
        "configs": configs.to_dict(),
        "vocab": vocab.to_json(),
        "history": history,
        "epoch": epoch,
        "width": getattr(model, "width", None),  # as built (a matched width is None in configs)
        "source": getattr(model, "source", None),  # the user's class: its file and sha256
        "rng": {"torch": torch.get_rng_state(),  # dropout on CUDA draws from CUDA's generators
                **({"cuda": torch.cuda.get_rng_state_all()} if torch.cuda.is_initialized()
                   else {})},
    }
    return atomic_torch_save(path, state)


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint onto the CPU; missing, truncated or foreign: CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"No checkpoint at {path}: train a model first (python -m charlm train)."
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged zip
        raise CheckpointError(
            f"The checkpoint {path} is unreadable (truncated or not a charlm checkpoint: {exc}). "
            "Delete it and train again; a run folder keeps the last complete checkpoint."
        ) from exc
    missing = {"model", "configs", "vocab", "history", "epoch"} - set(ckpt)
    if missing:
        raise CheckpointError(f"{path} is not a charlm checkpoint: it lacks {sorted(missing)}.")
    return ckpt


def configs_of(ckpt: dict) -> Configs:
    """The configs a checkpoint was trained with."""
    return Configs.from_dict(ckpt["configs"])


def built_config(ckpt: dict):
    """The ModelConfig a checkpoint's model was built at: its config, with the width it was
    matched to where the config leaves it to matching (should the matching change later)."""
    cfg = configs_of(ckpt).model
    if cfg.width is not None or ckpt.get("width") is None:
        return cfg
    return dataclasses.replace(cfg, width=ckpt["width"])


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    expect_cell: str | None = None,
    expect_vocab: Vocab | None = None,
):
    """Rebuild the model of a checkpoint: returns (model, vocab, checkpoint dict)."""
    ckpt = load_checkpoint(path)
    model, vocab = model_of(ckpt, path, expect_cell, expect_vocab)
    return model.to(device), vocab, ckpt


def model_of(ckpt: dict, path: str | Path = "the checkpoint", expect_cell: str | None = None,
             expect_vocab: Vocab | None = None):
    """The model and vocabulary of a loaded checkpoint (path only names it in errors)."""
    cfg = configs_of(ckpt).model
    vocab = Vocab.from_json(ckpt["vocab"])
    if expect_cell is not None and cfg.cell != expect_cell:
        raise CheckpointError(f"{path} holds a {cfg.cell} model, not the {expect_cell} asked for.")
    if expect_vocab is not None and expect_vocab != vocab:
        raise CheckpointError(
            f"{path} was trained on another vocabulary ({vocab.size} characters, this data has "
            f"{expect_vocab.size}): evaluate it on the text it was trained on."
        )
    if is_import_path(cfg.cell):  # the checkpoint holds its weights; the class is imported
        print(f"charlm: {path} holds a model of user code, {cfg.cell}: importing it to rebuild "
              "the model (its weights are plain tensors; nothing is unpickled)", file=sys.stderr)
    model = build(vocab.size, built_config(ckpt), configs_of(ckpt).data.seq_len)
    model.cfg = cfg
    changed = source_changes(ckpt.get("source"), getattr(model, "source", None))
    if changed:
        print(f"charlm: warning: {path}: {changed}; its weights are loaded into the class as it "
              "is now.", file=sys.stderr)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not fit a {cfg.cell} model: {exc}") from exc
    return model, vocab


def history_so_far(folder: ModelFolder) -> list[dict]:
    """The records of a model folder's finished epochs ([] before the first)."""
    return load_checkpoint(folder.checkpoint)["history"] if folder.checkpoint.exists() else []


def save_test_windows(folder: ModelFolder, per_window: dict) -> None:
    """Per-window results {starts, losses, correct} (tensors) of the final evaluation."""
    atomic_torch_save(folder.test_windows, per_window)


def load_test_windows(folder: ModelFolder) -> dict[str, Any]:
    """Per-window results as numpy arrays, in text order (sorted by window start)."""
    d = torch.load(folder.test_windows, weights_only=True)
    order = torch.argsort(d["starts"])
    return {k: v[order].numpy() for k, v in d.items()}
