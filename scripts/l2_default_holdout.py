"""Held-out log loss of the default l2 (1/n, scikit-learn's C = 1) against fixed values.

breast_cancer, a stratified 70/30 split per seed (seeds 0-9), newton to the optimum at
each l2; scikit-learn's LogisticRegression() (C = 1) on the same standardized split for
reference. Prints the median held-out log loss of each, and its ratio to the default's.

    python scripts/l2_default_holdout.py
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import streamneuron as sn


def main() -> None:
    warnings.simplefilter("ignore")  # l2 = 0 on separable folds: unbounded, as expected
    X, y = load_breast_cancer(return_X_y=True)
    values = {"default (1/n)": None, "0": 0.0, "1e-4": 1e-4, "1e-2": 1e-2}
    losses: dict[str, list[float]] = {name: [] for name in [*values, "sklearn C=1"]}
    for seed in range(10):
        Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
        for name, l2 in values.items():
            kwargs = {} if l2 is None else {"l2": l2}
            model = sn.fit_gd((Xa, ya), solver="newton", workers=0, **kwargs)
            losses[name].append(log_loss(yb, model.predict_proba(Xb)))
        scaler = StandardScaler().fit(Xa)
        lr = LogisticRegression().fit(scaler.transform(Xa), ya)
        losses["sklearn C=1"].append(log_loss(yb, lr.predict_proba(scaler.transform(Xb))[:, 1]))
    base = np.median(losses["default (1/n)"])
    for name, values_ in losses.items():
        med = float(np.median(values_))
        print(f"{name:>14}: held-out log loss {med:.4f} (median of 10), {med / base:.2f}x the default")


if __name__ == "__main__":
    main()
