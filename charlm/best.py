"""The best validation epoch: its own checkpoint (ModelFolder.best), and which model the test set
scores.

After every epoch with a validation set, the model's loss on the per-epoch validation windows
(the same windows every epoch: `eval_windows` of them) is compared with the lowest so far. A
lower one is written to the model folder's best checkpoint (one without the optimizer:
`charlm evaluate` and `charlm generate` read it as any other). The history's rows say which
epoch that is (`best_epoch`, by `val_select_loss`), and the last row says whose model the test
set scored (`tested_epoch`): the last epoch's (`test_model="last"`, the reference) or the best
one's (`test_model="best"`, as nanoGPT keeps its best validation checkpoint).
"""

from __future__ import annotations

import copy
import math

import torch

from charlm.checkpoint import load_checkpoint, save_checkpoint
from charlm.config import Configs
from charlm.data import Windows
from charlm.errors import CheckpointError
from charlm.evaluate import eval_subset, summarize, window_losses
from charlm.folder import ModelFolder


def select_loss(model, windows: Windows, eval_windows: int | None, batch_size: int) -> float:
    """The validation loss the best epoch is chosen by: on the per-epoch validation windows."""
    starts = eval_subset(windows.val_starts, eval_windows)
    losses, correct = window_losses(model, windows.data, starts, windows.seq_len, batch_size)
    return summarize(losses, correct)["loss"]


class BestSoFar:
    """One training run's best epoch: its state_dict in memory once seen in this process, and
    in the folder's best checkpoint (where a resumed run finds it)."""

    def __init__(self, folder: ModelFolder | None = None):
        self.folder = folder
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, model, loss: float, record: dict, history: list[dict], windows: Windows,
               configs: Configs) -> None:
        """Mark `record` (this epoch) with the best epoch so far, saving the model if it is."""
        # records from before charlm kept a best epoch: their val_loss is the same per-epoch loss
        earlier = [r.get("val_select_loss", r.get("val_loss", math.nan)) for r in history]
        earlier = [x for x in earlier if math.isfinite(x)]
        record["val_select_loss"] = loss
        if earlier and not loss < min(earlier):
            record["best_epoch"] = history[-1].get("best_epoch") or 1 + [
                r.get("val_select_loss", r.get("val_loss")) for r in history].index(min(earlier))
            return
        record["best_epoch"] = record["epoch"]
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if self.folder is not None:
            save_checkpoint(self.folder.best, model, None, windows.vocab, configs,
                            [*history, record], record["epoch"])

    def model(self, model, epoch: int):
        """A copy of `model` holding the weights of the best epoch, `epoch` (the history's)."""
        if self.state is None:
            saved = load_checkpoint(self.folder.best)
            if saved["epoch"] != epoch:  # killed between the two checkpoints, say
                raise CheckpointError(
                    f"{self.folder.best} holds epoch {saved['epoch']}, and the history's best "
                    f"epoch is {epoch}: it belongs to another run. Delete {self.folder.path} "
                    "to train this model again.")
            self.state = saved["model"]
        best = copy.deepcopy(model)
        best.load_state_dict(self.state)
        return best
