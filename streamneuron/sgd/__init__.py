"""The SGD engine: streaming mini-batch SGD over a source, in bounded memory.

:mod:`.engine` sets one training up (:func:`fit_sgd`) and :mod:`.run` runs its loop:
blocks from the stream (:mod:`streamneuron.stream`) into the training state
(:mod:`streamneuron.training`), checkpoints, validation, signals. It shares the core
(stream, training state and pass policy, statistics, the model) with
:class:`streamneuron.Neuron` and the estimator.
"""

from .engine import CHECKPOINT_SECONDS, fit_sgd
from .run import CALL_ROWS, SGDParams

__all__ = ["fit_sgd", "SGDParams", "CALL_ROWS", "CHECKPOINT_SECONDS"]
