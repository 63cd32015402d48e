"""Sampling text from a trained model."""

from __future__ import annotations

import torch

from charlm.data import Vocab
from charlm.errors import ParameterError
from charlm.reference import PROMPT as DEFAULT_PROMPT


def check_generation(
    vocab: Vocab, prompt: str, length: int, temperature: float, top_k: int | None
) -> None:
    """Refuse bad generation arguments before any work, naming what is wrong."""
    if not prompt:
        raise ParameterError("prompt is empty: give at least one character to start from.")
    vocab.encode(prompt)  # raises VocabularyError naming unknown characters
    if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
        raise ParameterError(f"length={length!r} is invalid: it must be a positive integer.")
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ParameterError(
            f"temperature={temperature!r} is invalid: it must be > 0 "
            "(use greedy=True for the most likely character)."
        )
    if top_k is not None and (not isinstance(top_k, int) or not 1 <= top_k <= vocab.size):
        raise ParameterError(f"top_k={top_k!r} is invalid: it must be between 1 and {vocab.size}.")


@torch.inference_mode()
def generate(
    model,
    vocab: Vocab,
    prompt: str = DEFAULT_PROMPT,
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    greedy: bool = False,
    seed: int = 0,
    context: int = 20,
) -> str:
    """Continue `prompt` by `length` characters; returns prompt + continuation.

    Each character is predicted from the last `context` characters from a fresh state, exactly
    as the model was trained (20-character windows). The same seed gives the same text.
    """
    check_generation(vocab, prompt, length, temperature, top_k)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    ids = vocab.encode(prompt)
    for _ in range(length):
        x = torch.tensor([ids[-context:]], device=device)
        logits, _ = model(x, last_only=True)
        logits = logits[0].float().cpu() / temperature
        if greedy:
            ids.append(int(logits.argmax()))
            continue
        if top_k is not None:
            kth = torch.topk(logits, top_k).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        ids.append(int(torch.multinomial(probs, 1, generator=gen)))
    model.train(was_training)
    return vocab.decode(ids)
