"""Learning-rate schedules: ``get(t)`` is the step size of update ``t`` (0-based).

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

    def get(self, t: int) -> float:
        return self.lr / (1.0 + t) ** self.power

    @property
    def kernel_params(self) -> tuple[float, float]:
        return float(self.lr), float(self.power)


def Constant(lr: float) -> InvScaling:  # noqa: N802 - reads like a class at call sites
    """``lr_t = lr``: inverse scaling with power 0."""
    return InvScaling(lr, 0.0)


SCHEDULES = {"constant": lambda lr, power: Constant(lr), "invscaling": InvScaling}


def make_schedule(name: str, lr: float, power_t: float = 0.5) -> InvScaling:
    if name not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}: choose constant or invscaling")
    return SCHEDULES[name](lr, power_t)
