"""``NeuronClassifier``: the streamneuron neuron as a scikit-learn estimator.

The same model, math and compiled engine as :func:`streamneuron.fit_sgd`, for
data that fits in memory (numpy arrays, pandas DataFrames, and Dask arrays
through ``dask_ml.wrappers.Incremental``). scikit-learn is an optional
dependency: only this module and :mod:`streamneuron.sklearn_input` import it
(``pip install 'streamneuron[sklearn]'``, scikit-learn >= 1.6).

How training runs
-----------------
The estimator holds a :class:`streamneuron.Neuron` (weights, bias, update count,
standardization). :meth:`NeuronClassifier.fit` with ``solver="auto"`` (the
default), ``"newton"`` or ``"lbfgs"`` reaches the optimum of the objective by
full passes, as :func:`streamneuron.fit_gd` (in this process, on the in-memory
rows), so integer sample weights equal repeated rows and the result does not
depend on a seed. :meth:`NeuronClassifier.partial_fit`, and ``fit`` with
``solver="sgd"``, follow the pass policy of :func:`streamneuron.fit_sgd`
(:meth:`streamneuron.training.PassPolicy.train_array`: each pass one call of the
fused kernel over the whole array, the rows in the order ``fit_sgd`` gives a file of
one row group, the passes of ``fit`` and ``partial_fit`` counted together from the
last cold start). With the same ``seed`` and ``standardize=False``, ``fit`` on an
array and ``fit_sgd`` on a one-row-group Parquet file of the same rows give
bit-identical weights (with standardization they agree to rounding: numpy's column
means of a C-ordered array and of the reader's column-major block can differ in
the last bit).

The input checks are :mod:`streamneuron.sklearn_input`'s; standardization on arrays
(the statistics, streaming standardization in ``partial_fit``, a warm start's
rebase) is :mod:`streamneuron.standardization`'s.
"""

from __future__ import annotations


import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted

    from .sklearn_data import (LogitOutputs, categorical_columns, categorical_logits,
                               dense_data, fit_categorical, fit_missing, missing_X,
                               neuron_columns)
    from .sklearn_input import binary_classes, encode_labels, estimator_row_weights, seed_of
    from .sklearn_levels import fit_levels_sgd, partial_fit_levels
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "streamneuron.NeuronClassifier needs scikit-learn >= 1.6 "
        "(pip install 'streamneuron[sklearn]')"
    ) from exc

from . import defaults, kernels
from .fullpass.engine import fit_gd
from .losses import get_loss
from .neuron import Neuron
from .params import estimator_constraints, estimator_default, pick_solver
from .penalty import default_l2
from .standardization import array_moments, rebase, restandardize
from .stats import Moments
from .training import PassPolicy

_FLOAT_DTYPES = [np.float64, np.float32]

# The full-pass solvers of ``fit`` stop within this relative gap of the optimum:
# tight enough that weighted and repeated-row fits agree to ~1e-9 in probability
# (scikit-learn's sample-weight check asks 1e-7); Newton converges quadratically,
# so this costs it one or two iterations more than fit_gd's default of 1e-6.
FULL_PASS_TOL = 1e-10


class NeuronClassifier(LogitOutputs, ClassifierMixin, BaseEstimator):
    """A single sigmoid neuron ``p = sigmoid(x . w + b)``: its exact optimum, or SGD.

    Logistic regression (``loss="log"``) or the article's squared error through
    the sigmoid (``loss="mse"``), with an L2 penalty on the weights (not the
    bias). The objective is ``J = sum_i s_i L_i / sum_i s_i + (l2 / 2) * ||w||**2
    + l1 * ||w||_1`` (``s_i`` the row weights: ``sample_weight`` times
    ``class_weight``, 1 by default), so ``l2`` corresponds to
    ``LogisticRegression(C=1 / (l2 * sum_i s_i))`` on the standardized features
    (the default, ``l2 = 1 / sum_i s_i``, is ``C = 1``).

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
        to the optimum is at most ``1e-10 * |J|``; ``"lbfgs"``: L-BFGS (OWL-QN
        with ``l1``), stopping when its estimate of that gap is within the same tolerance; ``"auto"``:
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
    l2 : float or None, default=None
        L2 penalty ``(l2 / 2) * ||w||**2`` (weights only; the bias is free).
        None: ``1 / sum_i s_i`` (``n`` unweighted), scikit-learn's ``C = 1``; with
        :meth:`partial_fit`, the rows of the call. ``l2_`` is the number used.
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
    categorical_features : "from_dtype", list of str or None, default="from_dtype"
        One-hot columns of a pandas DataFrame ``X``: ``"from_dtype"`` its string, object
        and ``category`` columns (as ``HistGradientBoostingClassifier``), or the named
        columns; a weight per level seen in ``fit`` (a null is a level; an unseen level
        adds nothing), penalised, not standardized: ``ColumnTransformer(StandardScaler,
        OneHotEncoder(handle_unknown="ignore"))`` then ``LogisticRegression``; SGD and
        ``partial_fit`` too (:mod:`streamneuron.sklearn_levels`: the first ``partial_fit``
        fixes the levels). scipy sparse ``X`` is densified, up to 2**27 values.
    missing : "error", "impute" or "drop", default="error"
        NaN in ``X``: refused; ``"impute"``: each column's (weighted) mean from ``fit``,
        and a 0/1 indicator column for each column with a NaN in ``fit``
        (``SimpleImputer(strategy="mean", add_indicator=True)``; ``missing_fills_``);
        ``"drop"``: the rows with a NaN are not trained on (in prediction a NaN adds
        nothing to the logit).

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
    levels_ : streamneuron.levels.Levels or None
        The categorical columns' levels; ``coef_`` then holds the number features'
        weights followed by each level's (``levels_.labels()``).
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

    _sparse_input = True  # densified (sklearn_data.densify: up to 2**27 values)
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
                 class_weight=estimator_default("class_weight"),
                 categorical_features=estimator_default("categorical_features"),
                 missing=estimator_default("missing")):
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
        self.categorical_features = categorical_features
        self.missing = missing

    # -- training -----------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to ``(X, y)``: its optimum (``solver`` "auto", "newton",
        "lbfgs"), or ``epochs`` passes of SGD (``solver="sgd"``; ``None``: until
        converged).

        SGD starts from zero weights unless ``warm_start=True`` and the model is
        fitted. ``X`` may be float32 (SGD uses it without a float64 copy; the
        full-pass solvers' sums take float64 temporaries) or float64; other types are
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
        names = categorical_columns(X, self.categorical_features)
        if names:
            (fit_levels_sgd(self, X, y, sample_weight, names) if self.solver == "sgd" else
             fit_categorical(self, X, y, sample_weight, names, FULL_PASS_TOL))
            return self
        warm = self.warm_start and hasattr(self, "classes_") and self._neuron.levels is None
        X, y = dense_data(self, X, y, dtype=_FLOAT_DTYPES, order="C", reset=not warm)
        check_classification_targets(y)
        classes = binary_classes(y, "y")
        if warm:
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"warm_start=True: the classes of y, {classes.tolist()!r}, differ from "
                    f"those of the fitted model, {self.classes_.tolist()!r}"
                )
            self._rebase_standardization(X)
        else:
            self.classes_ = classes
        y01 = encode_labels(y, self.classes_)
        weights = estimator_row_weights(X, y01, sample_weight, self.class_weight,
                                        self.classes_, fit=True)
        X, y01, weights = fit_missing(self, X, y01, weights)
        if self.solver != "sgd":
            self._fit_full_pass(X, y01, weights)
            return self
        if not warm:
            stats = array_moments(X, weights) if self.standardize else None
            self._start(X.shape[1], stats)
        seed = seed_of(self.random_state)
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
        names = categorical_columns(X, self.categorical_features)
        if names or (not first and self._neuron.levels is not None):
            partial_fit_levels(self, X, y, classes, sample_weight, names)
            return self
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        X, y = dense_data(self, X, y, dtype=_FLOAT_DTYPES, order="C", reset=first)
        check_classification_targets(y)
        if classes is not None:
            wanted = binary_classes(np.asarray(classes), "classes")
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
        y01 = encode_labels(y, self.classes_)
        weights = estimator_row_weights(X, y01, sample_weight, self.class_weight,
                                        self.classes_, fit=False)
        self.n_iter_ = self._train(X, y01, seed_of(self.random_state), 1, weights)
        self.converged_ = False
        return self

    # -- prediction -----------------------------------------------------------------
    def decision_function(self, X):
        """The logit ``z`` of each row, shape (n_samples,); ``z > 0`` predicts ``classes_[1]``."""
        check_is_fitted(self)
        if self._neuron.levels is not None:
            return categorical_logits(self, X)
        X = missing_X(self, dense_data(self, X, dtype=_FLOAT_DTYPES, reset=False))
        z = np.empty(X.shape[0], dtype=np.float64)
        n = self._neuron
        bad = kernels.logits(X, n.weights, n.bias, n.center, n.inv_scale, z)
        if bad >= 0:
            raise ValueError(f"row {bad} of X gives a non-finite logit (the values are too large)")
        return z

    def to_neuron(self, label: str | None = "y") -> Neuron:
        """The fitted model as a :class:`streamneuron.Neuron` (outputs ``P(classes_[1])``).

        ``neuron.save(path)`` writes the JSON model file that ``streamneuron
        predict`` and ``evaluate`` read; feature names are ``feature_names_in_``
        when known, else ``x0, x1, ...``.
        """
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        held = self._neuron
        if held.levels is not None:
            return Neuron.from_dict({**held.to_dict(), "label": label})
        n, loss, features, missing = neuron_columns(self, names)
        neuron = Neuron(n, loss, feature_names=features, missing=missing, label=label,
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
            array_moments(X, weights)
        fitted = fit_gd((X, y01), solver=solver, loss=self.loss, l2=self.l2, l1=self.l1,
                        tol=FULL_PASS_TOL, standardize=self.standardize, workers=0,
                        weight=weights)
        self._start(X.shape[1], None)
        neuron = self._neuron
        neuron.set_standardize(None if fitted.mean is None else (fitted.mean, fitted.scale))
        neuron.weights, neuron.bias = fitted.weights.copy(), float(fitted.bias)
        info = fitted.info
        self.l2_ = float(info["params"]["l2"])
        self.n_iter_ = int(info["iterations"])
        self.converged_ = bool(info["converged"])
        self.loss_curve_ = [float(row["objective"]) for row in info["history"]]
        self._publish()

    def _l2(self, weight_total: float) -> float:
        """The L2 penalty of a run on rows weighing ``weight_total`` (``l2_``)."""
        self.l2_ = self.l2 if self.l2 is not None else default_l2(weight_total)
        return self.l2_

    def _update_running_statistics(self, X) -> None:
        """Streaming standardization (a model started by :meth:`partial_fit`): merge
        ``X`` into the running moments and re-express the model, and the training
        state, for the new statistics without changing any prediction."""
        running = self._running.merge(array_moments(X))
        restandardize(self._neuron, self._sgd, (running.mean, running.scale()))
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
        if self.standardize != (self._neuron.mean is not None):
            self._sgd = None  # the average restarts from the rebased model
            rebase(self._neuron, self.standardize, X)
        self._publish()

    def _train(self, X, y01, seed: int, passes: int | None, weights=None, codes=None) -> int:
        """``passes`` passes over the rows (``None``: until converged, at most
        ``defaults.MAX_EPOCHS``; ``weights``: each row's, or None; ``codes``: their level
        codes); the model is updated only if all succeed. Returns the passes made."""
        n = X.shape[0]
        neuron = self._neuron
        neuron.loss_fn = get_loss(self.loss)  # a warm start may have changed it
        policy = PassPolicy.of(neuron.loss_fn, n, batch_size=self.batch_size, lr=self.lr,
                               schedule=self.schedule, power_t=self.power_t,
                               l2=self._l2(n if weights is None else float(weights.sum())),
                               average=self.average, l1=self.l1, passes=passes)
        state = policy.state(neuron.weights, neuron.bias, neuron.updates,
                             previous=getattr(self, "_sgd", None))
        curve = policy.train_array(state, X, y01, neuron.center, neuron.inv_scale,
                                   row_weights=weights, seed=seed, shuffle=self.shuffle,
                                   first_pass=self._passes, unscaled=neuron.mean is None,
                                   codes=codes)
        self.converged_ = policy.converged(curve, n)
        self._sgd = policy.carried(state)
        weights, bias = policy.model(state)
        neuron.weights, neuron.bias, neuron.updates = weights.copy(), bias, state.updates
        self._passes += len(curve)
        self.loss_curve_ = self.loss_curve_ + curve
        self._publish()
        return len(curve)

    def _publish(self) -> None:
        """Set the public fitted attributes from the neuron."""
        neuron = self._neuron
        self.mean_, self.scale_, self.levels_ = neuron.mean, neuron.scale, neuron.levels
        self.t_ = int(neuron.updates)
        coef = neuron.weights[:neuron.n_features] * neuron.inv_scale  # then the levels'
        self.coef_ = np.concatenate([coef, neuron.weights[neuron.n_features:]]).reshape(1, -1)
        self.intercept_ = np.array([float(neuron.bias) - float(coef @ neuron.center)])


__all__ = ["NeuronClassifier"]
