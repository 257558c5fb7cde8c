"""The SGD engine: streaming mini-batch SGD over a source, in bounded memory.

:mod:`.engine` runs one training (:func:`fit_sgd`): blocks from the stream
(:mod:`streamneuron.stream`) into the training state (:mod:`streamneuron.training`),
checkpoints, validation, signals. It shares the core (stream, training state,
statistics, the model) with :class:`streamneuron.Neuron` and the estimator.
"""

from .engine import CALL_ROWS, CHECKPOINT_SECONDS, SGDParams, fit_sgd

__all__ = ["fit_sgd", "SGDParams", "CALL_ROWS", "CHECKPOINT_SECONDS"]
