"""The reference report (lstm_vs_gru_report.md): its setting, its numbers and its prompt.

Every other module takes these facts from here.
"""

from __future__ import annotations

PROMPT = "The quick brown fox jumps over the lazy dog"
HARDWARE = "RTX 3080 Ti"

# The faithful setting; DataConfig/ModelConfig/TrainConfig defaults are the same.
SETTING = {
    "objective": "last",
    "split": "random",
    "epochs": 30,
    "batch_size": 128,
    "lr": 1e-3,
}

# metric key -> (LSTM, GRU), as the reference's table reports them
NUMBERS = {
    "train_loss": (1.1892, 1.2705),
    "test_loss": (1.3823, 1.3753),
    "test_accuracy": (0.5816, 0.5808),
    "train_time": (477.15, 455.48),
    "size_mb": (0.92, 0.70),
}
MODELS = ("lstm", "gru")


def number(metric: str, model: str) -> float | None:
    """The reference's value of `metric` for `model` ("lstm" or "gru"), or None."""
    if model not in MODELS:
        return None
    return NUMBERS[metric][MODELS.index(model)]


PRINTED = {"train_loss": "{:.4f}", "test_loss": "{:.4f}", "test_accuracy": "{:.2%}",
           "train_time": "{:.2f} s", "size_mb": "{:.2f} MB"}  # as the reference's table shows them


def as_printed(metric: str, model: str) -> str:
    """The reference's value, formatted as in its table (e.g. "477.15 s")."""
    return PRINTED[metric].format(number(metric, model))
