"""Sampling text from a trained model."""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch

from charlm.data import Vocab
from charlm.errors import ParameterError, VocabularyError
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


def fit_prompt(prompt: str, chars: set[str] | tuple[str, ...], text: str = "") -> tuple[str, str]:
    """The reference's default prompt fitted to a corpus: (prompt, note).

    Characters the corpus lacks are dropped (and spaces left double by them closed up); the note
    names them, for the report. Where nothing usable is left, the prompt is the corpus's first
    line instead. Any other prompt is the user's own: it comes back unchanged (checked elsewhere).
    """
    missing = sorted(set(prompt) - set(chars))
    if prompt != DEFAULT_PROMPT or not missing:
        return prompt, ""
    kept = re.sub(r" {2,}", " ", "".join(c for c in prompt if c in chars)).strip()
    shown = ", ".join(repr(c) for c in missing)
    if len(kept) >= 5:
        return kept, f"the default prompt without {shown}, which the corpus lacks"
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")[:60]
    if not first_line:
        raise VocabularyError(f"the corpus lacks {shown} of the default prompt and has no line "
                              "to start from: give prompts explicitly.")
    return first_line, f"the corpus's first line: it lacks {shown} of the default prompt"


def check_prompts(prompts: list[str], text: str) -> None:
    """Refuse, before any training, a prompt given explicitly with characters the corpus lacks
    (the models could not read it); the default prompt adapts itself (`fit_prompt`)."""
    chars = set(text)
    for prompt in prompts:
        missing = sorted(set(prompt) - chars)
        if missing and prompt != DEFAULT_PROMPT:
            raise VocabularyError(
                f"prompt {prompt!r} holds {', '.join(repr(c) for c in missing)}, which the "
                "corpus (the part the run reads) never uses, so no model of this run can read "
                "it: drop those characters or choose another prompt (-p prompts=[...])."
            )


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
    return "".join(stream(model, vocab, prompt, length, temperature, top_k, greedy, seed,
                          context))


def stream(
    model,
    vocab: Vocab,
    prompt: str = DEFAULT_PROMPT,
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    greedy: bool = False,
    seed: int = 0,
    context: int = 20,
) -> Iterator[str]:
    """`generate` as it goes: the prompt, then each character as soon as it is sampled (for
    the generate command and the notebook's sampler). Arguments are checked before the first."""
    check_generation(vocab, prompt, length, temperature, top_k)
    return _stream(model, vocab, prompt, length, temperature, top_k, greedy, seed, context)


def _stream(model, vocab, prompt, length, temperature, top_k, greedy, seed, context):
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    ids = vocab.encode(prompt)
    yield prompt
    try:
        for _ in range(length):
            with torch.inference_mode():
                x = torch.tensor([ids[-context:]], device=device)
                logits, _ = model(x, last_only=True)
                logits = logits[0].float().cpu() / temperature
                if greedy:
                    ids.append(int(logits.argmax()))
                else:
                    if top_k is not None:
                        kth = torch.topk(logits, top_k).values[-1]
                        logits = logits.masked_fill(logits < kth, float("-inf"))
                    probs = torch.softmax(logits, dim=-1)
                    ids.append(int(torch.multinomial(probs, 1, generator=gen)))
            yield vocab.decode(ids[-1:])
    finally:
        model.train(was_training)
