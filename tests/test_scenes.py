"""The scenes of a play's text (charlm.scenes) and the bootstrap over them for held-out text."""

import numpy as np
import pytest

from charlm.scenes import scene_of, scene_starts
from charlm.stats import verdicts
from charlm.stats.intervals import MIN_CLUSTERS, cluster_bootstrap, iid_interval


def _play(speakers: list[str], speeches: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return "".join(f"{speakers[rng.integers(len(speakers))]}:\nWords, words.\n\n"
                   for _ in range(speeches))


def test_a_new_set_of_speakers_starts_a_scene():
    first = _play(["ROMEO", "JULIET", "NURSE"], 60, 0)
    text = first + _play(["LEAR", "FOOL", "KENT"], 60, 1)
    starts = scene_starts(text)
    assert list(starts) == [0, len(first)]
    assert list(scene_of([0, len(first) - 1, len(first), len(text) - 1], starts)) == [0, 0, 1, 1]
    assert list(scene_starts("no speakers here\n" * 100)) == [0]


def test_the_corpus_has_its_plays_and_scenes(corpus_text):
    starts = scene_starts(corpus_text)
    assert len(starts) == 93
    held_out = np.unique(scene_of(range(int(0.8 * len(corpus_text)), len(corpus_text)), starts))
    assert held_out.size == 19
    # Coriolanus ends, Richard III begins: the new scene opens with Gloucester's speech
    assert any(corpus_text[s:].startswith("GLOUCESTER:\nNow is the winter") for s in starts)


def test_a_bootstrap_over_scenes_is_wider_where_scenes_differ():
    rng = np.random.default_rng(0)
    scenes = np.repeat(np.arange(20), 500)
    values = rng.normal(0, 1, scenes.size) + rng.normal(0, 0.5, 20)[scenes]  # a scene effect
    over_scenes, iid = cluster_bootstrap(values, scenes), iid_interval(values)
    assert over_scenes.estimate == pytest.approx(values.mean())
    assert over_scenes.low < values.mean() < over_scenes.high
    assert over_scenes.high - over_scenes.low > 3 * (iid.high - iid.low)
    assert "20 scenes" in over_scenes.method
    assert cluster_bootstrap(values[:3000], scenes[:3000]) is None  # 6 < MIN_CLUSTERS
    assert MIN_CLUSTERS == 8


def test_held_out_text_is_judged_over_its_scenes_where_it_has_them():
    rng = np.random.default_rng(1)
    values, scenes = rng.normal(size=5000), np.repeat(np.arange(10), 500)
    method = {name: verdicts.test_set_interval(values, split, 0.2, of).method
              for name, split, of in [("scenes", "contiguous", scenes),
                                      ("none", "contiguous", None),
                                      ("two", "contiguous", scenes // 5),
                                      ("random", "random", scenes)]}
    assert "10 scenes" in method["scenes"] and method["random"].startswith("iid")
    assert "block" in method["none"] and "block" in method["two"]  # too few scenes: blocks
