"""The user's own model: a class named by an import path, built from the run's parameters.

The protocol: an `nn.Module` whose constructor takes `vocab_size` as a keyword (and whatever
else it declares: filled by name from the run's parameters, or refused by name), and whose
`forward(x)` maps (B, T) character ids (long) to (B, T, vocab_size) logits, or to
(logits, state); one that also takes `state=` is given the state it returned.

`package.module:Class` is imported; `path/to/file.py:Class` is loaded from the file: an absolute
path, or one relative to the folder the command ran in ($CHARLM_WORKDIR, which `charlm report`
sets for its notebooks), to the current folder, or to the checkout (examples/).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path

import torch
import torch.nn as nn

from charlm.config import ModelConfig
from charlm.errors import ParameterError
from charlm.kinds import IMPORT_PATH, WORKDIR_ENV
from charlm.project import PROJECT_ROOT

KINDS = ()  # no names of its own: import paths (charlm.kinds.is_import_path)


def find_file(target: str) -> Path:
    """The file of `path/to/file.py`, where the module docstring says it is looked for."""
    path = Path(target).expanduser()
    bases = [Path(os.environ[WORKDIR_ENV])] if os.environ.get(WORKDIR_ENV) else []
    for candidate in [path] if path.is_absolute() else [b / path for b in
                                                        [*bases, Path.cwd(), PROJECT_ROOT]]:
        if candidate.is_file():
            return candidate.resolve()
    raise ParameterError(f"model {target!r}: no such file (looked in the folder the command ran "
                         "in, the current folder and the checkout): give the file's path, "
                         "e.g. examples/my_cell.py:MyCell.")


def find_class(cell: str) -> type:
    """The class an import path names; a clear error where it cannot be found or is not a
    torch module."""
    m = IMPORT_PATH.fullmatch(cell)
    if not m:
        raise ParameterError(f"model {cell!r} is not an import path (module:Class, file.py:Class)")
    target, name = m.group("target"), m.group("cls")
    try:
        if target.endswith(".py"):
            path = find_file(target)
            module_name = f"charlm_user_{path.stem}_{hashlib.sha1(bytes(path)).hexdigest()[:8]}"
            module = sys.modules.get(module_name)
            if module is None:
                spec = importlib.util.spec_from_file_location(module_name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
        else:  # from the folder the command ran in too, as `python -m charlm` there would
            for folder in (os.environ.get(WORKDIR_ENV), str(Path.cwd())):  # (the `charlm`
                if folder and folder not in sys.path:  # script's sys.path lacks it)
                    sys.path.append(folder)
            module = importlib.import_module(target)
    except ParameterError:
        raise
    except Exception as exc:  # the user's code failed to import: say whose and why
        sys.modules.pop(locals().get("module_name", ""), None)
        raise ParameterError(f"model {cell!r}: importing {target} failed: "
                             f"{type(exc).__name__}: {exc}") from exc
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ParameterError(f"model {cell!r}: {target} has no torch.nn.Module subclass named "
                             f"{name!r}.")
    return cls


def constructor_args(cls: type, known: dict, extra: dict) -> dict:
    """The keyword arguments `cls` is built with: the `known` run parameters its constructor
    declares (vocab_size always), and every `extra` (model_args). A parameter without a default
    that nothing fills is refused by name, and so is an extra it does not take."""
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if "vocab_size" not in named and not takes_any:
        raise ParameterError(f"{cls.__name__}'s constructor does not take vocab_size: charlm "
                             "gives every model vocab_size=<characters of the corpus>.")
    unknown = sorted(set(extra) - named) if not takes_any else []
    if unknown:
        raise ParameterError(f"model_args {unknown}: {cls.__name__}'s constructor does not take "
                             f"them (it takes {', '.join(sorted(named))}).")
    args = {**{n: v for n, v in known.items() if n in named or n == "vocab_size"}, **extra}
    missing = [n for n in named if params[n].default is params[n].empty and n not in args]
    if missing:
        raise ParameterError(
            f"{cls.__name__} needs {', '.join(missing)}, which no run parameter gives: set "
            f"them with -p \"model_args={{{', '.join(repr(n) + ': ...' for n in missing)}}}\", "
            "or give them defaults.")
    return args


class Adapted(nn.Module):
    """A user's module as charlm drives every model: forward(x, state=None, last_only=False)
    -> (logits, state), its config as `cfg`; the user's module is `net`."""

    def __init__(self, net: nn.Module, vocab_size: int, cfg: ModelConfig):
        super().__init__()
        self.net, self.vocab_size, self.cfg = net, vocab_size, cfg
        self.takes_state = "state" in inspect.signature(net.forward).parameters

    def forward(self, x: torch.Tensor, state=None, last_only: bool = False):
        if state is not None and not self.takes_state:
            raise ParameterError(f"{self.cfg.cell}: given a state, but its forward takes no "
                                 "state= argument: add one (and return (logits, state)).")
        out = self.net(x, state=state) if state is not None else self.net(x)
        logits, state = out if isinstance(out, tuple) else (out, None)
        if tuple(logits.shape) != (*x.shape, self.vocab_size):
            raise ParameterError(
                f"{self.cfg.cell}: forward returned logits of shape {tuple(logits.shape)} for "
                f"ids of shape {tuple(x.shape)}; charlm needs (batch, time, vocab_size) = "
                f"{(*x.shape, self.vocab_size)}.")
        return (logits[:, -1] if last_only else logits), state


def build(vocab_size: int, cfg: ModelConfig, seq_len: int, fused: bool = False) -> Adapted:
    """The user's class, built with the run's parameters that its constructor declares."""
    cls = find_class(cfg.cell)
    known = {"vocab_size": vocab_size, "seq_len": seq_len, "hidden_size": cfg.hidden_size,
             "num_layers": cfg.num_layers, "dropout": cfg.dropout, "heads": cfg.heads,
             **({"width": cfg.width} if cfg.width else {})}
    args = constructor_args(cls, known, cfg.model_args)
    model = Adapted(cls(**args), vocab_size, cfg)
    model.source = source_of(cls)
    return model


def source_of(cls: type) -> dict | None:
    """The file a class was loaded from and its sha256 (a checkpoint records them, plain data,
    so that reloading from another or an edited file says so)."""
    try:
        path = Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        return None
    return {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def source_changes(recorded: dict | None, now: dict | None) -> str:
    """What differs between the source a checkpoint recorded and the one loaded now ("" if
    nothing, or nothing was recorded)."""
    if not recorded or not now:
        return ""
    if recorded["sha256"] == now["sha256"]:
        return ""
    where = (f"{now['file']}, not {recorded['file']} as when it was trained"
             if recorded["file"] != now["file"] else now["file"])
    return (f"the class now comes from {where}, and that file differs from the one it was "
            f"trained with (sha256 {now['sha256'][:12]}, then {recorded['sha256'][:12]})")
