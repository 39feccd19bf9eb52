"""Argument checks shared by every layer: one rule, one message shape.

Each check returns the value it accepts (converted where that is the point: a level becomes a
``float``, an ISO string a ``date``) and otherwise raises with a message that names the
argument, states the rule and shows the value::

    >>> check_int(0, "horizon", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: horizon must be an integer >= 1; got 0

Callers that speak for a file or an option put their own prefix in front (``compare.toml:
test_size ...``, ``--jobs ...``) by catching the ``ValueError``; the rule text stays the same.
This module imports nothing from the package, so every layer may use it.
"""

from __future__ import annotations

import math
import numbers
from datetime import date, datetime

#: the default nominal coverage of prediction intervals
DEFAULT_LEVEL = 0.8
#: the ways to give prediction intervals (see :mod:`forecast.evaluation.conformal`); here,
#: beside the level, so that the command line's ``--help`` names them without numpy
INTERVAL_METHODS = ("model", "conformal", "aci")
#: measured on the embedded series (see the README): the models' own distributions cover
#: 85-97% at a nominal 80% (their variance spans calmer and wilder years than the test
#: year), plain conformal 60-87%, adaptive conformal 75-83%
DEFAULT_INTERVAL_METHOD = "aci"
#: volatility scales of the conformal scores: none, RiskMetrics EWMA, GARCH(1,1)-t
INTERVAL_SCALES = ("none", "ewma", "garch")
#: the scale measured calibrated in calm and turbulent halves at the least width (README)
DEFAULT_INTERVAL_SCALE = "garch"


def is_int(value: object) -> bool:
    """True for integers (numpy's included), False for ``bool`` and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_rule(minimum: int | None = None, maximum: int | None = None) -> str:
    """The rule text of :func:`check_int`: ``an integer >= 1``, ``an integer in 1..250``."""
    if minimum is not None and maximum is not None:
        return f"an integer in {minimum}..{maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def check_int(
    value: object,
    name: str,
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    type_error: bool = False,
) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``.

    Raises ``ValueError`` (``TypeError`` for a non-integer when ``type_error``) with the
    message ``{name} must be an integer >= {minimum}; got {value!r}``.
    """
    ok_type = is_int(value)
    low = ok_type and minimum is not None and value < minimum
    high = ok_type and maximum is not None and value > maximum
    if not ok_type or low or high:
        error = TypeError if type_error and not ok_type else ValueError
        raise error(f"{name} must be {int_rule(minimum, maximum)}; got {value!r}")
    return int(value)


def check_number(
    value: object,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    include_low: bool = False,
    include_high: bool = False,
    optional: bool = False,
) -> float | None:
    """Return ``value`` as a ``float`` if it is a finite real number within the bounds.

    The bounds are excluded unless ``include_low`` / ``include_high``; ``optional`` lets
    ``None`` through. The message states the rule as :func:`number_rule` words it (``alpha
    must be a number between 0 and 1 (exclusive); got 2``).
    """
    if optional and value is None:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if include_low else value > low
    if ok and high is not None:
        ok = value <= high if include_high else value < high
    if not ok:
        rule = number_rule(low, high, include_low, include_high) + " or None" * optional
        raise ValueError(f"{name} must be {rule}; got {value!r}")
    return float(value)


def number_rule(
    low: float | None, high: float | None, include_low: bool = False, include_high: bool = False
) -> str:
    """The rule text of :func:`check_number`."""
    if low is not None and high is not None:
        if include_low == include_high:
            closed = "inclusive" if include_low else "exclusive"
            return f"a number between {low:g} and {high:g} ({closed})"
        return f"a number in {'[('[not include_low]}{low:g}, {high:g}{')]'[include_high]}"
    if low is not None:
        return f"a finite number {'>=' if include_low else '>'} {low:g}"
    if high is not None:
        return f"a finite number {'<=' if include_high else '<'} {high:g}"
    return "a finite number"


def check_level(level: object, name: str = "interval level") -> float:
    """A coverage level as a ``float`` in (0, 1), or ``ValueError`` naming it."""
    return check_number(level, name, 0, 1)


def parse_date(value: object, name: str) -> date | None:
    """``None``, a ``date``/``datetime``/``Timestamp`` or an ISO string as a ``date``."""
    if value is None:
        return None
    if isinstance(value, datetime):  # pandas' Timestamp is a datetime
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name} must be a date like 2024-01-31; got {value!r}")
