"""The penalty of the objective, the one place its formula is written::

    P(w) = (l2/2) ||w||**2 + l1 ||w||_1

over the weights ``w`` only: a :class:`Penalty` is never given the bias, so the bias
is never penalised. The L2 part is smooth (a gradient ``l2 w``, a curvature ``l2`` on
the weights' diagonal); the L1 part is not, and the solvers use it through its value,
its proximal step (the soft threshold) and the pseudo-gradient of ``J + l1 ||w||_1``.

The order of the additions is part of the contract: the objective is always
``(mean loss + L2 term) + L1 term``, the L1 term added only when ``l1 > 0``, so the
numbers (and gd's weights, bit for bit) are those of the article's formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def default_l2(weight_total: float) -> float:
    """The L2 penalty when none is given: ``1/W``, ``W`` the training rows (the sum of
    their weights when weighted): scikit-learn's ``C = 1``.

    scikit-learn minimises ``(1/2)||w||^2 + C sum_i c_i L_i``; divided by ``C W`` that is
    ``sum_i c_i L_i / W + (l2/2)||w||^2`` with ``l2 = 1/(C W)``, our objective.
    """
    return 1.0 / float(weight_total)


def l1_norm(w: np.ndarray) -> float:
    """``||w||_1``."""
    return float(np.abs(w).sum())


@dataclass(frozen=True)
class Penalty:
    """``(l2/2) ||w||**2 + l1 ||w||_1`` on the weights (never the bias)."""

    l2: float = 0.0
    l1: float = 0.0

    @property
    def zero(self) -> bool:
        """No penalty at all: the optimum of separable classes is then at infinity."""
        return self.l2 == 0.0 and self.l1 == 0.0

    # -- values ---------------------------------------------------------------
    def l2_value(self, w: np.ndarray) -> float:
        """``(l2/2) ||w||**2``."""
        return 0.5 * self.l2 * float(w @ w)

    def l1_value(self, w: np.ndarray) -> float:
        """``l1 ||w||_1``."""
        return self.l1 * l1_norm(w)

    def add_l1(self, smooth: float, w: np.ndarray) -> float:
        """``F = J + l1 ||w||_1`` from the smooth objective ``J`` (``J`` itself when
        ``l1 = 0``)."""
        return smooth + self.l1_value(w) if self.l1 > 0.0 else smooth

    def objective(self, mean_loss: float, w: np.ndarray) -> float:
        """``mean loss + (l2/2) ||w||**2 + l1 ||w||_1``, added in that order."""
        return self.add_l1(mean_loss + self.l2_value(w), w)

    def l1_change(self, w: np.ndarray, w_new: np.ndarray) -> float:
        """``l1 (||w_new||_1 - ||w||_1)``: the L1 term's change along a step."""
        return self.l1 * (l1_norm(w_new) - l1_norm(w))

    # -- derivatives of the smooth part ---------------------------------------
    def l2_gradient(self, w: np.ndarray) -> np.ndarray:
        """``l2 w``: the gradient of the L2 term."""
        return self.l2 * w

    def add_l2_curvature(self, hessian_w: np.ndarray) -> None:
        """Add the L2 term's Hessian ``l2 I`` to the weights' block of a Hessian, in
        place (``hessian_w``: that block, e.g. ``H[:d, :d]``, a view)."""
        d = hessian_w.shape[0]
        hessian_w[np.arange(d), np.arange(d)] += self.l2

    # -- the L1 part ----------------------------------------------------------
    def prox(self, w: np.ndarray, step: float) -> np.ndarray:
        """The proximal step of ``step * l1 ||w||_1`` (the soft threshold): each weight
        ``sign(w) max(|w| - step l1, 0)``; weights that cross zero stop at exactly zero."""
        return np.sign(w) * np.maximum(np.abs(w) - step * self.l1, 0.0)

    def pseudo_gradient(self, g: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The minimum-norm subgradient of ``J + l1 ||w||_1`` with respect to ``w``
        (Andrew and Gao's pseudo-gradient), ``g`` the gradient of ``J``::

            g_j + l1 sign(w_j)                 w_j != 0
            g_j + l1   if g_j + l1 < 0         w_j == 0 (F falls to the right)
            g_j - l1   if g_j - l1 > 0         w_j == 0 (F falls to the left)
            0          otherwise               w_j == 0 (zero is optimal along j)

        Zero exactly at the optimum.
        """
        l1 = self.l1
        at_zero = np.where(g + l1 < 0.0, g + l1, np.where(g - l1 > 0.0, g - l1, 0.0))
        return np.where(w != 0.0, g + l1 * np.sign(w), at_zero)


__all__ = ["Penalty", "l1_norm"]
