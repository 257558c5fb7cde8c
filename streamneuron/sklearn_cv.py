"""``NeuronClassifierCV``: the L2 penalty chosen by cross-validation, as scikit-learn's
``LogisticRegressionCV``.

One call of :func:`streamneuron.fit_gd` with ``l2="auto"``: every fold is fitted
along a warm-started path of penalties in the same passes over the rows
(:mod:`streamneuron.fullpass.path`), scored by the held-out log loss, then the model
is refitted on every row at the best penalty.

The penalty's scale: streamneuron's objective is the *mean* loss plus
``(l2/2) ||w||**2``; scikit-learn's is ``C`` times the *summed* loss plus
``||w||**2 / 2``. So ``l2 = 1 / (C n)``, ``n`` the training rows (the sum of the row
weights when weighted). The folds are a seeded hash of the row index
(``random_state``), not scikit-learn's ``KFold``.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
    from sklearn.utils._param_validation import Interval, StrOptions
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data

    from .sklearn_input import binary_classes, encode_labels, estimator_row_weights
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "streamneuron.NeuronClassifierCV needs scikit-learn >= 1.6 "
        "(pip install 'streamneuron[sklearn]')"
    ) from exc

from .fullpass.engine import fit_gd
from .params import pick_solver
from .sklearn_data import LogitOutputs

# The full-pass fit at the chosen penalty stops within this relative gap (as
# NeuronClassifier's full-pass fit).
REFIT_TOL = 1e-10


class NeuronClassifierCV(LogitOutputs, ClassifierMixin, BaseEstimator):
    """Logistic regression with its L2 penalty chosen on held-out folds.

    Parameters
    ----------
    Cs : int or array-like, default=10
        The penalties as scikit-learn's ``C`` (``l2 = 1 / (C n)``), or their number:
        a log grid from a penalty that leaves every weight near zero down to 1e-4 of
        it (the path may stop early once the held-out loss rises or settles).
    l2s : array-like or None, default=None
        The penalties in streamneuron's scale (``l2``), instead of ``Cs``.
    cv : int, default=5
        The number of folds (a seeded hash of the row index).
    scoring : {"neg_log_loss"} or None, default=None
        The held-out score: the log loss (the only one: it is what the passes sum).
    refit : bool, default=True
        True: the model refitted on every row at the best penalty. False: the folds'
        models at the best penalty, averaged (scikit-learn's ``refit=False``).
    standardize : bool, default=True
        Standardize the features (their mean and standard deviation) inside the model.
    random_state : int, default=0
        The seed of the folds.

    Attributes
    ----------
    C_ : ndarray of shape (1,)
        The chosen penalty as ``C``; ``l2_`` the same in streamneuron's scale.
    Cs_, l2s_ : ndarray
        The penalties tried (largest ``l2`` first).
    scores_ : dict
        ``{classes_[1]: array (n_folds, n_penalties)}``: each fold's held-out score
        (minus its log loss) at each penalty.
    coef_, intercept_ : ndarray
        The model in the raw features' units. ``path_`` is the path's record.
    """

    _parameter_constraints: dict = {
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l2s": ["array-like", None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "scoring": [StrOptions({"neg_log_loss"}), None],
        "refit": ["boolean"],
        "standardize": ["boolean"],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, *, Cs=10, l2s=None, cv=5, scoring=None, refit=True, standardize=True,
                 random_state=0):
        self.Cs = Cs
        self.l2s = l2s
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.standardize = standardize
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Choose the penalty on ``cv`` folds of ``(X, y)`` and fit the model."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], order="C")
        check_classification_targets(y)
        self.classes_ = binary_classes(y, "y")
        y01 = encode_labels(y, self.classes_)
        weights = estimator_row_weights(X, y01, sample_weight, None, self.classes_, fit=True)
        total = float(X.shape[0] if weights is None else weights.sum())
        if self.l2s is not None:
            values = [float(v) for v in np.ravel(self.l2s)]
        elif np.ndim(self.Cs) == 0:
            values = int(self.Cs)
        else:
            values = [1.0 / (float(c) * total) for c in np.ravel(self.Cs)]
        fitted = fit_gd((X, y01), solver=pick_solver(X.shape[1]), l2="auto", cv=self.cv,
                        seed=self.random_state, path_values=values, workers=0,
                        standardize=self.standardize, tol=REFIT_TOL, weight=weights)
        path = fitted.info["path"]
        self.path_ = path
        self.l2s_ = np.array([p["penalty"] for p in path["points"]])
        self.Cs_ = 1.0 / (self.l2s_ * total)
        self.l2_ = np.array([path["chosen"]])
        self.C_ = 1.0 / (self.l2_ * total)
        self.scores_ = {self.classes_[1]: -np.array([p["folds"] for p in path["points"]]).T}
        self.n_iter_ = int(fitted.info["passes"])
        if self.refit:
            w, b = fitted.weights, float(fitted.bias)
        else:
            theta = np.mean(np.array(path["fold_models"]), axis=0)
            w, b = theta[:-1], float(theta[-1])
        self.coef_ = (w * fitted.inv_scale).reshape(1, -1)
        self.intercept_ = np.array([b - float(self.coef_[0] @ fitted.center)])
        return self

    def decision_function(self, X):
        """The logit of each row, shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return X @ self.coef_[0] + self.intercept_[0]


__all__ = ["NeuronClassifierCV"]
