"""Newton's Hessian with categorical columns, in H2O's arrowhead form.

One categorical column's levels never meet in a row, so its block of the Hessian is
diagonal (H2O's GLM keeps its first categorical column's block so: ``hex/gram/Gram.java``,
``_diag``). Newton's curvature is summed in three parts (:class:`Arrow`), the weights of
the column with the most levels (``K`` of them, codes ``[lo, lo + K)``) apart from the
other ``r = p - K`` weights and the bias::

    H = [[A,  B^T],        A  (r + 1) x (r + 1)   the other weights and the bias, dense
         [B,  C  ]]        B  K x (r + 1)          each level against the others
                           C  diag(c), K           each level's own curvature

and the Newton system ``H s = -g`` is solved through the Schur complement of ``C``
(:meth:`ArrowHessian.solve`)::

    S = A - B^T C^-1 B                (one product: (r + 1)**2 K flops dense, fewer on
                                       B's nonzeros when B is sparse)
    S s_r = -g_r + B^T C^-1 g_K       (Cholesky of S: (r + 1)**3 / 3)
    s_K = C^-1 (-g_K - B s_r)

exact: the same step, the same optimum and the same passes as the dense ``(p + 1)**2``
Hessian, for ``8 ((r + 1)**2 + K (r + 2))`` bytes a task instead of ``8 (p + 1)**2``
(11,118 weights, a 9,996-level column: 100 MiB instead of 0.92 GiB) and a solve of
``(r + 1)**2 (K + (r + 1) / 3)`` flops instead of ``(p + 1)**3 / 3``.

The flat sums (:class:`~streamneuron.fullpass.sums.Sums`) hold ``[A, B, C]`` where they
held the one matrix; ``K = 0`` (no categorical column: :meth:`Arrow.dense`) is the
dense layout exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solve_triangular

from ..penalty import Penalty

# S = A - B^T C^-1 B on B's nonzeros (scipy.sparse) when at most this share of B is
# nonzero, else by one dense product.
SPARSE_SHARE = 0.25


@dataclass(frozen=True)
class Arrow:
    """The layout of one curvature matrix of ``p`` weights (module docstring): the
    weights ``[lo, lo + K)`` (one categorical column's) apart, diagonal."""

    p: int  # every weight (numbers and levels), the bias not counted
    lo: int  # the diagonal column's first weight (p when K = 0)
    K: int  # its weights
    column: str = ""  # its name (for info["hessian"])
    # newton's sampled pass: each row's probability to be summed, the largest of keep[0]
    # and keep[1 + code - d] over its levels (fullpass.sums.level_keep); None: every row
    keep: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def dense(cls, p: int) -> "Arrow":
        """No diagonal column: ``A`` is the whole ``(p + 1)**2`` Hessian."""
        return cls(p, p, 0)

    @classmethod
    def of(cls, d: int, levels) -> "Arrow":
        """The column with the most level weights of ``levels`` (a
        :class:`~streamneuron.levels.Levels`, after ``d`` number features) apart; the
        first such column on a tie; none (dense) without levels."""
        if levels is None or not levels.columns:
            return cls.dense(d)
        sizes = [c.n_weights for c in levels.columns]
        big = int(np.argmax(sizes))
        p = d + levels.n_weights
        if sizes[big] == 0:
            return cls.dense(p)
        return cls(p, d + int(levels.offsets()[big]), int(sizes[big]),
                   levels.columns[big].name)

    @property
    def r(self) -> int:
        """The weights outside the diagonal column."""
        return self.p - self.K

    def describe(self) -> dict:
        """``info["hessian"]``: the layout newton summed and solved."""
        if not self.K:
            return {"layout": "dense", "weights": self.p}
        return {"layout": "arrowhead", "diagonal": self.column, "diagonal_weights": self.K,
                "dense_weights": self.r, "bytes": self.nbytes()}

    def size(self) -> int:
        """Values of one matrix: ``(r + 1)**2 + K (r + 1) + K``."""
        r1 = self.r + 1
        return r1 * r1 + self.K * r1 + self.K

    def nbytes(self) -> int:
        return 8 * self.size()

    def parts(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(A, B, C)``: views of one matrix's values (``flat``, :meth:`size` long)."""
        r1, K = self.r + 1, self.K
        return (flat[:r1 * r1].reshape(r1, r1), flat[r1 * r1:r1 * r1 + K * r1].reshape(K, r1),
                flat[r1 * r1 + K * r1:r1 * r1 + K * r1 + K])

    def rest(self) -> np.ndarray:
        """The indices in ``theta = (w, b)`` of ``A``'s rows: the weights outside the
        diagonal column, in order, then the bias."""
        return np.r_[0:self.lo, self.lo + self.K:self.p + 1]

    def hessian(self, flat: np.ndarray, scale: float, penalty: Penalty) -> "ArrowHessian":
        """The :class:`ArrowHessian` of one matrix's sums ``flat`` (upper triangle of
        ``A``), divided by ``scale`` (``W``), plus the L2 term's ``l2 I`` on the weights
        (never the bias: :meth:`~streamneuron.penalty.Penalty.add_l2_curvature`)."""
        A, B, C = self.parts(flat)
        A = np.triu(A) + np.triu(A, 1).T
        A /= scale
        penalty.add_l2_curvature(A[:self.r, :self.r])
        C = C / scale + penalty.l2  # (add_l2_curvature on the diagonal block, as a vector)
        return ArrowHessian(self, A, B, C, scale)


@dataclass(frozen=True)
class ArrowHessian:
    """``H = [[A, B^T], [B, diag(C)]]`` in the order of :meth:`Arrow.rest` and the
    diagonal column (module docstring), ``B = B_sums / scale`` (the sums as summed: no
    copy of its ~100 MiB); what :class:`~streamneuron.fullpass.sums.Evaluation` carries as
    ``hessian`` when newton sums the arrowhead form."""

    arrow: Arrow
    A: np.ndarray
    B_sums: np.ndarray
    C: np.ndarray
    scale: float = 1.0

    @property
    def B(self) -> np.ndarray:
        return self.B_sums / self.scale

    @property
    def shape(self) -> tuple[int, int]:
        return (self.arrow.p + 1, self.arrow.p + 1)

    def dense(self) -> np.ndarray:
        """The whole ``(p + 1)**2`` matrix in ``theta``'s order (the L1 direction, tests)."""
        a = self.arrow
        rest = a.rest()
        levels = np.arange(a.lo, a.lo + a.K)
        B = self.B
        H = np.zeros(self.shape)
        H[np.ix_(rest, rest)] = self.A
        H[np.ix_(levels, rest)] = B
        H[np.ix_(rest, levels)] = B.T
        H[levels, levels] = self.C
        return H

    def diagonal(self) -> np.ndarray:
        out = np.empty(self.arrow.p + 1)
        out[self.arrow.rest()] = np.diag(self.A)
        out[self.arrow.lo:self.arrow.lo + self.arrow.K] = self.C
        return out

    def schur(self, inv: np.ndarray):
        """``(S, B)``: ``S = A - B^T diag(inv) B`` and ``B`` as it was multiplied. On
        ``B``'s nonzeros when it is sparse (a level meets few of the other columns'
        levels: 5% nonzero on the flights-like file): one scan of the sums lists them
        (``B`` a ``scipy.sparse`` matrix of them) and each level adds ``inv_t b_t b_t^T``
        on its own (:func:`~streamneuron.kernels.schur_complement`: 0.07 s at 11,118
        weights against 0.15-0.19 s for scipy's conversion and product). Else one dense
        product (``B`` a new array). Never ``B_sums`` itself in a BLAS product: that view
        into the pass's sums rounds by its address (another on a worker's unpickled
        buffer), not the same bits; the kernels' loops are in a fixed order."""
        from scipy import sparse

        from .. import kernels

        indptr, indices, data = kernels.csr_of(self.B_sums, float(self.scale))
        if data.shape[0] <= SPARSE_SHARE * self.B_sums.size:
            S = kernels.schur_complement(self.A, indptr, indices, data, inv)
            return S, sparse.csr_matrix((data, indices, indptr), shape=self.B_sums.shape)
        B = self.B
        return self.A - (B * inv[:, None]).T @ B, B

    def solve(self, gradient: np.ndarray, dense_step) -> np.ndarray:
        """``-H^-1 g`` by the Schur complement of ``diag(C)`` (module docstring);
        ``dense_step(S, rhs)`` solves the dense part (``-S^-1 rhs``: Cholesky, or its
        fallbacks for a singular ``S``). A level with no curvature (no rows of weight)
        gets no step, as a constant column in the dense solve. One BLAS thread, as a
        pass has: a threaded Cholesky of S (1,119 rows) took 1.26 s against 0.13 s with
        one, on the 2 cores shared with other processes."""
        from ..blas import blas_threads

        a = self.arrow
        rest, K = a.rest(), a.K
        g_r, g_k = gradient[rest], gradient[a.lo:a.lo + K]
        active = self.C > 0.0
        inv = np.where(active, 1.0 / np.where(active, self.C, 1.0), 0.0)
        with blas_threads(1):
            S, B = self.schur(inv)
            s_r = dense_step(S, g_r - B.T @ (inv * g_k))
            step = np.empty_like(gradient)
            step[rest] = s_r
            step[a.lo:a.lo + K] = inv * (-g_k - B @ s_r)
        return step

    def inverse_diagonal(self) -> np.ndarray:
        """The diagonal of ``H^-1`` (``theta``'s order) from the Schur form:
        ``diag(S^-1)`` for the other weights, ``1/c + ||L^-1 B^T e_i||**2 / c**2``
        for the diagonal column's (``S = L L^T``)."""
        a = self.arrow
        inv = 1.0 / self.C
        S, B = self.schur(inv)
        L = np.linalg.cholesky(S)
        B = B.toarray() if hasattr(B, "toarray") else B
        Y = solve_triangular(L, B.T, lower=True, check_finite=False)
        L_inv = solve_triangular(L, np.eye(L.shape[0]), lower=True, check_finite=False)
        out = np.empty(a.p + 1)
        out[a.rest()] = np.einsum("ij,ij->j", L_inv, L_inv)
        out[a.lo:a.lo + a.K] = inv + np.einsum("ij,ij->j", Y, Y) * inv * inv
        return out


__all__ = ["Arrow", "ArrowHessian"]
