"""A run of the notebook chain: its description (options, spec, profiles), its folder (layout,
run, lock), its trainings (jobs), the notebooks' work (notebook, steps), running the chain
(execute, resuming, pipeline, progress) and what it ran on (environment)."""
