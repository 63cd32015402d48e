"""Scenes of a play's text, found from who speaks: the clusters of the bootstrap that judges a
run on held-out text ("new text like this", charlm.stats.intervals.cluster_bootstrap).

Tiny Shakespeare marks no acts or scenes, but every speech starts with its speaker's name on a
line of its own ("ROMEO:"), after a blank line. Within a scene the same few people speak in turn;
at a new scene (or play) others do. A scene starts at speech i where, of the speakers of the
SPAN speeches from i on, at most OVERLAP also spoke in the SPAN speeches before i; of
neighbouring candidates (closer than MIN_SPEECHES) the cleanest break is kept. On the corpus
this finds the plays' boundaries (Coriolanus -> Richard III, ...) among 93 scenes in all, 19 of
which cover the last 20% of the text (tests/test_scenes.py). A text without speakers has one.
"""

from __future__ import annotations

import re

import numpy as np

SPEECH = re.compile(r"(?:^|\n\n)([^\n:]{1,40}):\n")  # a speaker's name opening a speech
SPAN, OVERLAP, MIN_SPEECHES = 12, 0.2, 30


def scene_starts(text: str) -> np.ndarray:
    """The character offsets where scenes start (the first at 0); [0] for a text without
    speakers."""
    speeches = [(m.start(1), m.group(1)) for m in SPEECH.finditer(text)]
    who = [name for _, name in speeches]
    candidates = []
    for i in range(SPAN, len(who) - SPAN + 1):
        after = set(who[i:i + SPAN])
        shared = len(set(who[i - SPAN:i]) & after) / len(after)
        if shared <= OVERLAP:
            candidates.append((shared, i))
    chosen: list[int] = []
    for _, i in sorted(candidates):  # cleanest breaks first
        if all(abs(i - j) >= MIN_SPEECHES for j in chosen):
            chosen.append(i)
    return np.array([0, *sorted(speeches[i][0] for i in chosen)], dtype=np.int64)


def scene_of(positions, starts: np.ndarray) -> np.ndarray:
    """The scene (0, 1, ...) of each character position."""
    return np.searchsorted(starts, np.asarray(positions), side="right") - 1
