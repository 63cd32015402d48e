"""Statistics that decide the verdicts: arrays and tables in, numbers out (no torch, no files).

intervals (t, Welch, Holm, block bootstrap), verdicts (every comparison of a run), ngram (the
count-model floor), search (each model's setting chosen from the trials)."""
