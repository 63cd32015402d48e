"""charlm: recurrent character-level language models on Tiny Shakespeare, compared honestly.

Importing charlm does no work: no download, no argument parsing.
"""

from charlm.config import DataConfig, ModelConfig, TrainConfig
from charlm.errors import (
    CharlmError,
    CheckpointError,
    CorpusError,
    ParameterError,
    TrainingDivergedError,
    VocabularyError,
)

__version__ = "0.1.0"
__all__ = [
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "CharlmError",
    "CheckpointError",
    "CorpusError",
    "ParameterError",
    "TrainingDivergedError",
    "VocabularyError",
]
