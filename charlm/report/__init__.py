"""From a run's files to the report people read (no torch): tables, prose (every sentence
written from numbers; the search's in search_prose), sections (06's cells, on data loaded
once), figures, export (one nbconvert template), compare (two runs side by side)."""
