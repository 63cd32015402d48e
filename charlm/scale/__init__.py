"""Many trainings at once: K seeds of a model as one stacked computation (stacked, group), and
runs as Ray tasks (ray_executor); config holds how (ScaleConfig). Never other numbers."""
