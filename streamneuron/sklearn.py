"""``NeuronClassifier``: the streamneuron neuron as a scikit-learn estimator.

The same model, math and compiled engine as :func:`streamneuron.fit_sgd`, for
data that fits in memory (numpy arrays, pandas DataFrames, and Dask arrays
through ``dask_ml.wrappers.Incremental``). scikit-learn is an optional
dependency: only this module imports it (``pip install 'streamneuron[sklearn]'``,
scikit-learn >= 1.6).

How training runs
-----------------
The estimator holds a :class:`streamneuron.Neuron` (weights, bias, update count,
standardization). :meth:`NeuronClassifier.fit` with ``solver="auto"`` (the
default), ``"newton"`` or ``"lbfgs"`` reaches the optimum of the objective by
full passes, as :func:`streamneuron.fit_gd` (in this process, on the in-memory
rows), so integer sample weights equal repeated rows and the result does not
depend on a seed. :meth:`NeuronClassifier.partial_fit`, and ``fit`` with
``solver="sgd"``, train it as :func:`streamneuron.fit_sgd` does: every pass
over the rows (an epoch of ``fit``, or one call of ``partial_fit``) is one
:meth:`~streamneuron.training.TrainState.train_block` over the whole array (the
fused kernel: rows visited in a seeded permutation, cut into mini-batches of
``batch_size`` rows, one averaged-gradient step per batch) and one
:meth:`~streamneuron.training.TrainState.finish_pass` (the last short batch of the
pass is used as it is; README, "The math"). There is no Python loop per
mini-batch.

Pass ``p`` of a model (fit epochs and partial_fit calls counted together from
the last cold start) visits the rows in the order
``numpy.random.default_rng([seed, p, 0]).permutation(n_rows)``, which is the
order :func:`streamneuron.fit_sgd` gives a data set of one row group in epoch
``p`` (:func:`streamneuron.stream.block_order`). With the same ``seed`` and
``standardize=False``, ``fit`` on an array and ``fit_sgd`` on a one-row-group
Parquet file of the same rows give bit-identical weights (with standardization
they agree to rounding: numpy's column means of a C-ordered array and of the
reader's column-major block can differ in the last bit).

Why one module of this length: most of it is scikit-learn's contract
(parameter constraints, input validation, classes, warm start, sample checks)
that ``check_estimator`` holds us to; the training itself is the ``Neuron``'s.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
    from sklearn.utils.multiclass import (
        check_classification_targets,
        type_of_target,
        unique_labels,
    )
    from sklearn.utils.validation import (
        _check_sample_weight,
        check_is_fitted,
        check_random_state,
        validate_data,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "streamneuron.NeuronClassifier needs scikit-learn >= 1.6 "
        "(pip install 'streamneuron[sklearn]')"
    ) from exc

from . import defaults, kernels
from .errors import DivergenceError
from .fullpass.engine import fit_gd
from .losses import get_loss, sigmoid
from .neuron import Neuron, restandardized
from .params import estimator_constraints, estimator_default, pick_solver
from .stats import Moments
from .stream import block_order
from .training import OK, StepRule, TrainState
from .weighting import balanced, row_weights

# Rows per summary when computing the standardization statistics (bounds the
# float64 temporary to this many rows, whatever the size of X).
_MOMENT_ROWS = 1 << 16

_FLOAT_DTYPES = [np.float64, np.float32]

# The full-pass solvers of ``fit`` stop within this relative gap of the optimum:
# tight enough that weighted and repeated-row fits agree to ~1e-9 in probability
# (scikit-learn's sample-weight check asks 1e-7); Newton converges quadratically,
# so this costs it one or two iterations more than fit_gd's default of 1e-6.
FULL_PASS_TOL = 1e-10


def _binary_classes(y, what: str) -> np.ndarray:
    """The two sorted class labels of ``y`` (sklearn-style errors otherwise)."""
    y_type = type_of_target(y, input_name=what, raise_unknown=True)
    if y_type != "binary":
        raise ValueError(
            "Only binary classification is supported. The type of the target "
            f"is {y_type}."
        )
    classes = unique_labels(y)
    if classes.shape[0] < 2:
        raise ValueError(
            "NeuronClassifier needs samples of exactly 2 classes, but the data contains "
            f"only one class: {classes.tolist()[0]!r}"
        )
    return classes


class NeuronClassifier(ClassifierMixin, BaseEstimator):
    """A single sigmoid neuron ``p = sigmoid(x . w + b)``: its exact optimum, or SGD.

    Logistic regression (``loss="log"``) or the article's squared error through
    the sigmoid (``loss="mse"``), with an L2 penalty on the weights (not the
    bias). The objective is ``J = sum_i s_i L_i / sum_i s_i + (l2 / 2) * ||w||**2
    + l1 * ||w||_1`` (``s_i`` the row weights: ``sample_weight`` times
    ``class_weight``, 1 by default), so ``l2`` corresponds to
    ``LogisticRegression(C=1 / (l2 * sum_i s_i))`` on the standardized features.

    :meth:`fit` minimises ``J`` by full passes over the rows (``solver``: Newton
    or L-BFGS, as :func:`streamneuron.fit_gd`, to ``FULL_PASS_TOL = 1e-10``
    relative), unless ``solver="sgd"``. :meth:`partial_fit` always trains by
    mini-batch SGD with the compiled engine of ``streamneuron train`` (one pass
    over the block per call), from raw features.

    Which parameters apply where: ``loss``, ``l2``, ``l1``, ``class_weight``,
    ``standardize``, ``warm_start`` apply to every solver; ``batch_size``,
    ``epochs``, ``lr``, ``schedule``, ``power_t``, ``shuffle``, ``random_state``,
    ``average`` only to SGD (``partial_fit``, and ``fit`` with ``solver="sgd"``).

    Parameters
    ----------
    loss : {"log", "mse"}, default="log"
        ``"log"``: log loss (logistic regression). ``"mse"``: ``0.5 (p - y)**2``.
    solver : {"auto", "newton", "lbfgs", "sgd"}, default="auto"
        How :meth:`fit` trains. ``"newton"``: damped Newton (Gauss-Newton for
        ``"mse"``; proximal Newton with ``l1``), stopping when its predicted gap
        to the optimum is at most ``1e-10 * |J|``; ``"lbfgs"``: L-BFGS-B (OWL-QN
        with ``l1``) on scipy's criteria from the same tolerance; ``"auto"``:
        newton up to ``streamneuron.fullpass.engine.NEWTON_MAX_FEATURES`` (128) features,
        lbfgs above; ``"sgd"``: ``epochs`` passes of mini-batch SGD as
        :meth:`partial_fit` makes them. Never used by :meth:`partial_fit`.
    batch_size : int or "auto", default="auto"
        Rows per mini-batch; one averaged-gradient step per batch. The last,
        shorter batch of each pass is used as it is. ``"auto"``: from the rows of
        the pass (:func:`streamneuron.defaults.auto_batch_size`: 1 below 500
        rows, up to 256).
    epochs : int or None, default=None
        Passes over the data made by :meth:`fit`. ``None``: up to 1000, stopping
        when the pass's training objective has converged (its mean over the last
        ``P = ceil(50000 / n_samples)`` passes, within [2, 100], no better than over
        the ``P`` before by more than 1e-3 relative: the rule of ``streamneuron
        train``, :func:`streamneuron.defaults.converged`); ``n_iter_`` reports the
        passes made, ``converged_`` whether the rule held.
    lr : float or None, default=None
        Learning rate (step size) ``lr_0``; ``None``: 1.0 for ``"auto"``, else 0.1.
    schedule : {"auto", "constant", "invscaling", "adagrad"}, default="auto"
        ``lr_t = lr / (1 + t)**power_t`` with ``t`` the updates made so far
        (``"constant"`` is ``power_t = 0``); ``"adagrad"``: per-coordinate steps
        ``lr * g_j / (sqrt(G_j) + 1e-10)``, ``G_j`` the sum of squared gradients
        (kept across ``partial_fit`` calls and warm starts); ``"auto"``: AdaGrad's
        steps, the model being the average of the iterates of the last pass (each
        pass, an epoch of ``fit`` or a ``partial_fit`` call, averages afresh).
    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule.
    l2 : float, default=1e-4
        L2 penalty ``(l2 / 2) * ||w||**2`` (weights only; the bias is free).
    standardize : bool, default=True
        :meth:`fit` computes the per-feature mean and population standard
        deviation of ``X`` (``mean_``, ``scale_``; a constant feature gets scale 1)
        and trains on ``(x - mean_) / scale_``; the same statistics are applied
        when predicting. A model started by :meth:`partial_fit` keeps running
        statistics of every block it was given (streaming standardization): each
        call first merges its block into them, then re-expresses the weights for
        the new statistics so that the model's predictions do not move
        (:func:`streamneuron.neuron.restandardized`; AdaGrad's sums are rescaled
        with the weights), then trains. So raw, unscaled features work with
        ``partial_fit`` and dask-ml's ``Incremental``. A model started by
        :meth:`fit` keeps the statistics of that ``fit`` in ``partial_fit``.
    shuffle : bool, default=True
        Visit the rows of each pass in a seeded random order; ``False``: in the
        given order.
    random_state : int, RandomState instance or None, default=None
        Seed of the row permutations. ``None`` means seed 0, so results are
        reproducible by default; an int is used as the seed; a ``RandomState``
        draws a seed on every call of ``fit``/``partial_fit``.
    warm_start : bool, default=False
        With a full-pass solver, ``fit`` reaches the same optimum from any start,
        so a warm start only keeps (and checks) the classes. With ``"sgd"``:
        ``fit`` continues from the current weights, bias, update count ``t_``
        and pass count (so ``fit`` with ``epochs=a`` then a warm ``fit`` with
        ``epochs=b`` on the same data equals one ``fit`` with ``epochs=a + b``).
        The classes must be the same. The standardization statistics of the
        first ``fit`` are kept; if the model has none and ``standardize=True``
        they are computed and the weights re-expressed so the model is unchanged;
        with ``standardize=False`` existing statistics are folded into the weights.
    average : bool or int, default=False
        Averaged SGD (Polyak-Ruppert): the model (``coef_``, ``intercept_``,
        predictions) is the running average of the iterates, from the first update
        (``True``) or from update ``N`` on (an int; scikit-learn's ``average``
        counts rows instead), kept inside the compiled update step. Training
        continues from the iterates (``partial_fit``, ``warm_start``); a warm start
        that changes the standardization restarts the average from the model.
    l1 : float, default=0.0
        L1 penalty ``l1 * ||w||_1`` (elastic net with ``l2``; never the bias), by the
        cumulative penalty of Tsuruoka et al. (2009) after every step: weights
        become exactly zero. Its sums are kept across ``partial_fit`` calls.
    class_weight : None, "balanced" or dict, default=None
        Each row's loss counts ``class_weight[label]`` times (times its
        ``sample_weight``); ``"balanced"``: ``n / (2 n_c)`` from the label counts of
        the ``fit`` data (not with ``partial_fit``, as ``SGDClassifier``); a dict maps
        class labels to weights (a class left out: 1).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The class labels, sorted (as ``LabelEncoder``); ``classes_[1]`` is the
        positive class, the one whose probability the neuron outputs.
    coef_ : ndarray of shape (1, n_features_in_)
        Weights in the raw feature space: the standardization is folded in, so
        ``X @ coef_.T + intercept_`` equals :meth:`decision_function` to float
        rounding. (Predictions are computed as ``((x - mean_) / scale_) . w + b``,
        the numerically better form; ``coef_`` is derived from it, and setting it
        by hand does not change the model.)
    intercept_ : ndarray of shape (1,)
    mean_, scale_ : ndarray of shape (n_features_in_,) or None
        The standardization statistics, or ``None`` when the model has none.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` was a DataFrame with string column names.
    n_iter_ : int
        Iterations of the last call: Newton or L-BFGS iterations for a full-pass
        ``fit``; passes over the data for SGD (``epochs`` for ``fit``, 1 for
        ``partial_fit``).
    t_ : int
        Mini-batch updates made since the model was started (drives
        ``"invscaling"``).
    converged_ : bool
        A full-pass ``fit``: whether the solver met its tolerance. SGD: whether
        the convergence rule (see ``epochs``) held after the last call's passes
        (always False after ``partial_fit``: one pass decides nothing).
    loss_curve_ : list of float
        A full-pass ``fit``: the objective ``J`` after each iteration. SGD: one
        value per pass since the model was started, the objective with the loss
        taken at the weights each row met during the pass (as the ``history`` of
        ``streamneuron train``).

    Notes
    -----
    Ties: a row with logit exactly 0 (probability 0.5) is predicted as
    ``classes_[0]``, as in scikit-learn's linear classifiers (``Neuron.predict``
    would say 1). :meth:`to_neuron` exports the model as a
    :class:`streamneuron.Neuron` (JSON model file, CLI ``predict``).
    """

    # Derived from the parameter table (streamneuron.params), as the defaults below.
    _parameter_constraints: dict = estimator_constraints()

    def __init__(self, *, loss=estimator_default("loss"), solver=estimator_default("solver"),
                 batch_size=estimator_default("batch_size"),
                 epochs=estimator_default("epochs"), lr=estimator_default("lr"),
                 schedule=estimator_default("schedule"), power_t=estimator_default("power_t"),
                 l2=estimator_default("l2"), standardize=estimator_default("standardize"),
                 shuffle=estimator_default("shuffle"),
                 random_state=estimator_default("random_state"),
                 warm_start=estimator_default("warm_start"),
                 average=estimator_default("average"), l1=estimator_default("l1"),
                 class_weight=estimator_default("class_weight")):
        self.loss = loss
        self.solver = solver
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr = lr
        self.schedule = schedule
        self.power_t = power_t
        self.l2 = l2
        self.standardize = standardize
        self.shuffle = shuffle
        self.random_state = random_state
        self.warm_start = warm_start
        self.average = average
        self.l1 = l1
        self.class_weight = class_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = False
        return tags

    # -- training -----------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``(X, y)``: its optimum (``solver`` "auto", "newton",
        "lbfgs"), or ``epochs`` passes of SGD (``solver="sgd"``; ``None``: until
        converged).

        SGD starts from zero weights unless ``warm_start=True`` and the model is
        fitted. ``X`` may be float32 (SGD uses it without a float64 copy; the
        full-pass solvers' sums take float64 temporaries, about 3x the float32 X
        at peak, measured with tracemalloc) or float64; other types are
        converted to float64, and a non-C-ordered array is copied once to C
        order for the row-wise kernel. ``y`` holds any two labels.
        ``sample_weight``: each row's loss counts that many times (with
        ``class_weight``, their product): the objective is the weighted mean loss
        (SGD: every batch steps with the weighted mean gradient), and the
        standardization statistics are the weighted mean and standard deviation.
        So with a full-pass solver integer weights equal repeated rows and a
        weight of 0 equals the row being absent (with SGD only when a batch holds
        every row).
        """
        warm = self.warm_start and hasattr(self, "classes_")
        X, y = validate_data(self, X, y, dtype=_FLOAT_DTYPES, order="C", reset=not warm)
        check_classification_targets(y)
        classes = _binary_classes(y, "y")
        if warm:
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"warm_start=True: the classes of y, {classes.tolist()!r}, differ from "
                    f"those of the fitted model, {self.classes_.tolist()!r}"
                )
            self._rebase_standardization(X)
        else:
            self.classes_ = classes
        y01 = self._encode(y)
        weights = self._row_weights(X, y01, sample_weight, fit=True)
        if self.solver != "sgd":
            self._fit_full_pass(X, y01, weights)
            return self
        if not warm:
            stats = self._moments(X, weights) if self.standardize else None
            self._start(X.shape[1], stats)
        seed = self._seed()
        self.n_iter_ = self._train(X, y01, seed, self.epochs, weights)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass of mini-batches over ``(X, y)``, continuing the current model.

        ``classes`` (both labels) is required on the first call, as for
        ``SGDClassifier``; later calls may omit it. A model started here with
        ``standardize=True`` updates its running standardization statistics with
        ``X`` first (predictions unchanged by the update; see ``standardize``); one
        started by :meth:`fit` keeps the statistics of that fit.
        Rows are shuffled within the block when ``shuffle=True`` (see the module
        docstring for the exact order). Each call ends by applying the last
        short batch, so ``k`` calls on blocks of ``n`` rows make
        ``k * ceil(n / batch_size)`` updates (a batch whose weights sum to 0 takes
        no step). ``sample_weight`` as for :meth:`fit`.
        """
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        X, y = validate_data(self, X, y, dtype=_FLOAT_DTYPES, order="C", reset=first)
        check_classification_targets(y)
        if classes is not None:
            wanted = _binary_classes(np.asarray(classes), "classes")
            if not first and not np.array_equal(wanted, self.classes_):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to "
                    f"partial_fit, was: {self.classes_!r}"
                )
        if first:
            self.classes_ = wanted
            self._start(X.shape[1], None)
            self._running = Moments.empty(X.shape[1]) if self.standardize else None
        if getattr(self, "_running", None) is not None:
            self._update_running_statistics(X)
        y01 = self._encode(y)
        weights = self._row_weights(X, y01, sample_weight, fit=False)
        self.n_iter_ = self._train(X, y01, self._seed(), 1, weights)
        self.converged_ = False
        return self

    # -- prediction -----------------------------------------------------------------
    def decision_function(self, X):
        """The logit ``z`` of each row, shape (n_samples,); ``z > 0`` predicts ``classes_[1]``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        z = np.empty(X.shape[0], dtype=np.float64)
        n = self._neuron
        bad = kernels.logits(X, n.weights, n.bias, n._mean, n._inv_scale, z)
        if bad >= 0:
            raise ValueError(f"row {bad} of X gives a non-finite logit (the values are too large)")
        return z

    def predict_proba(self, X):
        """``[[P(classes_[0]), P(classes_[1])], ...]``, shape (n_samples, 2)."""
        z = self.decision_function(X)
        return np.column_stack([sigmoid(-z), sigmoid(z)])

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from the logit without overflow."""
        z = self.decision_function(X)
        return np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])

    def predict(self, X):
        """``classes_[1]`` where the logit is > 0, else ``classes_[0]``."""
        z = self.decision_function(X)
        return self.classes_[(z > 0.0).astype(np.intp)]

    def to_neuron(self, label: str | None = "y") -> Neuron:
        """The fitted model as a :class:`streamneuron.Neuron` (outputs ``P(classes_[1])``).

        ``neuron.save(path)`` writes the JSON model file that ``streamneuron
        predict`` and ``evaluate`` read; feature names are ``feature_names_in_``
        when known, else ``x0, x1, ...``.
        """
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        held = self._neuron
        neuron = Neuron(self.n_features_in_, self.loss,
                        feature_names=None if names is None else [str(c) for c in names],
                        label=label,
                        standardize=None if held.mean is None else (held.mean, held.scale))
        neuron.weights = held.weights.copy()
        neuron.bias = float(held.bias)
        neuron.updates = int(held.updates)
        return neuron

    # -- internals ------------------------------------------------------------------
    def _fit_full_pass(self, X, y01, weights) -> None:
        """The optimum of the objective by :func:`streamneuron.fit_gd` (in this
        process), as a fresh model: weights, bias and standardization copied from
        the Neuron it returns."""
        solver = self.solver
        if solver == "auto":
            solver = pick_solver(X.shape[1])
        if self.standardize:
            # fit_gd computes the same statistics, but gives an overflowing variance as
            # an infinite scale: check here for the clear ValueError (one cheap pass).
            self._moments(X, weights)
        fitted = fit_gd((X, y01), solver=solver, loss=self.loss, l2=self.l2, l1=self.l1,
                        tol=FULL_PASS_TOL, standardize=self.standardize, workers=0,
                        weight=weights)
        self._start(X.shape[1], None)
        neuron = self._neuron
        neuron.set_standardize(None if fitted.mean is None else (fitted.mean, fitted.scale))
        neuron.weights, neuron.bias = fitted.weights.copy(), float(fitted.bias)
        info = fitted.info
        self.n_iter_ = int(info["iterations"])
        self.converged_ = bool(info["converged"])
        self.loss_curve_ = [float(row["objective"]) for row in info["history"]]
        self._publish()

    def _seed(self) -> int:
        if self.random_state is None:
            return 0
        if isinstance(self.random_state, Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _row_weights(self, X, y01, sample_weight, *, fit: bool):
        """Each row's weight (``sample_weight`` times ``class_weight``), float64, or
        None when neither is given; ValueError for weights that cannot train."""
        class_weights = None
        if self.class_weight is not None:
            if isinstance(self.class_weight, str):
                if not fit:
                    raise ValueError("class_weight 'balanced' is not supported for "
                                     "partial_fit: it needs the class counts of all the data; "
                                     "give class_weight={label: weight}")
                ones = int(np.count_nonzero(y01))
                class_weights = balanced((len(y01) - ones, ones))
            else:
                class_weights = tuple(float(self.class_weight.get(c, 1.0)) for c in
                                      (self.classes_[0], self.classes_[1]))
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        weights = row_weights(sample_weight, y01, class_weights)
        if weights is not None:
            if not weights.sum() > 0:
                raise ValueError("the sample weights are all zero: no row would count; "
                                 "give at least one non-zero weight")
            present = np.unique(y01[weights > 0])
            if fit and present.shape[0] < 2:
                raise ValueError(
                    "NeuronClassifier needs samples of 2 classes, but the rows of non-zero "
                    f"weight hold only one class: {self.classes_[int(present[0])]!r}")
        return weights

    @staticmethod
    def _moments(X, weights=None) -> Moments:
        """The (weighted) per-feature mean and spread of ``X``, ``_MOMENT_ROWS`` rows at a time."""
        total = Moments.empty(X.shape[1])
        for start in range(0, X.shape[0], _MOMENT_ROWS):
            rows = slice(start, start + _MOMENT_ROWS)
            total = total.merge(Moments.of(X[rows], None if weights is None else weights[rows]))
        if not np.isfinite(total.m2).all():
            column = int(np.flatnonzero(~np.isfinite(total.m2))[0])
            raise ValueError(f"feature {column} of X is too large to standardize (its "
                             "variance overflows float64); rescale it first")
        return total

    def _update_running_statistics(self, X) -> None:
        """Streaming standardization (a model started by :meth:`partial_fit`): merge
        ``X`` into the running moments and re-express the model, and the training
        state, for the new statistics without changing any prediction."""
        running = self._running.merge(self._moments(X))
        new = (running.mean, running.scale())
        neuron = self._neuron
        if neuron.mean is not None:
            old = (neuron.mean, neuron.scale)
            neuron.weights, neuron.bias = restandardized(neuron.weights, neuron.bias, old, new)
            state = self._sgd
            if state is not None:
                state.weights, state.bias = restandardized(state.weights, state.bias, old, new)
                if state.avg_count > 0:
                    state.avg_w, state.avg_b = restandardized(state.avg_w, state.avg_b, old, new)
                # AdaGrad's sums of squared gradients, as if the past gradients had been
                # taken over the new scale (d z / d w'_j = (x_j - m'_j) / s'_j): the
                # per-coordinate steps stay the same size relative to the new weights.
                state.g2[:-1] *= (old[1] / new[1]) ** 2
        neuron.set_standardize(new)
        self._running = running
        self._publish()

    def _start(self, d: int, moments: Moments | None) -> None:
        """A fresh model: a :class:`Neuron` with zero weights and bias."""
        self._neuron = Neuron(d, self.loss, standardize=None if moments is None else (
            moments.mean, moments.scale()))
        self._passes = 0
        self._sgd = None  # averaged SGD: the training state (iterates and average)
        self._running = None  # streaming standardization's moments (partial_fit)
        self.loss_curve_ = []
        self.n_iter_ = 0
        self.converged_ = False
        self._publish()

    def _rebase_standardization(self, X) -> None:
        """Warm start: match the model's statistics to ``standardize``, model unchanged."""
        neuron = self._neuron
        if self.standardize != (neuron.mean is not None):
            self._sgd = None  # the average restarts from the rebased model
        if self.standardize and neuron.mean is None:
            moments = self._moments(X)
            mean, scale = moments.mean, moments.scale()
            # z = w.x + b = (w * scale) . (x - mean) / scale + (b + w . mean)
            neuron.bias += float(neuron.weights @ mean)
            neuron.weights = neuron.weights * scale
            neuron.set_standardize((mean, scale))
        elif not self.standardize and neuron.mean is not None:
            coef = neuron.weights * neuron._inv_scale
            neuron.bias -= float(coef @ neuron._mean)
            neuron.weights = coef
            neuron.set_standardize(None)
        self._publish()

    def _encode(self, y) -> np.ndarray:
        """Labels as float64 0/1, 1 for ``classes_[1]``; ValueError for unknown labels."""
        y = np.asarray(y)
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(
                f"y contains labels that are not in classes_ {self.classes_.tolist()!r}: "
                f"{np.unique(y[unknown]).tolist()!r}"
            )
        return (y == self.classes_[1]).astype(np.float64)

    def _train(self, X, y01, seed: int, passes: int | None, weights=None) -> int:
        """``passes`` passes over the rows (``None``: until converged, at most
        ``defaults.MAX_EPOCHS``; ``weights``: each row's, or None); the model is
        updated only if all succeed. Returns the passes made."""
        n = X.shape[0]
        neuron = self._neuron
        neuron.loss_fn = get_loss(self.loss)  # a warm start may have changed it
        batch_size = defaults.auto_batch_size(n) if self.batch_size == "auto" \
            else self.batch_size
        lr = defaults.default_lr(self.schedule) if self.lr is None else self.lr
        # "auto": each pass's iterates averaged afresh (see ``schedule``)
        per_pass = self.schedule == defaults.AUTO_SCHEDULE and not self.average
        rule = StepRule.of(neuron.loss_fn, batch_size, lr, self.schedule,
                           self.power_t, self.l2, 1 if per_pass else self.average,
                           l1=self.l1)
        previous = getattr(self, "_sgd", None)
        if (rule.average > 0 or rule.adagrad or rule.l1 > 0) and previous is not None:
            # continue the iterates, their average, AdaGrad's sums and L1's
            state = TrainState(previous.weights.copy(), np.zeros_like(previous.weights),
                               previous.bias, previous.updates, avg_b=previous.avg_b,
                               avg_count=previous.avg_count, avg_w=previous.avg_w.copy(),
                               g2=previous.g2.copy(), l1_u=previous.l1_u.copy(),
                               l1_q=previous.l1_q.copy())
        else:
            state = TrainState.start(neuron.weights.copy(), neuron.bias, neuron.updates)
        curve = []
        most = defaults.MAX_EPOCHS if passes is None else passes
        for p in range(self._passes, self._passes + most):
            if per_pass:
                state.avg_count = 0  # this pass's average (its first update restarts it)
            order = block_order(n, seed=seed, epoch=p, block=0, shuffle=self.shuffle)
            labels = y01[order] if order.size else y01  # in training order
            in_order = None if weights is None else weights[order] if order.size else weights
            _, status = state.train_block(X, labels, rule, neuron._mean, neuron._inv_scale,
                                          order=order, row_weights=in_order)
            if status == OK:
                _, objective = state.finish_pass(rule)  # the last short batch, as it is
            if status != OK or not state.is_finite():
                raise DivergenceError(
                    f"the weights became infinite in pass {p + 1}: lower lr (now {lr!r})"
                    + ("" if neuron.mean is not None else " or standardize the features"))
            curve.append(objective)
            if passes is None and defaults.converged(curve, n):
                break
        self.converged_ = defaults.converged(curve, n)
        neuron.weights, neuron.bias, neuron.updates = state.weights, state.bias, state.updates
        if rule.average > 0 or rule.adagrad or rule.l1 > 0:
            self._sgd = state
            weights, bias = state.model(rule)
            neuron.weights, neuron.bias = weights.copy(), bias
        else:
            self._sgd = None
        self._passes += len(curve)
        self.loss_curve_ = self.loss_curve_ + curve
        self._publish()
        return len(curve)

    def _publish(self) -> None:
        """Set the public fitted attributes from the neuron."""
        neuron = self._neuron
        self.mean_, self.scale_ = neuron.mean, neuron.scale
        self.t_ = int(neuron.updates)
        coef = neuron.weights * neuron._inv_scale
        self.coef_ = coef.reshape(1, -1)
        self.intercept_ = np.array([float(neuron.bias) - float(coef @ neuron._mean)])


__all__ = ["NeuronClassifier"]
