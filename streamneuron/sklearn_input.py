"""What :class:`streamneuron.NeuronClassifier` checks of its input, as scikit-learn's
contract (``check_estimator``) asks: two classes, labels encoded as 0/1, row weights
that can train, a seed from ``random_state``. Errors are ``ValueError``, worded as
scikit-learn words them where its checks look for the words.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_random_state

from .weighting import balanced, row_weights


def binary_classes(y, what: str) -> np.ndarray:
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


def encode_labels(y, classes: np.ndarray) -> np.ndarray:
    """Labels as float64 0/1, 1 for ``classes[1]``; ValueError for unknown labels."""
    y = np.asarray(y)
    unknown = ~np.isin(y, classes)
    if unknown.any():
        raise ValueError(
            f"y contains labels that are not in classes_ {classes.tolist()!r}: "
            f"{np.unique(y[unknown]).tolist()!r}"
        )
    return (y == classes[1]).astype(np.float64)


def estimator_row_weights(X, y01: np.ndarray, sample_weight, class_weight,
                          classes: np.ndarray, *, fit: bool) -> np.ndarray | None:
    """Each row's weight (``sample_weight`` times ``class_weight``: None, "balanced" or
    ``{label: weight}``), float64, or None when neither is given; ValueError for
    weights that cannot train (all zero; with ``fit``, one class left)."""
    class_weights = None
    if class_weight is not None:
        if isinstance(class_weight, str):
            if not fit:
                raise ValueError("class_weight 'balanced' is not supported for "
                                 "partial_fit: it needs the class counts of all the data; "
                                 "give class_weight={label: weight}")
            ones = int(np.count_nonzero(y01))
            class_weights = balanced((len(y01) - ones, ones))
        else:
            class_weights = tuple(float(class_weight.get(c, 1.0)) for c in
                                  (classes[0], classes[1]))
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
                f"weight hold only one class: {classes[int(present[0])]!r}")
    return weights


def seed_of(random_state) -> int:
    """The seed of the row permutations: 0 for None, an int as it is, else one drawn
    from the ``RandomState`` (a new one on every call)."""
    if random_state is None:
        return 0
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


__all__ = ["binary_classes", "encode_labels", "estimator_row_weights", "seed_of"]
