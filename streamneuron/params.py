"""Every parameter declared once: its rule, default, modes, flag and help.

:data:`PARAMS` is one table, one :class:`Param` per parameter. Everything else is
derived from it:

* the library's checks (:func:`check_params`: ``lr must be > 0, got -1`` as a
  :class:`ConfigError` with ``param="lr"``), made once at each entry point
  (``fit_sgd``, ``fit_gd``, ``NeuronClassifier.fit``, the command line);
* the library's defaults (:data:`DEFAULT`: ``fit_sgd(loss=DEFAULT.loss, ...)``);
* the command line's options, their defaults and help (:mod:`streamneuron.cli`), the
  flag of each name (:func:`flag`) and the refusal of a flag given with a mode it
  does not apply to (:func:`check_modes`: ``--workers is for --mode gd/newton/lbfgs``);
* ``NeuronClassifier._parameter_constraints`` (:func:`estimator_constraints`).

The allowed losses, schedules and modes are those of their registries
(:data:`streamneuron.losses.LOSSES`, :data:`streamneuron.schedules.SCHEDULES`, the
full-pass solvers), read when needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Iterable

from .errors import ConfigError
from .levels import MAX_LEVELS
from .missing import MISSING
from .losses import LOSSES
from .rules import (ClassWeight, Fraction, Native, Number, NumberOrAuto, OneOf, Rule, Switch,
                    Text, Whole, WholeOrSwitch, one_of)
from .schedules import SCHEDULES

__all__ = ["Param", "PARAMS", "DEFAULT", "check_params", "check_modes", "flag",
           "estimator_constraints", "estimator_default", "pick_solver", "check_auto_penalty",
           "mode_names", "one_of", "Rule"]

_NOTHING = object()

# The modes (``--mode``): the SGD engine, and the full-pass solvers of the registry
# :data:`streamneuron.fullpass.solvers.SOLVERS`; ``auto`` picks one of AUTO_SOLVERS by
# the number of features (:func:`pick_solver`, for the CLI, fit_gd and the estimator).
SGD = ("sgd",)
FULL_PASS = ("gd", "newton", "lbfgs")
STEP = ("sgd", "gd")  # the modes that take a learning rate
AUTO = "auto"
AUTO_SOLVERS = ("newton", "lbfgs")
# solver="auto": newton up to NEWTON_MAX_FEATURES features, lbfgs above
# (streamneuron.params.pick_solver). Why 128: per row and pass,
# reading costs ~r*d ns (r ~ 1-10 a value, page cache to disk), the gradient
# ~0.8*d, the Hessian sums ~0.06*d**2 (scripts/bench_solvers.py --hessian-cost, on
# a quiet machine: a newton pass is 2.9x a gradient pass's compute at d = 32, 10x
# at 128, 18x at 512); newton needs 1/2 (easy problems) to 1/10 (ill-conditioned)
# of lbfgs's passes. At 128 features a newton run costs at worst ~1.8x an lbfgs run
# (easy, cached data) and at best ~2.8x less (hard); above it the worst case grows.
NEWTON_MAX_FEATURES = 128
# ... and up to this many weights in the Hessian's dense part: with categorical columns
# newton sums and solves H2O's arrowhead form (streamneuron.fullpass.arrow): the column
# of most levels (K weights) apart as a diagonal, the other r weights dense, so a pass
# holds 8 ((r + 1)**2 + K (r + 2)) bytes a task and the solve costs (r + 1)**2 K flops
# (one product, fewer flops on B's nonzeros) + (r + 1)**3 / 3 (Cholesky). Without
# categorical columns r is every weight. Why these limits (README, "Categorical columns";
# scripts/bench_categorical.py on the flights-like file, 1M rows, 2 loaded cores): with
# 1,118 weights newton took 6 passes and 12 s against lbfgs's 133 passes and 72 s; with
# 11,114 (a 9,996-level column diagonal, 95 MiB of curvature a task, a solve of ~0.2-1
# CPU s) 7 passes and ~25 s against lbfgs's 339 passes and 758 s: rare levels make the
# problem ill-conditioned, and newton's passes do not grow with the levels. What grows is
# a pass's memory (every task's sums, two or three of them alive in a pass) and the
# solve's (r + 1)**3 / 3: so auto stays with newton up to a 2,048-weight dense part and
# 256 MiB a task (the 10,000-level file's sums at 2.7x), lbfgs above.
NEWTON_MAX_WEIGHTS = 2048
NEWTON_AUTO_BYTES = 256 << 20
# Above this many weights in the dense part, or this many bytes of curvature a task,
# newton is refused even when asked for: the dense part's (r + 1)**2 float64 (0.5 GiB at
# 8192) and its Cholesky (r + 1)**3 / 3 flops; the parts together no larger.
NEWTON_LIMIT_WEIGHTS = 8192
NEWTON_LIMIT_BYTES = 8 * (NEWTON_LIMIT_WEIGHTS + 1) ** 2


def newton_bytes(n_weights: int, diagonal: int = 0) -> int:
    """Bytes of newton's curvature sums a task holds: ``8 ((r + 1)**2 + K (r + 2))``,
    ``K = diagonal`` the weights of the categorical column kept as a diagonal (0: none,
    the dense ``(p + 1)**2``), ``r`` the others."""
    r = n_weights - diagonal
    return 8 * ((r + 1) ** 2 + diagonal * (r + 2))


def check_newton_size(solver: str, n_weights: int, diagonal: int = 0) -> None:
    """ConfigError when ``solver`` is newton and its Hessian's dense part (``n_weights -
    diagonal``, ``diagonal`` the weights of the categorical column newton keeps as a
    diagonal: 0 for a dense Hessian) is past :data:`NEWTON_LIMIT_WEIGHTS` or its parts
    past :data:`NEWTON_LIMIT_BYTES` a task, saying what to do instead."""
    dense = n_weights - diagonal
    size = newton_bytes(n_weights, diagonal)
    if solver == "newton" and (dense > NEWTON_LIMIT_WEIGHTS or size > NEWTON_LIMIT_BYTES):
        what = (f"a {size / 2**30:.1f} GiB Hessian" if not diagonal else
                f"{size / 2**30:.1f} GiB of Hessian ({dense:,} weights dense, a "
                f"{diagonal:,}-level column diagonal)")
        raise ConfigError(f"newton with {n_weights:,} weights would sum {what} in every task "
                          f"(at most {NEWTON_LIMIT_WEIGHTS:,} dense weights and "
                          f"{NEWTON_LIMIT_BYTES / 2**30:.1f} GiB): use --mode lbfgs (auto "
                          "picks it there), or fewer levels (--max-levels, --hash-bits)"
                          + (" (--l1, --l2 auto and --cv take the dense Hessian)"
                             if not diagonal and n_weights > NEWTON_LIMIT_WEIGHTS else ""),
                          param="mode")


def pick_solver(n_features: int, n_weights: int | None = None, diagonal: int = 0) -> str:
    """The solver ``auto`` picks for ``n_features`` number features and ``n_weights``
    weights in all (None: the features alone), ``diagonal`` of them one categorical
    column's that newton keeps as a diagonal (:func:`newton_bytes`)."""
    n_weights = n_features if n_weights is None else n_weights
    return ("newton" if n_features <= NEWTON_MAX_FEATURES
            and n_weights - diagonal <= NEWTON_MAX_WEIGHTS
            and newton_bytes(n_weights, diagonal) <= NEWTON_AUTO_BYTES else "lbfgs")


def mode_names() -> tuple[str, ...]:
    """Every ``--mode``: ``sgd``, the solver registry's names, ``auto``. (Reading the
    registry loads the full-pass engine: only when a full-pass mode is asked for.)"""
    from .fullpass.solvers import SOLVERS

    return (*SGD, *SOLVERS, AUTO)


@dataclass(frozen=True)
class Param:
    """One parameter.

    ``default``: the single place the default lives (None: chosen at run time, as
    ``default_text`` says). ``modes``: the ``--mode`` values it applies to (None: every
    one). ``flag``: the command-line spelling (None: ``--`` + the name with dashes; ""
    none). ``kind``: how the command line takes it: ``"value"``, ``"switch"`` (a
    ``--x/--no-x`` pair), ``"flag"`` (present or not), ``"many"`` (repeatable).
    ``inert``: a value that means what every mode does anyway (``--workers 0``: in
    this process), accepted with any mode. ``needs``: another parameter that must be
    given with it. ``estimator``: ``(extra constraints, its default)`` for
    :class:`~streamneuron.NeuronClassifier`, or None when the estimator has no such
    parameter.
    """

    name: str
    rule: Rule
    default: Any = None
    modes: tuple[str, ...] | None = None
    help: str = ""
    flag: str | None = None
    kind: str = "value"
    default_text: str = ""
    metavar: str | None = None
    inert: Any = _NOTHING
    needs: str | None = None
    estimator: tuple | None = None
    commands: tuple[str, ...] = ("train",)

    @property
    def spelling(self) -> str:
        """The flag as an error names it: ``--batch-size``, ``--shuffle/--no-shuffle``."""
        if self.flag is not None:
            return self.flag
        name = "--" + self.name.replace("_", "-")
        return f"{name}/--no-{name[2:]}" if self.kind == "switch" else name

    def applies_to(self, mode: str) -> bool:
        """Whether the parameter means something with ``--mode mode`` (``auto``: with
        every solver it may pick)."""
        if self.modes is None:
            return True
        picks = AUTO_SOLVERS if mode == AUTO else (mode,)
        return all(m in self.modes for m in picks)

    def check(self, value) -> None:
        if value is not None and not self.rule.test(value):
            raise ConfigError.about(self.name, f"must be {self.rule.allowed()}, got {value!r}")


def _entries(*params: Param) -> dict[str, Param]:
    return {p.name: p for p in params}


# Estimator markers: ``ESTIMATOR`` (the same default), or ``estimator(extra, default=...)``.
def estimator(*extra, default=_NOTHING) -> tuple:
    return (extra, default)


ESTIMATOR = estimator()

PARAMS: dict[str, Param] = _entries(
    Param("mode", OneOf(mode_names), "sgd",
          help="sgd: streaming mini-batch SGD. Full passes: gd (the article's gradient "
               "descent), newton (the optimum in ~5-12 passes), lbfgs (for many features); "
               f"auto: newton up to {NEWTON_MAX_FEATURES} features, lbfgs above."),
    Param("loss", OneOf(lambda: LOSSES), "log", estimator=ESTIMATOR,
          help="log: log loss; mse: the article's 0.5 (p - y)^2."),
    Param("batch_size", Whole(1), None, SGD, estimator=estimator("auto", default="auto"),
          help="sgd: rows per update", default_text="from the row count: rows/250 rounded "
          "down to a power of two, 1 to 256"),
    Param("epochs", Whole(1), None, SGD, estimator=estimator(None),
          help="sgd: passes over the data", default_text="up to 1000, stopping when the "
          "epoch's training objective has converged"),
    Param("max_iter", Whole(1), None, FULL_PASS, help="gd/newton/lbfgs: most iterations",
          default_text="100; lbfgs 1000"),
    Param("tol", Number(0, note="0 disables it"), None,
          help="gd/newton/lbfgs: the relative tolerance of the stopping rule (0: never; "
               "newton/lbfgs stop within about this gap to the optimum) [default: 1e-6]. "
               "sgd: the least relative improvement of the epoch's training objective that "
               "counts for convergence [default: 1e-3]; with --early-stopping the least "
               "improvement of the checked loss [default: 1e-3]."),
    Param("lr", Number(0, strict=True), None, STEP, estimator=estimator(None),
          help="Learning rate", default_text="1.0 for sgd's auto and for gd, 0.1 for the "
          "other sgd schedules"),
    Param("l2", NumberOrAuto(0), None, estimator=estimator(None),
          help="L2 penalty (l2/2)||w||^2 (the bias is not penalised); l2 = 1/(C n) for "
               "scikit-learn's C. auto (newton/lbfgs; sgd refuses it): chosen on held-out "
               "rows (--cv, --validation-fraction) along a warm-started path of penalties, "
               "then refitted on every row.", default_text="1/n, scikit-learn's C = 1 (n: "
          "the training rows, or the sum of their weights when weighted)"),
    Param("l1", NumberOrAuto(0), 0.0, estimator=ESTIMATOR,
          help="L1 penalty l1 ||w||_1 (elastic net with --l2; the bias is not penalised): "
               "weights become exactly zero. newton: proximal Newton; lbfgs: OWL-QN; sgd: "
               "the cumulative L1 penalty. auto: chosen as --l2 auto, from the smallest l1 "
               "that keeps every weight zero."),
    Param("weight", Text(), None, metavar="COL",
          help="Sample-weight column (numbers >= 0; HDF5 X/y: a dataset): each row's loss "
               "counts that many times; the objective, the standardization and the metrics "
               "become weighted means."),
    Param("class_weight", ClassWeight(), None, estimator=estimator(dict, None),
          metavar="balanced|0=A,1=B",
          help="balanced: weight each class by n / (2 n_class), from the label counts; or "
               "each class's weight, e.g. 0=1,1=5 (a class left out: 1). Times --weight, if "
               "given."),
    Param("seed", Whole(0), 0, commands=("train", "generate"),
          help="Seed of the shuffling order (and of the held-out rows: "
               "--validation-fraction's, --cv's folds)."),
    Param("schedule", OneOf(lambda: SCHEDULES), "auto", SGD,
          estimator=ESTIMATOR,
          help="sgd: auto: adagrad's steps, the model averaged over each epoch; "
               "lr_t = lr / (1 + t)^power_t for invscaling; adagrad: per-coordinate steps "
               "lr g_j / sqrt(sum of g_j^2 so far)."),
    Param("power_t", Number(0), 0.5, SGD, estimator=ESTIMATOR,
          help="sgd: exponent of invscaling."),
    Param("shuffle", Switch(), True, SGD, kind="switch", estimator=ESTIMATOR,
          help="sgd: shuffle row groups and rows inside them each epoch (seeded)."),
    Param("window", Whole(1), 1, SGD, flag="--shuffle-window",
          help="sgd: mix the rows of this many row groups at once (memory grows with it)."),
    Param("standardize", Switch(), True, kind="switch", estimator=ESTIMATOR,
          help="One streaming pass for each feature's mean and std, applied before the "
               "weights."),
    Param("init", Text("zeros or a model file"), "zeros", metavar="zeros|MODEL.json",
          help="Initial weights and bias: zeros, or a model file to start from (its "
               "features must be the training features; its standardization is "
               "re-expressed for this run's)."),
    Param("validation", Text(), None, (*SGD, *FULL_PASS), kind="many", metavar="DATA",
          help="Validate on these files (repeatable): sgd at each epoch's end; gd/newton/"
               "lbfgs the final model (log loss, accuracy, AUC), and with --l2/--l1 auto "
               "choose the penalty on them instead of --cv's folds."),
    Param("validation_fraction", Fraction(), 0.0, (*SGD, *FULL_PASS),
          help="Hold out this fraction of the training rows (seeded by --seed, never "
               "trained on): sgd validates on them at each epoch's end; gd/newton/lbfgs "
               "report the final model's log loss, accuracy and AUC on them, and with "
               "--l2/--l1 auto choose the penalty on them instead of --cv's folds (then "
               "refitting on every row)."),
    Param("cv", Whole(2, "folds"), None, FULL_PASS,
          help="newton/lbfgs with --l2/--l1 auto: choose the penalty by this many folds "
               "(rows hashed by --seed; every fold served by the same read)",
          default_text="5"),
    Param("validate_every", Whole(1, "batches"), None, SGD,
          help="sgd: validate also every N batches."),
    Param("early_stopping", Switch(), False, SGD, kind="flag",
          help="sgd: stop when the validation loss (without validation data: the epoch's "
               "training objective) has not improved by --tol for --patience checks; keep "
               "the best weights (--epochs is then a maximum)."),
    Param("patience", Whole(1, "checks"), 5, SGD, needs="early_stopping",
          help="sgd --early-stopping: checks without improvement before stopping."),
    Param("average", WholeOrSwitch(), False, SGD, kind="flag", estimator=ESTIMATOR,
          flag="--average",
          help="sgd: averaged SGD: the model is the running average of the iterates "
               "(from the first update, or --average-from N)."),
    Param("average_from", Whole(1), None, SGD, needs="average",
          help="sgd --average: average the iterates from update N on", default_text="1"),
    Param("checkpoint", Text(), None, SGD, metavar="DIR",
          help="sgd: folder for resumable training state (refused if it already holds a "
               "checkpoint and --resume is not given)."),
    Param("resume", Switch(), False, SGD, kind="flag",
          help="sgd: continue exactly from --checkpoint (same data and flags; --epochs may "
               "grow)."),
    Param("checkpoint_every", Whole(1, "batches"), None, SGD,
          help="sgd: write the checkpoint every N batches (and at the end)",
          default_text="every 30 s and each epoch"),
    Param("checkpoint_seconds", Number(0, strict=True, unit="seconds"), 30.0, SGD,
          help="sgd: write the checkpoint at least every T seconds."),
    Param("cache", Text(), None, SGD, metavar="DIR",
          help="sgd: keep the decoded rows in a run-private folder inside DIR (about 8 bytes a "
               "number, 4 a level code, 8 the label) and read them back in every epoch after "
               "the first instead of decoding the data again; removed when the run ends."),
    Param("scheduler", Text(), None, FULL_PASS, metavar="ADDRESS", commands=("train", "summary"),
          help="gd/newton/lbfgs: address of a running Dask scheduler."),
    Param("workers", Whole(0, note="0: in this process"), None, FULL_PASS, inert=0,
          commands=("train", "summary"),
          help="gd/newton/lbfgs: a local cluster of N worker processes; 0: in this process",
          default_text="in this process for data up to 1 GiB decoded, else 2 workers"),
    Param("verbose", Switch(), False, FULL_PASS, kind="flag",
          help="gd/newton/lbfgs: show the Dask cluster's own logs."),
    Param("persist", Switch(), False, FULL_PASS, kind="flag",
          help="gd/newton/lbfgs: keep decoded partitions in cluster memory."),
    Param("partition_rows", Whole(1, "rows"), None, FULL_PASS,
          help="gd/newton/lbfgs: rows per Dask partition (runs of row groups)",
          default_text="one row group each"),
    Param("x_key", Text(), "X", commands=("train", "predict", "evaluate", "inspect", "summary"),
          help="HDF5: features dataset, or the key of a pandas frame (df.to_hdf)",
          default_text="X, else the file's only pandas frame"),
    Param("categorical", Text(), None, metavar="COL,...",
          help="One-hot encode these columns (strings, integers, booleans, dictionary / "
               "pandas category): a weight per level seen in training, a null is a level, an "
               "unseen level adds nothing. String and dictionary columns are categorical "
               "without being named.",
          default_text="the string and dictionary columns"),
    Param("max_levels", Whole(1), MAX_LEVELS,
          help="A categorical column with more distinct values is left out of the default "
               "features (an id or free text?), or refused when named, unless --hash-bits."),
    Param("hash_bits", Whole(0, note="0: not hashed; 24: 16Mi weights a column", high=24), 0,
          help="Hash a categorical column of more than --max-levels levels into 2**B weights "
               "(FNV-1a 64 of the value's UTF-8 text, mod 2**B; stored in the model) instead "
               "of leaving it out."),
    Param("missing", OneOf(lambda: MISSING), "error", estimator=ESTIMATOR,
          metavar="error|impute|drop",
          help="A null or NaN numeric feature: error: refused, naming the column; impute: "
               "filled with the column's training mean, plus a 0/1 column COL_missing "
               "(both standardized; the model keeps the fill values); drop: the row is not "
               "trained on (counted). A null in a categorical column is a level of its own."),
    Param("positive", Text(), None, metavar="VALUE",
          help="The label value that counts as 1 (a string, a number, true/false); the one "
               "other value counts as 0. Labels other than 0/1 or booleans need it.",
          default_text="0/1 numbers and booleans as they are"),
    # The estimator's own parameters (no flag: the command line says --mode and --seed).
    Param("solver", OneOf(lambda: (AUTO, *AUTO_SOLVERS, *SGD)), "auto",
          flag="", estimator=ESTIMATOR, commands=()),
    Param("random_state", Native("random_state"), None, flag="", estimator=ESTIMATOR,
          commands=()),
    Param("warm_start", Switch(), False, flag="", estimator=ESTIMATOR, commands=()),
    # "from_dtype": a DataFrame's string, object and category columns (as
    # HistGradientBoostingClassifier); a list names them; None: none.
    Param("categorical_features", Native("array-like"), "from_dtype", flag="",
          estimator=estimator("from_dtype", None), commands=()),
    # generate
    Param("rows", Whole(1), None, commands=("generate",), help="Number of rows."),
    Param("features", Whole(1), None, commands=("generate",), help="Number of features."),
    Param("row_group_size", Whole(1), 1 << 20, commands=("generate",)),
    Param("chunk_rows", Whole(1), None, commands=("generate",)),
    Param("dtype", OneOf(lambda: ("float32", "float64")), "float32", commands=("generate",),
          help="The features' type in the file."),
    # convert
    Param("delimiter", Text(), ",", commands=("convert",), help="Field separator."),
)


# The defaults, by name: ``DEFAULT.loss == "log"`` (the library's signatures read them).
DEFAULT = SimpleNamespace(**{p.name: p.default for p in PARAMS.values()})


def flag(name: str) -> str:
    """The command-line spelling of a library parameter: ``batch_size`` -> ``--batch-size``."""
    entry = PARAMS.get(name)
    if entry is None or not entry.spelling:
        return "--" + name.replace("_", "-")
    return entry.spelling


def check_params(**values) -> None:
    """Raise ConfigError for the first value that breaks its rule (None is skipped)."""
    for name, value in values.items():
        if name in PARAMS:
            PARAMS[name].check(value)


def check_auto_penalty(mode: str, *, l2, l1, cv: int | None = None,
                       validation_fraction: float = 0.0, validation: bool = False) -> None:
    """ConfigError when a penalty is ``"auto"`` (chosen on held-out rows along a path,
    :mod:`streamneuron.fullpass.path`) with a mode that has no path (sgd, gd), when
    ``cv`` is given with no penalty to choose, or when more than one of ``cv``,
    ``validation_fraction`` and ``validation`` says where to choose it."""
    if cv is not None and AUTO not in (l2, l1):
        raise ConfigError.about("cv", "needs l2 or l1 'auto' (a penalty to choose)")
    if AUTO in (l2, l1) and sum((cv is not None, bool(validation_fraction), validation)) > 1:
        raise ConfigError.about("validation" if validation else "cv", "choose the penalty on "
                                "one of --cv, --validation-fraction and --validation, not "
                                "several")
    for name, value in (("l2", l2), ("l1", l1)):
        if value == AUTO and mode not in (*AUTO_SOLVERS, AUTO):
            raise ConfigError.about(name, f"auto (the penalty chosen on held-out rows) is for "
                                    f"--mode newton/lbfgs/auto, not {mode}: give a number, "
                                    "or use --mode newton")


def check_modes(mode: str, given: Iterable[str], values: dict) -> None:
    """ConfigError for the first parameter given (by name) that ``mode`` does not use,
    or given without the parameter it needs."""
    for name in given:
        entry = PARAMS[name]
        if not entry.applies_to(mode) and values.get(name) != entry.inert:
            modes = "/".join(entry.modes)
            raise ConfigError.about(name, f"is for --mode {modes}; --mode {mode} does not use it")
        if entry.needs is not None and not values.get(entry.needs):
            raise ConfigError.about(name, f"needs {flag(entry.needs)}")


def estimator_constraints() -> dict[str, list]:
    """``NeuronClassifier._parameter_constraints`` in scikit-learn's format
    (:mod:`sklearn.utils._param_validation`), from the rules."""
    from sklearn.utils._param_validation import StrOptions

    def extra(option):  # "auto" -> StrOptions({"auto"}); None, dict as they are
        return StrOptions({option}) if isinstance(option, str) else option

    return {p.name: [*p.rule.estimator(), *map(extra, p.estimator[0])]
            for p in PARAMS.values() if p.estimator is not None}


def estimator_default(name: str):
    """The estimator's default of ``name``: its own where it differs from the library's."""
    extra, default = PARAMS[name].estimator
    return PARAMS[name].default if default is _NOTHING else default
