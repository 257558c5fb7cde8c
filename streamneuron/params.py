"""Declarative parameter checks, shared by the library and the CLI.

Each rule is ``name: (test, what is allowed)``; a failed test raises a
:class:`ConfigError` such as ``lr must be > 0, got -1``, with ``param="lr"``. The
CLI spells the names as flags (``--lr``; :data:`FLAGS` where the flag is not just
the name with dashes). The allowed losses and schedules are those of their
registries (:data:`streamneuron.losses.LOSSES`,
:data:`streamneuron.schedules.SCHEDULES`).
"""

from __future__ import annotations

import math
import numbers

from .errors import ConfigError
from .losses import LOSSES
from .schedules import SCHEDULES

# Library parameters whose command-line flag is not ``--`` + the name with dashes.
FLAGS = {"window": "--shuffle-window", "average": "--average-from", "shuffle": "--shuffle/--no-shuffle",
         "standardize": "--standardize/--no-standardize"}


def flag(name: str) -> str:
    """The command-line spelling of a library parameter: ``batch_size`` -> ``--batch-size``."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def _one_of(names) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _int_at_least(low):
    return lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low


def _positive(v) -> bool:
    return isinstance(v, numbers.Real) and math.isfinite(v) and v > 0


def _non_negative(v) -> bool:
    return isinstance(v, numbers.Real) and math.isfinite(v) and v >= 0


RULES = {
    "batch_size": (_int_at_least(1), "a whole number >= 1"),
    "epochs": (_int_at_least(1), "a whole number >= 1"),
    "max_iter": (_int_at_least(1), "a whole number >= 1"),
    "window": (_int_at_least(1), "a whole number >= 1"),
    "workers": (_int_at_least(0), "a whole number >= 0 (0: in this process)"),
    "checkpoint_every": (_int_at_least(1), "a whole number of batches >= 1"),
    "checkpoint_seconds": (_positive, "> 0 seconds"),
    "seed": (_int_at_least(0), "a whole number >= 0"),
    "rows": (_int_at_least(1), "a whole number >= 1"),
    "features": (_int_at_least(1), "a whole number >= 1"),
    "row_group_size": (_int_at_least(1), "a whole number >= 1"),
    "chunk_rows": (_int_at_least(1), "a whole number >= 1"),
    "partition_rows": (_int_at_least(1), "a whole number of rows >= 1"),
    "lr": (_positive, "> 0"),
    "l2": (_non_negative, ">= 0"),
    "l1": (_non_negative, ">= 0"),
    "tol": (_non_negative, ">= 0 (0 disables it)"),
    "power_t": (_non_negative, ">= 0"),
    "validation_fraction": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool)
                            and 0 <= v < 1, "a fraction >= 0 and < 1"),
    "validate_every": (_int_at_least(1), "a whole number of batches >= 1"),
    "patience": (_int_at_least(1), "a whole number of checks >= 1"),
    "average": (lambda v: isinstance(v, bool) or _int_at_least(0)(v),
                "True, False or the whole number of the update averaging starts from (>= 0)"),
    "loss": (lambda v: isinstance(v, str) and v in LOSSES, lambda: _one_of(LOSSES)),
    "schedule": (lambda v: isinstance(v, str) and v in SCHEDULES, lambda: _one_of(SCHEDULES)),
}


def check_params(**values) -> None:
    """Raise ConfigError for the first value that breaks its rule (None is skipped)."""
    for name, value in values.items():
        if value is None or name not in RULES:
            continue
        test, allowed = RULES[name]
        if not test(value):
            if callable(allowed):  # read from a registry when needed
                allowed = allowed()
            raise ConfigError.about(name, f"must be {allowed}, got {value!r}")
