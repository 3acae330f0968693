"""Abstract values for reasoning about what variables can hold without playing the story.

Numbers are intervals (`Interval`), bools and strings finite sets of values (`ValueSet`, or any
value at all). Every operation over-approximates: a value the story can really produce is always
inside the abstract one, so when the linter finds the abstract set of a condition's results
lacks `true`, no playthrough can make the condition true.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from narrative.schema import FloatVariable, IntVariable, Variable

INF = math.inf


class Interval(NamedTuple):
    """All numbers in [lo, hi]; `integral` when only whole numbers are possible (int variables).

    Abstract values are named tuples rather than dataclasses: the fixpoint creates and compares
    hundreds of thousands of them on a large graph, and tuples do both in C.
    """

    lo: float
    hi: float
    integral: bool = False

    @staticmethod
    def within(lo: float, hi: float, integral: bool) -> Interval | None:
        """The interval, with bounds rounded inward for integers; None when it is empty."""
        if integral:
            lo = lo if math.isinf(lo) else math.ceil(lo)
            hi = hi if math.isinf(hi) else math.floor(hi)
        return Interval(lo, hi, integral) if lo <= hi else None

    def below(self, bound: float) -> float:
        """The largest value of this interval's kind strictly below `bound`."""
        if self.integral and not math.isinf(bound):
            return math.ceil(bound) - 1
        return math.nextafter(bound, -INF)

    def above(self, bound: float) -> float:
        if self.integral and not math.isinf(bound):
            return math.floor(bound) + 1
        return math.nextafter(bound, INF)

    def meet(self, lo: float, hi: float) -> Interval | None:
        return Interval.within(max(self.lo, lo), min(self.hi, hi), self.integral)

    def join(self, other: Interval) -> Interval:
        if self.lo <= other.lo and other.hi <= self.hi and (other.integral or not self.integral):
            return self  # already covers `other`: keep the same object, so states compare by identity
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi), self.integral and other.integral)

    def widen(self, newer: Interval, floor: float, ceiling: float) -> Interval:
        """Bounds that moved since `self` jump to the declared limits, so loops reach a fixpoint."""
        lo = self.lo if newer.lo >= self.lo else floor
        hi = self.hi if newer.hi <= self.hi else ceiling
        return Interval(lo, hi, self.integral and newer.integral)

    def is_point(self) -> bool:
        return self.lo == self.hi

    # Arithmetic: the hull of the results at the corners, which is exact for + - * on intervals.
    def add(self, other: Interval) -> Interval:
        return _hull((self.lo + other.lo, self.hi + other.hi), self.integral and other.integral)

    def sub(self, other: Interval) -> Interval:
        return _hull((self.lo - other.hi, self.hi - other.lo), self.integral and other.integral)

    def mul(self, other: Interval) -> Interval:
        corners = [_times(a, b) for a in (self.lo, self.hi) for b in (other.lo, other.hi)]
        return _hull(corners, self.integral and other.integral)

    def div(self, other: Interval) -> Interval:
        if other.lo <= 0 <= other.hi:  # may divide by zero: the evaluator raises, the choice closes
            return UNKNOWN_NUMBER
        corners = [
            a / b
            for a in (self.lo, self.hi)
            for b in (other.lo, other.hi)
            if not (math.isinf(a) and math.isinf(b))
        ]
        return _hull(corners or (-INF, INF), False)

    def negate(self) -> Interval:
        return Interval(-self.hi, -self.lo, self.integral)

    def clamp(self, low: float, high: float) -> Interval:
        """What `min(high, max(low, value))` gives for every value in the interval."""
        return Interval(min(high, max(low, self.lo)), min(high, max(low, self.hi)), self.integral)


def _times(a: float, b: float) -> float:
    return 0.0 if a == 0 or b == 0 else a * b  # 0 * inf is 0 here: the bound is a limit, not a value


def _hull(values: Iterable[float], integral: bool) -> Interval:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return UNKNOWN_NUMBER
    return Interval(min(values), max(values), integral)


UNKNOWN_NUMBER = Interval(-INF, INF)


class ValueSet(NamedTuple):
    """The bools or strings a value can be; `values=None` means any value of its type."""

    values: frozenset[bool | str] | None

    def meet(self, other: ValueSet) -> ValueSet:
        if self.values is None:
            return other
        if other.values is None:
            return self
        return ValueSet(self.values & other.values)

    def join(self, other: ValueSet) -> ValueSet:
        if self.values is None or other.values is None:
            return ANY_VALUE
        if other.values <= self.values:
            return self
        return ValueSet(self.values | other.values)

    def without(self, other: ValueSet) -> ValueSet:
        """Values left once those of a single-valued `other` are ruled out."""
        if self.values is None or other.values is None or len(other.values) != 1:
            return self
        return ValueSet(self.values - other.values)

    def is_empty(self) -> bool:
        return self.values is not None and not self.values

    def may_be(self, value: bool | str) -> bool:
        return self.values is None or value in self.values

    def single(self) -> bool | str | None:
        return next(iter(self.values)) if self.values is not None and len(self.values) == 1 else None


ANY_VALUE = ValueSet(None)
BOTH = ValueSet(frozenset({True, False}))
TRUE = ValueSet(frozenset({True}))
FALSE = ValueSet(frozenset({False}))

Abstract = Interval | ValueSet
State = dict[str, Abstract]
"""Abstract value per tracked variable; absent variables are not tracked. Treat as immutable."""


def point(variable: Variable, value: bool | int | float | str) -> Abstract:
    """The abstract value of `variable` holding exactly `value`."""
    if isinstance(variable, IntVariable | FloatVariable):
        return Interval(value, value, isinstance(variable, IntVariable))  # type: ignore[arg-type]
    return ValueSet(frozenset({value}))  # type: ignore[arg-type]


def declared_range(variable: Variable) -> Abstract:
    """Every value `variable` can hold by its declaration: min..max for numbers."""
    if isinstance(variable, IntVariable | FloatVariable):
        low = -INF if variable.min is None else variable.min
        high = INF if variable.max is None else variable.max
        return Interval(low, high, isinstance(variable, IntVariable))
    return BOTH if variable.type == "bool" else ANY_VALUE


def join_values(a: Abstract, b: Abstract) -> Abstract:
    return a.join(b)  # type: ignore[arg-type]


def join_states(a: State, b: State) -> State:
    if a is b:
        return a
    return {name: join_values(value, b[name]) for name, value in a.items()}


def widen_states(old: State, new: State, limits: dict[str, Interval]) -> State:
    """Widen numeric variables toward their declared `limits`; finite sets need no widening."""
    widened: State = {}
    for name, value in new.items():
        before = old[name]
        if isinstance(value, Interval) and isinstance(before, Interval):
            limit = limits[name]
            widened[name] = before.widen(value, limit.lo, limit.hi)
        else:
            widened[name] = value
    return widened


def describe(value: Abstract) -> str:
    """How a designer reads an abstract value in a message, e.g. `0..3`, `at least 2`, `true`."""
    if isinstance(value, ValueSet):
        if value.values is None:
            return "any value"
        if value.values == BOTH.values:
            return "either true or false"
        shown = sorted(_literal(v) for v in value.values)
        return " or ".join(shown) if shown else "nothing"
    if value.is_point():
        return _literal(value.lo)
    if math.isinf(value.lo) and math.isinf(value.hi):
        return "any number"
    if math.isinf(value.lo):
        return f"at most {_literal(value.hi)}"
    if math.isinf(value.hi):
        return f"at least {_literal(value.lo)}"
    return f"{_literal(value.lo)}..{_literal(value.hi)}"


def _literal(value: bool | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(int(value)) if float(value).is_integer() else repr(value)
