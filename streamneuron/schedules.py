"""Learning-rate schedules: the step size of update ``t`` (0-based) is ``lr_t``.

``constant`` and ``invscaling`` are the one formula ``lr_t = lr / (1 + t)**power``
that the compiled kernel evaluates (``constant`` is ``power = 0``): a schedule hands
the kernel its ``(lr, power)``. ``adagrad`` is per coordinate (AdaGrad): the kernel
keeps the sum ``G_j`` of each coordinate's squared batch gradients and steps
``lr * g_j / (sqrt(G_j) + ADAGRAD_EPS)`` (the bias likewise); its ``adaptive`` flag
tells the kernel so. ``auto`` (the default, :mod:`streamneuron.defaults`) takes
AdaGrad's steps, and the trainers return each epoch's average of the iterates.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class InvScaling:
    """``lr_t = lr / (1 + t)**power`` (scikit-learn's ``invscaling``, shifted so ``lr_0 = lr``)."""

    lr: float
    power: float = 0.5
    adaptive: bool = False  # AdaGrad: per-coordinate steps (power is then 0)

    @property
    def kernel_params(self) -> tuple[float, float]:
        return float(self.lr), float(self.power)


def Constant(lr: float) -> InvScaling:  # noqa: N802 - reads like a class at call sites
    """``lr_t = lr``: inverse scaling with power 0."""
    return InvScaling(lr, 0.0)


def AdaGrad(lr: float) -> InvScaling:  # noqa: N802
    """AdaGrad: ``w_j -= lr * g_j / (sqrt(G_j) + ADAGRAD_EPS)``, ``G_j`` the sum of
    coordinate ``j``'s squared batch gradients so far (the L2 term included)."""
    return InvScaling(lr, 0.0, adaptive=True)


# AdaGrad's epsilon (PyTorch's): keeps the first steps finite where G_j is 0.
ADAGRAD_EPS = 1e-10

# The registry of step schedules, by name (the first is the default): the command
# line's --schedule choices, the parameter checks and the estimator read it.
SCHEDULES = {"auto": lambda lr, power: AdaGrad(lr),
             "constant": lambda lr, power: Constant(lr), "invscaling": InvScaling,
             "adagrad": lambda lr, power: AdaGrad(lr)}


def make_schedule(name: str, lr: float, power_t: float = 0.5) -> InvScaling:
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}: choose {' or '.join(SCHEDULES)}",
                          param="schedule")
    return SCHEDULES[name](lr, power_t)
