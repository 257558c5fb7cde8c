"""The one exception family of streamneuron.

Every error a user can cause (bad data, bad flags, a bad model file, a checkpoint
that does not match) is a :class:`StreamNeuronError`. The CLI prints its message
as one ``Error: ...`` line and exits with code 2; library callers catch it.
"""

from __future__ import annotations


class StreamNeuronError(Exception):
    """Base class: a problem the user can act on. The message says what and where."""


class DataError(StreamNeuronError, ValueError):
    """The input data is unusable: unreadable file, wrong schema, bad label, NaN, ..."""


class ConfigError(StreamNeuronError, ValueError):
    """A parameter is out of range or parameters contradict each other.

    ``param`` names the library parameter at fault (``"batch_size"``), when there is
    one. An error made by :meth:`about` also keeps ``problem``, the message without
    the parameter's name (``"must be >= 1, got 0"``), so that a caller who spells
    the parameter otherwise (the command line: ``--batch-size``) can say the same.
    """

    def __init__(self, message: str = "", *, param: str | None = None,
                 problem: str | None = None):
        super().__init__(message)
        self.param = param
        self.problem = problem

    @classmethod
    def about(cls, param: str, problem: str) -> "ConfigError":
        """``ConfigError("lr must be > 0, got -1")`` with ``param="lr"`` and
        ``problem="must be > 0, got -1"``."""
        return cls(f"{param} {problem}", param=param, problem=problem)


class ModelError(StreamNeuronError, ValueError):
    """A model file is not a valid streamneuron model, or does not fit the data."""


class CheckpointError(StreamNeuronError):
    """A checkpoint is missing, corrupt, or belongs to another run."""


class TrainingInterrupted(StreamNeuronError):
    """SIGINT/SIGTERM stopped training at a batch boundary; a checkpoint was written."""


class DivergenceError(StreamNeuronError, ArithmeticError):
    """The logit overflowed while every input was finite: the learning rate is too large."""


class DataWarning(UserWarning):
    """A doubt about the data worth one line, not a stop: a feature column that
    looks like a row id, unnamed columns matched to a model by position. The CLI
    prints it as ``Warning: ...``; library callers see a normal Python warning."""
