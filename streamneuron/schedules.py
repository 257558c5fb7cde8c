"""Learning-rate schedules: the step size of update ``t`` (0-based) is ``lr_t``.

Both are the one formula ``lr_t = lr / (1 + t)**power`` that the compiled
kernel evaluates (``constant`` is ``power = 0``), so nothing branches on the
schedule's kind: a schedule only hands the kernel its ``(lr, power)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class InvScaling:
    """``lr_t = lr / (1 + t)**power`` (scikit-learn's ``invscaling``, shifted so ``lr_0 = lr``)."""

    lr: float
    power: float = 0.5

    @property
    def kernel_params(self) -> tuple[float, float]:
        return float(self.lr), float(self.power)


def Constant(lr: float) -> InvScaling:  # noqa: N802 - reads like a class at call sites
    """``lr_t = lr``: inverse scaling with power 0."""
    return InvScaling(lr, 0.0)


# The registry of step schedules, by name (the first is the default): the command
# line's --schedule choices, the parameter checks and the estimator read it.
SCHEDULES = {"constant": lambda lr, power: Constant(lr), "invscaling": InvScaling}


def make_schedule(name: str, lr: float, power_t: float = 0.5) -> InvScaling:
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}: choose {' or '.join(SCHEDULES)}",
                          param="schedule")
    return SCHEDULES[name](lr, power_t)
