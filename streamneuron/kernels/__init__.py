"""Fused, compiled loops over a whole decoded block of rows.

The package, by what the pieces are for:

* :mod:`.sgd`: the SGD step kernels (:func:`sgd_block`, :func:`apply_update`);
* :mod:`.sums`: the full-pass sum kernels (:func:`gradient_sums`,
  :func:`gradient_hessian_sums`, :func:`sampled_hessian_sums` (newton's steering
  curvature from a sample of the rows), :func:`single_hessian_sums` (every row's, from
  float32 products: newton's landing step), :func:`hessian_meat_sums`, :func:`moments`);
* :mod:`.categorical`: the same sums for rows with categorical level codes
  (:func:`categorical_sums`, :func:`sampled_categorical_sums`, :func:`level_logits`);
* :mod:`.categorical_sgd`: SGD's steps for rows with level codes (:func:`sgd_codes_block`,
  rows in spans, their losses vectorized); with many level weights AdaGrad's steps are
  taken lazily (:mod:`.categorical_lazy`: a step touches only the level weights its rows
  met, :func:`sync_levels` and :func:`finish_levels` write the others' values);
* :mod:`.schur`: newton's solve with the arrowhead Hessian, the Schur complement on the
  cross block's nonzeros (:func:`csr_of`, :func:`schur_complement`);
* :mod:`.grouped`: the shared path's pass (``--l2 auto``): each row's sums at several
  points into the bucket of its fold, and candidate models' losses on their fold's rows
  (:func:`~.grouped.grouped_sums`);
* :mod:`.proximal`: the proximal Newton direction with an L1 penalty
  (:func:`l1_newton_direction`, coordinate descent on a small quadratic model);
* :mod:`.shuffle`: numpy's ``Generator.shuffle`` of a block's row indices, value for
  value, compiled (:func:`shuffle_like_numpy`);
* :mod:`.apply`: logits for predictions and metrics, and data movement
  (:func:`gather`, :func:`columns_into`);
* :mod:`.common`: the tile, its workspace, the vectorized losses and the one update
  step that every kernel shares, the state record and the status codes;
* :mod:`.intrinsics`: the per-row helpers written in LLVM IR;
* :mod:`.specialize`: compiling on first use only the variants a run needs (the SGD
  kernels per loss, step rule, weighting, batch size 1 or not, and tile filling), and
  saying so on stderr when numba's cache is cold;
* :mod:`.ahead`: on a cold cache, the SGD kernel compiled in a helper process while
  this one compiles the others and reads its data (:func:`compile_ahead`).

A Python-level numpy loop per mini-batch pays the interpreter and numpy's call
overhead for every batch, which at small batch sizes dwarfs the arithmetic; these
kernels take a block of thousands of rows and do every mini-batch update inside
one compiled call, so the per-batch cost is a few flops per weight.
They release the GIL so the next block can be decoded on another thread.

The formulas are those of :mod:`streamneuron.losses` (``loss_and_dz_scalar``).
Standardization is applied on the fly, ``x_std = (x - mean) * inv_scale``; with
``mean = 0`` and ``inv_scale = 1`` that is exactly ``x``.

How the work is laid out (all of it fixed, none of it dependent on the layout):

* Rows are taken ``TILE`` at a time (fewer for wide data): the standardized
  float64 values of those rows are gathered into a small row-major tile that
  stays in L1 cache (a column-major block through 4 x 4 transposes in
  registers, :func:`~.intrinsics._transpose4`). The tile caches exactly the values the row
  loop would compute, so float32 data is converted one tile at a time, never
  copied to float64 as a whole.
* The rows of a tile are trained in *spans* that share the weights (up to the
  end of the tile or of the batch): the span's logits, then its losses and
  ``dL/dz`` in one branch-free loop that LLVM runs four rows per instruction
  (the ``exp``/``log1p`` of :mod:`streamneuron.kernels.elementary`), then its rows added
  to the carry in row order, eight sums held in registers (:func:`~.intrinsics._accumulate8`).
  At batch size 1 every row is its own batch: a plain row loop.
* A shuffled block is read in random row order: while a tile trains, the rows
  of the next tile are prefetched (``llvm.prefetch``, one row per row trained);
  its labels come in training order (``y[order]``, made once per block). A
  column-major block in file order is read down each column, the next tile's
  stretch of every column prefetched likewise. Hints only: no value depends on
  them.
* The logit ``b + sum_j w_j x_j`` is summed in ``LANES`` = 8 partial sums
  (feature ``j`` goes to sum ``j % 8``, in increasing ``j``), combined in one
  fixed order, as two 4-wide vectors of explicit vector instructions
  (:func:`~.intrinsics._logit`; numba keeps LLVM's SLP vectorizer off): a dependency chain of
  ``d / 8`` steps instead of ``d``, and the same summation for every row,
  layout, block and call.
* The last row of a batch and the update share one pass over the weights
  (:func:`~.intrinsics._update_row`, inside the one step
  :func:`~.common._step` every kernel takes); ``lr_t`` skips ``pow`` when the schedule is constant,
  and a power-of-two batch divides by multiplying with ``1/m`` (exact).
  Both give the very numbers of the plain formulas.
* Helpers called per row are intrinsics (LLVM IR, :mod:`.intrinsics`), not inlined
  numba functions: numba counts references to every array passed to a function,
  and once per row that bookkeeping outweighs the arithmetic.

No ``fastmath``: the order of every sum is the one written here, so a block
processed in one call or in several, row- or column-major, shuffled or
not, gives bit-identical weights. That is what makes exact resume and the
article-loop tests possible.

The SGD scalars a kernel carries from call to call (bias, update count, the
unfinished batch's sums, the pass's loss) live in one record ``state`` of named
fields (:data:`STATE`), and the gradient sum of an unfinished batch in ``carry_w``;
:class:`streamneuron.training.TrainState` holds the same by name for the rest of the
package and its checkpoints.
"""

from __future__ import annotations

from . import apply as _apply
from . import impute as _impute
from . import observed as _observed
from . import categorical as _categorical
from . import categorical_sgd as _categorical_sgd
from . import schur as _schur
from . import proximal as _proximal
from . import sums as _sums
from .common import NONFINITE, OK, PAUSED, STATE, new_state
from .sgd import Arrays, Rows, apply_update, compile_ahead, sgd_block
from .shuffle import shuffle_like_numpy
from .specialize import Announced

# Every kernel called from outside this package says so when numba has to compile it
# (the first run after an install), and takes the data it reads (``reads``: its first
# arguments) as read-only arrays, whatever the source: see .specialize.
logits = Announced(_apply.logits, reads=1)
gather = Announced(_apply.gather, reads=1)
columns_into = Announced(_apply.columns_into)
gradient_sums = Announced(_sums.gradient_sums, reads=3)
gradient_hessian_sums = Announced(_sums.gradient_hessian_sums, reads=3)
sampled_hessian_sums = Announced(_sums.sampled_hessian_sums, reads=3)
single_hessian_sums = Announced(_sums.single_hessian_sums, reads=3)
hessian_meat_sums = Announced(_sums.hessian_meat_sums, reads=3)
moments = Announced(_sums.moments, reads=2)
observed_moments = Announced(_observed.observed_moments, reads=2)
impute_into = Announced(_apply.impute_into)
imputed_columns_into = Announced(_impute.imputed_columns_into)
l1_newton_direction = Announced(_proximal.l1_newton_direction)
categorical_sums = Announced(_categorical.categorical_sums, reads=4)
sampled_categorical_sums = Announced(_categorical.sampled_categorical_sums, reads=4)
fold_levels = Announced(_categorical.fold_levels)
level_scratch = _categorical.level_scratch
level_logits = Announced(_categorical.level_logits, reads=1)
csr_of = Announced(_schur.csr_of)
schur_complement = Announced(_schur.schur_complement)
sgd_codes_block = _categorical_sgd.sgd_codes_block
sync_levels = _categorical_sgd.sync_levels
finish_levels = _categorical_sgd.finish_levels
lazy_applies = _categorical_sgd.lazy_applies
logits_with_levels = _categorical.logits_with_levels

__all__ = [
    "sgd_block", "apply_update", "compile_ahead", "Rows", "Arrays", "gradient_sums", "gradient_hessian_sums",
    "sampled_hessian_sums", "single_hessian_sums",
    "hessian_meat_sums", "moments", "observed_moments", "impute_into", "imputed_columns_into", "l1_newton_direction", "logits", "gather", "columns_into",
    "new_state", "STATE", "OK", "PAUSED", "NONFINITE", "categorical_sums", "sampled_categorical_sums", "level_logits", "csr_of", "schur_complement",
    "sgd_codes_block", "sync_levels", "finish_levels", "lazy_applies", "logits_with_levels",
    "shuffle_like_numpy",
]
