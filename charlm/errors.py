"""Errors charlm raises on bad input: each message says what was wrong and what to do."""


class CharlmError(Exception):
    """Base class of every error charlm raises on purpose."""


class ParameterError(CharlmError, ValueError):
    """A parameter has an unknown name or a value outside what is allowed."""


class CorpusError(CharlmError):
    """The corpus is missing, corrupt, empty or unreadable."""


class VocabularyError(CharlmError, ValueError):
    """Text holds characters the vocabulary does not know."""


class CheckpointError(CharlmError):
    """A checkpoint is unreadable or does not fit where it is being loaded."""


class TrainingDivergedError(CharlmError, FloatingPointError):
    """The training loss became NaN or infinite."""


class PipelineError(CharlmError):
    """A notebook of the chain failed, or the run folder cannot be used as asked."""


class RunBusyError(PipelineError):
    """Another live process holds the run folder."""
