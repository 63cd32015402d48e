"""charlm: recurrent character-level language models on Tiny Shakespeare, compared honestly.

Importing charlm does no work: no download, no argument parsing. The package shows its layers
(docs/architecture.md; tests/test_layers.py enforces the import rules):

- the core, here: errors, atomic, project, reference, config, data, models, fused, device,
  folder, checkpoint, resume, train, job, evaluate, generate, explore;
- charlm.stats: intervals, verdicts, the n-gram floor, the search's choice (no torch, no files);
- charlm.scale: stacked seeds (group) and Ray;
- charlm.experiment: the run description, the run folder and the chain, the notebooks' work;
- charlm.report: tables, prose, sections, figures, export, compare (no torch);
- charlm.__main__: the command line.
"""

from charlm import _mps  # noqa: F401  (first: it acts before anything imports torch)
from charlm.config import Configs, DataConfig, ExecutionConfig, ModelConfig, TrainConfig
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
    "ExecutionConfig",
    "ModelConfig",
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
