"""The penalty path walked first on newton's in-memory sample: each penalty's shared
point enters the file's passes at the sample's optimum.

The shared path (:mod:`.shared`) fits a penalty's shared point, the model on every row,
by Newton steps until its decrement is within ``PATH_TOL |F|``. From the path's own
predictor (the last point's Newton step under the new penalty) a penalty takes one or
two passes, and a penalty enters once the one before has been evaluated: ``SHARED_WINDOW``
penalties a read. But the optimum of a sample of ``m`` rows is within a relative gap of
about ``weights / (2 m)`` of the optimum on every row (:mod:`.start`): 7e-5 for the
246k rows and 33 weights of the 8M x 32 file, an order below ``PATH_TOL`` (1e-3). So on a
large file the path is first walked on the sample of :func:`.start.read_sample`, in
memory, for the model on every row only (newton at each penalty from the last one's
point: no pass), to :data:`SAMPLE_PATH_TOL`; the shared path then starts every penalty
at its sample optimum, all of them in flight from the first read (``SHARED_WINDOW``
does not apply: no penalty waits for the one before). One pass usually finds each
within the tolerance; one that is not steps by Newton as before. The file's passes
decide everything: the shared points' tolerance, the fold models, their held-out losses,
the choice and the refit; the sample only moves where the passes start.

Where the penalty no longer moves the optimum (the flat end of the path) one shared
point serves several penalties (:func:`.shared.walk_shared` fits the next penalties from
a fitted one's sums when every model's decrement there is within the tolerance). The
sample tells which ahead of the read: a penalty whose decrement on the sample, at the
point of the last penalty given a point of its own, is within :data:`SAMPLE_SERVES` of
the tolerance gets none (its *server* is that penalty); if the file's test disagrees
it enters the next read at its own guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import StreamNeuronError
from .iteration import Options
from .sums import Sums, add_unit_sums, curvature_every

# The sample's path is fitted to this relative decrement: well below the sample's own
# distance from the optimum on every row (~ weights / (2 m)), so that is all that is left.
SAMPLE_PATH_TOL = 1e-5
# Newton steps one penalty may take on the sample.
SAMPLE_PATH_STEPS = 25
# A penalty's shared point is left to the last one's when its decrement on the sample
# there is within this fraction of the path's tolerance: room for the sample's noise,
# and near enough that the refit from there (if it is the one chosen) still lands in one
# pass (newton's SAMPLED_LANDING NEWTON_MARGIN tol: 2.5e-4 |F| at tol = 1e-6).
SAMPLE_SERVES = 0.1


@dataclass(frozen=True)
class Guesses:
    """The sample's path: each penalty's optimum of the model on every row on the
    sample (``thetas``, one row each), and the penalty whose shared point is to serve
    it (``server``: its own index, or an earlier penalty's)."""

    thetas: np.ndarray
    server: tuple[int, ...]


def sample_guesses(run, model, selection, penalties: np.ndarray,
                   tol: float) -> Guesses | None:
    """The sample's path (:func:`walk_sample`), or None: data in memory or persisted, not a large file
    (``every`` 1), categorical columns, a held-out fraction left out of every pass, no
    sample (:func:`.start.read_sample`), or no finite optimum on it."""
    from ..blas import blas_threads
    from .start import read_sample

    p = run.params
    every = curvature_every(p.curvature, run.data.n_rows, model.n_weights,
                            levels=model.levels is not None)
    if (every <= 1 or run.data.decoded or p.persist or run.held_out[1] > 0
            or model.levels is not None):
        return None
    unit = read_sample(run, model)
    if unit is None or np.all(unit.y == unit.y[0]):
        return None
    with blas_threads(1):  # as a pass has (and the same bits on any machine)
        return walk_sample(unit, run, model, selection, penalties, tol)


def walk_sample(unit, run, model, selection, penalties: np.ndarray,
                tol: float) -> Guesses | None:
    """newton at each penalty in turn on ``unit`` (in memory), from the last penalty's
    last point evaluated (its sums under the new penalty: no evaluation); the Hessian of
    a sample of the sample's rows (``curvature_every`` of its rows: it only steers).
    newton stops on the gap alone (not the weights' bound: no evaluation to confirm a
    step past the last point; the sample's noise is larger than either).
    Each penalty's server: the last penalty with a point of its own, if the decrement
    there under this penalty is within ``SAMPLE_SERVES tol |F|`` (``tol``: the path's,
    ``PATH_TOL``), else itself. None: newton failed on the sample."""
    from .shared import _direction
    from .solvers import newton

    d = model.n_weights
    every = curvature_every(run.params.curvature, unit.y.shape[0], d)
    tail = np.concatenate([model.center, model.inv_scale])
    last: list = [None, None]  # the last point evaluated and its sums

    def sums_at(theta: np.ndarray) -> Sums:
        acc = np.zeros(Sums.size(d, True))
        add_unit_sums(acc, unit, run.features, np.concatenate([theta, tail]),
                      run.loss.kernel_id, every)
        last[:] = [theta.copy(), Sums(acc, d)]
        return last[1]

    theta, out, server = np.zeros(d + 1), [], []
    served_by = None  # the last penalty with a point of its own: its point and sums
    try:
        sums = sums_at(theta)
        for index, value in enumerate(penalties):
            penalty = selection.penalty(value)
            if served_by is not None:
                at, by = served_by[1], served_by[2]
                _, within = _direction(by.evaluate(at[:d], float(at[d]), penalty.l2), penalty,
                                       SAMPLE_SERVES * tol)
                served_by = served_by if within else None

            def evaluate(point, curvature, l2=penalty.l2):
                return sums_at(point).evaluate(point[:d], float(point[d]), l2)

            start, sums = last
            first = sums.evaluate(start[:d], float(start[d]), penalty.l2)
            options = Options(max_iter=SAMPLE_PATH_STEPS, tol=SAMPLE_PATH_TOL, penalty=penalty)
            # (the stop on the gap alone: the point returned is one evaluated, whose sums
            # start the next penalty and test the next ones' server)
            result = newton(evaluate, start, options, lambda row: None, first=first,
                            bound_weights=False)
            if not (np.all(np.isfinite(result.theta)) and math.isfinite(result.objective)):
                return None
            out.append(result.theta)
            if served_by is None:  # a point of its own: the sums at its guess
                if not np.array_equal(last[0], result.theta):  # (a step it did not take)
                    sums_at(result.theta)
                served_by = (index, *last)
            server.append(served_by[0])
    except (StreamNeuronError, FloatingPointError, np.linalg.LinAlgError):
        return None
    return Guesses(np.array(out), tuple(server))
