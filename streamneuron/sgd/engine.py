"""Mini-batch SGD over a stream of blocks, in bounded memory, resumable exactly.

For each mini-batch ``B`` of ``m`` rows (cut in stream order, straddling blocks
where needed; the last short batch of an epoch is used as it is)::

    w <- w - lr_t * ((1/m) sum_{i in B} dL/dz_i x_i + l2 w)
    b <- b - lr_t * (1/m) sum_{i in B} dL/dz_i

With row weights ``c_i`` (a weight column, class weights, or both: their product,
:mod:`streamneuron.weighting`) ``1/m`` becomes ``1/sum_{i in B} c_i`` and each row's
term is multiplied by ``c_i`` (a batch is still ``m`` rows; one whose weights sum to
0 takes no step); with ``l1 > 0`` the cumulative L1 penalty follows every step
(:mod:`streamneuron.training`).

:func:`fit_sgd` sets a run up in named steps: the training source
(:func:`_training_source`), the validation data (:func:`streamneuron.validation.open_validation`),
the checkpoint folder (:func:`streamneuron.checkpoint.held_for_run`), the parameters
with their defaults and the pass policy (:class:`streamneuron.training.PassPolicy`:
the batch size and learning rate when none is given, each epoch's average with
``schedule="auto"``, the convergence rule); then :class:`.run.Run` runs the loop.
The engine knows nothing of file formats.
"""

from __future__ import annotations

import contextlib
import numbers
import os
from typing import Callable

from .. import checkpoint as ckpt
from .. import defaults
from ..blas import blas_threads
from ..errors import CheckpointError, ConfigError, DataError
from ..neuron import Neuron
from ..params import DEFAULT, check_auto_penalty, check_params
from ..training import PassPolicy
from ..validation import SGD_TOL, open_validation, second_reader
from ..warmstart import initial_model
from ..readers import with_class_weights
from ..readers.cached import Cached, unit_cache
from ..units import ROW
from ..weighting import check_class_weight
from .run import Checkpointing, Hooks, Run, SGDParams

# A checkpoint is written at least this often when --checkpoint is given.
CHECKPOINT_SECONDS = DEFAULT.checkpoint_seconds


def fit_sgd(source, batch_size: int | None = None, epochs: int | None = None,
            lr: float | None = None, *,
            loss: str = DEFAULT.loss, schedule: str = DEFAULT.schedule,
            power_t: float = DEFAULT.power_t, l2: float | None = DEFAULT.l2,
            seed: int = DEFAULT.seed,
            shuffle: bool = DEFAULT.shuffle, window: int = DEFAULT.window,
            standardize: bool = DEFAULT.standardize,
            checkpoint: str | os.PathLike | None = None,
            resume: bool = False, checkpoint_every: int | None = None,
            checkpoint_seconds: float = CHECKPOINT_SECONDS,
            progress: Callable[[int, float], None] | None = None,
            on_epoch: Callable[[dict], None] | None = None,
            notify: Callable[[str], None] | None = None,
            label: str | None = "y", features=None, validation=None,
            validation_fraction: float = DEFAULT.validation_fraction,
            validate_every: int | None = None, early_stopping: bool = False,
            patience: int = DEFAULT.patience, tol: float | None = None,
            average: bool | int = DEFAULT.average, on_check: Callable[[dict], None] | None = None,
            weight=None, class_weight=None, l1: float = DEFAULT.l1,
            init: str | os.PathLike | Neuron | None = DEFAULT.init,
            categorical=None, max_levels: int = DEFAULT.max_levels,
            hash_bits: int = DEFAULT.hash_bits, missing: str = DEFAULT.missing,
            positive=None, cache: str | os.PathLike | None = DEFAULT.cache) -> Neuron:
    """Train a neuron by mini-batch SGD over ``source``.

    The defaults need no tuning (:mod:`streamneuron.defaults`): ``schedule="auto"``
    (AdaGrad's steps at ``lr`` 1.0, the model the average of the last epoch's
    iterates), ``batch_size`` from the row count, and, when ``epochs`` is not given,
    up to 1000 epochs, stopping when the epoch's training objective has converged
    (its mean over the last ``P`` epochs, ``P = ceil(50000 / rows)`` within [2, 100],
    no better than over the ``P`` before by more than ``tol`` relative, default 1e-3).
    ``epochs=N`` makes exactly N epochs (or fewer with ``early_stopping``). Either way
    ``info["converged"]`` says whether the rule holds at the end, ``info["stop_reason"]``
    why the run stopped, and ``info["epochs"]`` how many epochs it made.

    ``source``: a :class:`~streamneuron.readers.Source`, paths or URLs, a pandas or
    Dask DataFrame, or an ``(X, y)`` pair of numpy/Dask arrays, opened with
    :func:`~streamneuron.open_source` (with ``label``/``features``).
    ``lr`` (default 1.0 for ``"auto"``, else 0.1) with ``schedule`` ``"constant"`` or
    ``"invscaling"`` (``lr_t = lr / (1 + t)**power_t``), or ``"adagrad"`` (per-coordinate
    steps, the last iterate returned); ``l2`` penalises the weights only (default ``1/W``, scikit-learn's ``C = 1``:
    ``W`` the training rows (held-out ones left out), or the sum of their weights
    when weighted, from the standardization pass; ``info["params"]["l2"]`` holds it);
    ``shuffle`` permutes row groups and the rows inside them, seeded by
    ``seed`` and the epoch; ``standardize`` makes one streaming pass for the
    per-feature mean and scale first.

    Checkpoints: ``checkpoint`` names a folder for resumable state, written
    atomically after the standardization pass, every ``checkpoint_every``
    batches (if given), at least every ``checkpoint_seconds``, at each epoch's
    end, and at the end (then marked complete). ``resume=True`` continues from
    it; the final weights equal those of a run never interrupted, bit for bit.
    A resume is refused (:class:`CheckpointError`, saying what differs) when the
    data (paths, sizes, modification times, layout) or a parameter that shapes
    the arithmetic differs. ``epochs`` may be raised on resume (training then
    continues, exactly as a run with that many epochs would have); resuming a
    complete checkpoint with the same ``epochs`` just returns its model.
    Without ``resume``, a folder that already holds a checkpoint is refused
    rather than overwritten: resume it, or delete the folder. SIGINT/SIGTERM
    (with a checkpoint folder, in the main thread) stop at the next batch
    boundary (or at the end of the current block, if that comes first: the
    unfinished batch's sums are saved with the checkpoint, so no block is read
    just to reach a boundary), write a checkpoint and raise
    :class:`TrainingInterrupted`; a second signal stops at once, keeping the
    last checkpoint. ``notify`` (a
    callable taking a message) hears about resumes and checkpoint fallbacks.

    Validation (:mod:`streamneuron.validation`): ``validation`` (paths, a Source, ...,
    opened like ``source`` with its label and features) is validated on whole;
    ``validation_fraction`` holds out that fraction of the training rows (chosen by
    a hash of ``seed`` and the row's index: never trained on). A check, at each
    epoch's end and every ``validate_every`` updates if given, adds ``val_loss``,
    ``val_log_loss``, ``val_accuracy``, ``val_auc`` and ``val_rows`` to the epoch's
    history row (and calls ``on_check`` with each check's row).
    ``early_stopping=True`` stops when the checked loss (the validation loss, or
    without validation data the epoch's training objective) has not improved by
    more than ``tol`` (default 1e-3) for ``patience`` checks in a row (default 5),
    and returns the best weights; ``epochs`` is then a maximum.
    ``info`` says ``best_check``, ``best_epoch``, ``stopped_early``, and holds every
    check in ``info["validation"]``.

    ``average``: averaged SGD (Polyak-Ruppert): the model returned (and validated) is
    the running average of the iterates, from the first update (``True``) or from
    update ``N`` on (an integer ``N``; scikit-learn's ``average`` counts rows instead),
    kept inside the fused kernel's update step and checkpointed. The history's
    objective stays the loss at the iterates each row met.

    Weights: ``weight`` names the source's weight column (opening paths or a
    DataFrame; for an ``(X, y)`` pair, the weights themselves; a Source brings its
    own), ``class_weight`` is None, ``"balanced"`` (``n / (2 n_c)`` from the
    label counts, one label-only pass) or ``{0: a0, 1: a1}``; a row's weight is their
    product. The objective becomes ``sum c_i L_i / sum c_i + penalties``, each step the
    weighted mean gradient of its batch, the validation metrics weighted likewise. A
    source whose training rows' weights sum to 0 is a DataError (at the end of the
    first epoch).

    ``l1``: the L1 penalty ``l1 ||w||_1`` (elastic net with ``l2``; never the bias), by
    the cumulative penalty of Tsuruoka et al. (2009) after every step: weights become
    exactly zero. ``info["nonzero"]`` counts the model's non-zero weights.

    Categorical columns (``categorical``, opening paths or a DataFrame; and every
    string or dictionary column): one-hot, a weight per level, the levels counted in the
    standardization pass (:mod:`streamneuron.levels`; a column past ``max_levels``
    distinct values is left out, or refused when named; with ``hash_bits`` it is hashed into
    ``2**hash_bits`` weights instead, :mod:`streamneuron.kernels.hashing`). A row's gradient touches
    its own levels' weights; each step updates every weight, or, with AdaGrad and many
    level weights, only those its batch met, the others caught up exactly when next met
    (:mod:`streamneuron.kernels.categorical_sgd`; L2 exactly the objective's either way).

    ``init``: where the weights start: ``"zeros"``, or a model (a file's path or a
    :class:`Neuron`) with the same features, re-expressed for this run's
    standardization (:mod:`streamneuron.warmstart`). A resume continues its checkpoint.

    ``missing`` (:mod:`streamneuron.missing`): ``"error"``, ``"impute"`` (each feature's
    mean, learned in the standardization pass, and an indicator column per feature with
    missing values) or ``"drop"`` (those rows weigh 0); ``positive``: the label value
    that counts as 1 (opening paths or a DataFrame).

    ``cache``: a folder where the first read of each unit (the standardization pass's, or
    the first epoch's) writes the unit as the trainer receives it, in raw binary files of
    a run-private folder inside it; every later epoch reads them back instead of decoding
    the data again (:mod:`streamneuron.readers.cached`; disk: about the decoded rows,
    ``8 d + 8`` bytes a row, ``+ 4`` a categorical column, ``+ 8`` weighted; the
    ``validation`` data's units are kept too, written at the first check). The
    weights are the same bits as without it. The folder is removed at the end of the
    run, on an error and on an interrupt; ConfigError when ``cache`` is not a writable
    folder or its disk cannot hold the rows. Data in memory is read as it is.

    Returns the trained :class:`Neuron`; its ``info["history"]`` holds one row
    per epoch: epoch, rows, objective (the (weighted) mean loss at the weights each
    row met, plus the penalties), seconds (and the validation fields).
    """
    # Every value is checked once, here, before any work.
    check_params(loss=loss, batch_size=batch_size, epochs=epochs, lr=lr, schedule=schedule,
                 power_t=power_t, l2=l2, l1=l1, seed=seed, window=window, tol=tol,
                 validation_fraction=validation_fraction, validate_every=validate_every,
                 patience=patience, average=average, checkpoint_every=checkpoint_every,
                 checkpoint_seconds=checkpoint_seconds, max_levels=max_levels,
                 hash_bits=hash_bits)
    check_auto_penalty("sgd", l2=l2, l1=l1)
    check_class_weight(class_weight)
    if validate_every is not None and validation is None and not validation_fraction:
        raise ConfigError.about("validate_every", "needs validation data: give --validation "
                                "or --validation-fraction")
    start = initial_model(init)
    if resume and not checkpoint:
        raise CheckpointError("--resume needs --checkpoint DIR")
    if checkpoint_every is not None and not checkpoint:
        raise ConfigError("--checkpoint-every needs --checkpoint DIR")
    with contextlib.ExitStack() as stack:
        cache = None if cache is None else stack.enter_context(unit_cache(cache))
        source = _training_source(source, label, features, weight, categorical, stack,
                                  missing=missing, positive=positive)
        # Class weights are applied where a unit is decoded: every row's w is its weight.
        source = with_class_weights(source, class_weight)
        validation = open_validation(validation, source, stack)
        fingerprint = None
        if checkpoint is not None:
            checkpoint = os.fspath(checkpoint)
            fingerprint = stack.enter_context(
                ckpt.held_for_run(checkpoint, source, validation, resume))
        batch_size, lr, tol = PassPolicy.given_or_default(
            source.n_rows, schedule, batch_size=batch_size, lr=lr,
            tol=SGD_TOL if tol is None and early_stopping else tol)
        params = SGDParams(
            loss=loss, batch_size=batch_size, lr=lr, schedule=schedule, power_t=power_t, l2=l2,
            seed=seed, shuffle=shuffle, window=window, standardize=standardize,
            validation_fraction=validation_fraction, validate_every=validate_every,
            early_stopping=bool(early_stopping), patience=patience, tol=tol,
            average=int(average) if isinstance(average, numbers.Integral) else average,
            l1=l1, class_weight=_class_weight_param(class_weight), weight=source.weight,
            max_levels=max_levels, hash_bits=hash_bits, missing=source.missing)
        run = Run(source, params, epochs,
                  Checkpointing(checkpoint, checkpoint_every, checkpoint_seconds, fingerprint),
                  Hooks(progress, on_epoch, on_check, notify), validation)
        run.start = start
        if cache is not None and run.source.reuse_buffers:  # (files; data in memory is
            # not decoded again). The units as trained (encoded, imputed, weighted: after the
            # first pass that learns the levels and fills), stored as the stream decodes them
            checked = run.validation is not None and run.validation.reuse_buffers
            cache.check_space(run.source, *([run.validation] if checked else []))
            run.source = Cached(run.source, cache, ROW if shuffle else run.source.layout)
            if checked:  # (read in file order at each check)
                run.validation = Cached(run.validation, cache.part("validation"),
                                        run.validation.layout)
        else:
            cache = None
        if params.validation_fraction > 0:
            run.holdout_source = second_reader(run.source)  # (encoded, as trained)
            if run.holdout_source is not run.source:
                stack.callback(run.holdout_source.close)
                if cache is not None:  # (the units cached so far, read on another thread)
                    run.holdout_source = run.source.alongside(run.holdout_source)
        with blas_threads(1, load_scipy=False):  # (its dot products: w @ w, a weighted loss)
            return run.run(resume)


def _training_source(given, label, features, weight, categorical,
                     stack: contextlib.ExitStack, **options):
    """The training data opened as a Source (closed by ``stack`` when opened here);
    DataError without a label, ConfigError when a given Source lacks ``weight``."""
    from ..readers import open_source
    from ..readers.labels import settle_labels

    source = open_source(given, label=label, features=features, weight=weight,
                         categorical=categorical, **options)  # a Source as it is
    if source is not given:
        stack.enter_context(source)
    if source.label is None:
        raise DataError("training needs a label column")
    settle_labels(source)  # (--positive: the other value, kept; one value only: refused)
    if weight is not None and source.weight is None:
        raise ConfigError.about("weight", f"names the column {weight!r}, but the source "
                                "given was opened without it: open_source(..., weight=)")
    return source


def _class_weight_param(spec):
    """``class_weight`` as the run's parameters keep it (JSON-stable): None, "balanced"
    or ``[a0, a1]``."""
    check_class_weight(spec)
    if spec is None or isinstance(spec, str):
        return spec
    return [float(spec.get(0, 1.0)), float(spec.get(1, 1.0))]


__all__ = ["fit_sgd", "SGDParams"]
