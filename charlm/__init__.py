"""charlm: recurrent character-level language models on Tiny Shakespeare, compared honestly.

Importing charlm does no work: no download, no argument parsing. The modules, bottom to top:
errors, atomic, project, reference -> config, profiles, spec -> data, fused, models, batched ->
run (the run folder) -> checkpoint, evaluate, generate, train, group (seeds trained together),
executor (here, or as Ray tasks), tuning (the search on validation) -> stats, analysis, ngram,
explain -> steps (the notebooks' work), explore, figures, report (the report's sections) ->
export, pipeline -> __main__.
"""

from charlm import _mps  # noqa: F401  (first: it acts before anything imports torch)
from charlm.config import Configs, DataConfig, ModelConfig, RunConfig, TrainConfig
from charlm.errors import (
    CharlmError,
    CheckpointError,
    CorpusError,
    ParameterError,
    PipelineError,
    RunBusyError,
    TrainingDivergedError,
    VocabularyError,
)

__version__ = "0.1.0"
__all__ = [
    "Configs",
    "DataConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "CharlmError",
    "CheckpointError",
    "CorpusError",
    "ParameterError",
    "PipelineError",
    "RunBusyError",
    "TrainingDivergedError",
    "VocabularyError",
]
