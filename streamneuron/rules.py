"""The kinds of rule a parameter follows (:mod:`streamneuron.params` declares which).

A rule says whether a value is allowed (``test``), what is allowed in words
(``allowed``: ``"a whole number >= 1"``), the type the command line parses, and
the same rule in scikit-learn's constraint format (``estimator``, for
``NeuronClassifier._parameter_constraints``; scikit-learn is imported only there).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable, Iterable


def one_of(names) -> str:
    """``'a', 'b' or 'c'``."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _whole(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


class Rule:
    """Any value (a column name, a path, a Source): nothing is checked."""

    click_type: type | None = str

    def click_param_type(self):
        """What the command line parses the flag's text into."""
        return self.click_type

    def test(self, value) -> bool:
        return True

    def allowed(self) -> str:
        return "anything"

    def estimator(self) -> list:
        return []


@dataclass(frozen=True)
class Text(Rule):
    """A string (a column, a path, an address)."""

    what: str = ""

    def estimator(self) -> list:
        return [str]


@dataclass(frozen=True)
class Whole(Rule):
    """A whole number ``>= low`` (and ``<= high``, when given)."""

    low: int
    unit: str = ""
    note: str = ""
    high: int | None = None
    click_type = int

    def test(self, value) -> bool:
        return _whole(value) and value >= self.low and (self.high is None or value <= self.high)

    def allowed(self) -> str:
        unit = f" of {self.unit}" if self.unit else ""
        note = f" ({self.note})" if self.note else ""
        high = f" and <= {self.high}" if self.high is not None else ""
        return f"a whole number{unit} >= {self.low}{high}{note}"

    def estimator(self) -> list:
        from sklearn.utils._param_validation import Interval

        return [Interval(numbers.Integral, self.low, self.high,
                         closed="left" if self.high is None else "both")]


@dataclass(frozen=True)
class Number(Rule):
    """A finite number ``>= low`` (``> low`` when ``strict``)."""

    low: float = 0.0
    strict: bool = False
    unit: str = ""
    note: str = ""
    click_type = float

    def test(self, value) -> bool:
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        return value > self.low if self.strict else value >= self.low

    def allowed(self) -> str:
        text = f"{'>' if self.strict else '>='} {self.low:g}"
        text += f" {self.unit}" if self.unit else ""
        return text + (f" ({self.note})" if self.note else "")

    def estimator(self) -> list:
        from sklearn.utils._param_validation import Interval

        return [Interval(numbers.Real, self.low, None,
                         closed="neither" if self.strict else "left")]


@dataclass(frozen=True)
class NumberOrAuto(Number):
    """A :class:`Number`, or ``"auto"``: chosen on held-out rows (a penalty path). The
    estimator takes the number only (``NeuronClassifierCV`` chooses)."""

    def test(self, value) -> bool:
        return value == "auto" or super().test(value)

    def allowed(self) -> str:
        return super().allowed() + " or 'auto'"

    def click_param_type(self):
        import click

        class _NumberOrAuto(click.ParamType):
            name = "NUMBER|auto"

            def convert(self, value, param, ctx):
                if value == "auto" or not isinstance(value, str):
                    return value
                try:
                    return float(value)
                except ValueError:
                    self.fail(f"{value!r} is neither a number nor 'auto'", param, ctx)

        return _NumberOrAuto()


@dataclass(frozen=True)
class Fraction(Rule):
    """A number in ``[0, 1)``."""

    click_type = float

    def test(self, value) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value < 1

    def allowed(self) -> str:
        return "a fraction >= 0 and < 1"

    def estimator(self) -> list:
        from sklearn.utils._param_validation import Interval

        return [Interval(numbers.Real, 0, 1, closed="left")]


@dataclass(frozen=True)
class OneOf(Rule):
    """One of the names of a registry, read when needed (a name added there is allowed)."""

    names: Callable[[], Iterable[str]]

    def test(self, value) -> bool:
        return isinstance(value, str) and value in tuple(self.names())

    def allowed(self) -> str:
        return one_of(self.names())

    def estimator(self) -> list:
        from sklearn.utils._param_validation import StrOptions

        return [StrOptions(set(self.names()))]

    def click_param_type(self):
        import click

        return click.Choice(list(self.names()))


@dataclass(frozen=True)
class Switch(Rule):
    """True or False."""

    click_type = bool

    def test(self, value) -> bool:
        return isinstance(value, bool)

    def allowed(self) -> str:
        return "True or False"

    def estimator(self) -> list:
        return ["boolean"]


@dataclass(frozen=True)
class WholeOrSwitch(Rule):
    """True, False, or a whole number ``>= 0`` (averaged SGD from that update on)."""

    def test(self, value) -> bool:
        return isinstance(value, bool) or (_whole(value) and value >= 0)

    def allowed(self) -> str:
        return "True, False or the whole number of the update averaging starts from (>= 0)"

    def estimator(self) -> list:
        return ["boolean", *Whole(0).estimator()]


def class_weights_from_text(text: str) -> dict[int, float]:
    """``"0=1,1=5"`` -> ``{0: 1.0, 1: 5.0}``: the command line's spelling of a class
    weight mapping (a class left out keeps weight 1). ValueError saying what is
    wrong; the values' range is :func:`~streamneuron.weighting.check_class_weight`'s."""
    weights: dict[int, float] = {}
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or key not in ("0", "1"):
            raise ValueError(f"{part.strip()!r} is not CLASS=WEIGHT with a class 0 or 1")
        if int(key) in weights:
            raise ValueError(f"class {key} is given twice")
        try:
            weights[int(key)] = float(value)
        except ValueError:
            raise ValueError(f"{value!r} (class {key}) is not a number") from None
    return weights


@dataclass(frozen=True)
class ClassWeight(Rule):
    """None, ``"balanced"`` or ``{0: a0, 1: a1}`` (checked by
    :func:`streamneuron.weighting.check_class_weight`, which says what is wrong). On
    the command line: ``balanced`` or ``0=A,1=B`` (:func:`class_weights_from_text`)."""

    def test(self, value) -> bool:
        from .weighting import check_class_weight

        check_class_weight(value)  # raises its own, more precise ConfigError
        return True

    def allowed(self) -> str:
        return "None, 'balanced' or a mapping {0: a, 1: b}"

    def click_param_type(self):
        import click

        class _ClassWeight(click.ParamType):
            name = "balanced|0=A,1=B"

            def convert(self, value, param, ctx):
                if not isinstance(value, str) or value == "balanced":
                    return value
                from .errors import ConfigError
                from .weighting import check_class_weight

                try:
                    weights = class_weights_from_text(value)
                    check_class_weight(weights)
                except (ValueError, ConfigError) as exc:
                    self.fail(f"{value!r}: {exc}; give 'balanced' or the weight of each "
                              "class, e.g. 0=1,1=5", param, ctx)
                return weights

        return _ClassWeight()

    def estimator(self) -> list:
        from sklearn.utils._param_validation import StrOptions

        return [StrOptions({"balanced"})]


@dataclass(frozen=True)
class Native(Rule):
    """A constraint scikit-learn knows by name (``"random_state"``); no CLI, no check."""

    kind: str = ""

    def estimator(self) -> list:
        return [self.kind]
