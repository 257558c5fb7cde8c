"""The ``--schedule`` choices: how the learning rate decays, and how a step uses it.

Two things make a choice, kept apart here:

* the **decay** of the rate with the update count ``t`` (0-based), the one formula
  ``lr_t = lr / (1 + t)**power`` that the compiled kernel evaluates: :class:`Constant`
  (``power = 0``) or :class:`InvScaling` (``power = power_t``);
* the **step rule**: plain steps ``w -= lr_t g``, or AdaGrad's per-coordinate steps
  ``w_j -= lr_t g_j / (sqrt(G_j) + ADAGRAD_EPS)``, ``G_j`` the sum of coordinate
  ``j``'s squared batch gradients so far (the L2 term included; the bias likewise).

A :class:`Schedule` pairs them and adds what the trainers do around them: the
learning rate when none is given, and whether the model is each pass's average of
the iterates (``auto``, the default: AdaGrad's steps, every epoch averaged afresh,
see :class:`streamneuron.training.PassPolicy`). :data:`SCHEDULES` is the one registry:
the command line's choices, the parameter checks and the estimator read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import defaults
from .errors import ConfigError

# AdaGrad's epsilon (PyTorch's): keeps the first steps finite where G_j is 0.
ADAGRAD_EPS = 1e-10


@dataclass(frozen=True)
class Constant:
    """``lr_t = lr``."""

    def power(self, power_t: float) -> float:
        return 0.0


@dataclass(frozen=True)
class InvScaling:
    """``lr_t = lr / (1 + t)**power_t`` (scikit-learn's ``invscaling``, shifted so
    ``lr_0 = lr``)."""

    def power(self, power_t: float) -> float:
        return float(power_t)


@dataclass(frozen=True)
class Schedule:
    """One ``--schedule`` choice: the rate's ``decay``, the step rule (``adagrad``:
    AdaGrad's per-coordinate steps, else plain steps), the learning rate when none is
    given (``default_lr``), and ``average_each_pass``: the model is the average of the
    iterates of the last pass, each pass averaging afresh (unless an average from
    update ``N`` on is asked for)."""

    decay: Constant | InvScaling
    adagrad: bool = False
    default_lr: float = defaults.LR
    average_each_pass: bool = False

    def kernel_params(self, lr: float, power_t: float) -> tuple[float, float]:
        """The kernel's ``(lr, power)`` of ``lr_t = lr / (1 + t)**power``."""
        return float(lr), self.decay.power(power_t)


# The registry of schedules, by name (the first is the default, defaults.AUTO_SCHEDULE).
SCHEDULES = {
    "auto": Schedule(Constant(), adagrad=True, default_lr=defaults.AUTO_LR,
                     average_each_pass=True),
    "constant": Schedule(Constant()),
    "invscaling": Schedule(InvScaling()),
    "adagrad": Schedule(Constant(), adagrad=True),
}


def get_schedule(name: str) -> Schedule:
    """The :class:`Schedule` of a name of :data:`SCHEDULES` (ConfigError otherwise)."""
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}: choose {' or '.join(SCHEDULES)}",
                          param="schedule")
    return SCHEDULES[name]


__all__ = ["Schedule", "Constant", "InvScaling", "SCHEDULES", "get_schedule", "ADAGRAD_EPS"]
