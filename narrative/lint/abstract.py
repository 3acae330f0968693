"""Abstract evaluation of conditions: what a condition can yield over sets of states.

`assume(expr, state, outcome)` answers "can `expr` evaluate to `outcome` in some state described
by `state`?" and, when it can, narrows the state to those where it does: after `x > 3` the
interval of `x` starts at 4. Chaining the narrowing through `and` is what exposes contradictions
such as `x > 3 and x < 2`; `or` joins the narrowings of its two ways of being true.

The built-in calls (`visited`, `knows`, ...) are answered by a `CallOracle`, so a check that
knows more about them (e.g. which facts a character can know by now) can plug that in.
"""

from __future__ import annotations

from collections.abc import Callable

from narrative.expressions import FUNCTIONS, Expr, ValueType
from narrative.expressions.nodes import ARITHMETIC, COMPARISONS, Binary, Call, Constant, Name, Unary
from narrative.lint.domain import (
    BOTH,
    FALSE,
    INF,
    TRUE,
    UNKNOWN_NUMBER,
    Abstract,
    Interval,
    State,
    ValueSet,
    join_states,
)
from narrative.schema import Beat

CallOracle = Callable[[Call], Abstract]

_CALL_RANGES = {"emotion": Interval(0.0, 1.0), "relationship": Interval(-1.0, 1.0)}
"""Ranges the session keeps emotions and relationships in (see `narrative.emotion_logic`)."""


def unknown_call(call: Call) -> Abstract:
    """An oracle that knows nothing beyond the type and range of each call's result."""
    if FUNCTIONS[call.function].returns is ValueType.BOOL:
        return BOTH
    return _CALL_RANGES.get(call.function, UNKNOWN_NUMBER)


def in_beat(beat: Beat) -> CallOracle:
    """An oracle for conditions asked in `beat`: `present(c)` is false for a character the beat
    does not list (the session only makes listed characters present)."""
    listed = frozenset(beat.characters)

    def answer(call: Call) -> Abstract:
        if call.function == "present" and call.args[0].name not in listed:
            return FALSE
        return unknown_call(call)

    return answer


_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_SWAPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_ARITHMETIC: dict[str, Callable[[Interval, Interval], Interval]] = {
    "+": Interval.add,
    "-": Interval.sub,
    "*": Interval.mul,
    "/": Interval.div,
}
assert set(_ARITHMETIC) == ARITHMETIC and set(_NEGATED) == COMPARISONS


def assume(expr: Expr, state: State, outcome: bool, oracle: CallOracle = unknown_call) -> State | None:
    """`state` narrowed to where the (type-checked, boolean) `expr` yields `outcome`; None if nowhere."""
    match expr:
        case Unary(op="not", operand=operand):
            return assume(operand, state, not outcome, oracle)
        case Binary(op="and" | "or" as op, left=left, right=right):
            if (op == "and") == outcome:  # both sides must yield `outcome`
                narrowed = assume(left, state, outcome, oracle)
                return None if narrowed is None else assume(right, narrowed, outcome, oracle)
            # one side suffices: the left one, or the right one once the left yields the other outcome
            by_left = assume(left, state, outcome, oracle)
            otherwise = assume(left, state, not outcome, oracle)
            by_right = None if otherwise is None else assume(right, otherwise, outcome, oracle)
            if by_left is None or by_right is None:
                return by_left if by_right is None else by_right
            return join_states(by_left, by_right)
        case Binary(op=op, left=left, right=right) if op in COMPARISONS:
            return _compare(op if outcome else _NEGATED[op], left, right, state, oracle)
        case Name(name=name):
            current = state[name]
            assert isinstance(current, ValueSet), f"{name} is not a bool"
            kept = current.meet(TRUE if outcome else FALSE)
            return None if kept.is_empty() else {**state, name: kept}
    result = value(expr, state, oracle)
    assert isinstance(result, ValueSet), f"not a condition: {expr!r}"
    return state if result.may_be(outcome) else None


def value(expr: Expr, state: State, oracle: CallOracle = unknown_call) -> Abstract:
    """Every value `expr` can have in the states `state` describes."""
    match expr:
        case Constant(value=bool() | str() as constant):
            return ValueSet(frozenset({constant}))
        case Constant(value=number):
            return Interval(number, number, isinstance(number, int))  # type: ignore[arg-type]
        case Name(name=name):
            return state[name]
        case Unary(op="-", operand=operand):
            return _number(operand, state, oracle).negate()
        case Binary(op=op, left=left, right=right) if op in ARITHMETIC:
            return _ARITHMETIC[op](_number(left, state, oracle), _number(right, state, oracle))
        case Call():
            return oracle(expr)
    outcomes = frozenset(o for o in (True, False) if assume(expr, state, o, oracle) is not None)
    return ValueSet(outcomes)


def _number(expr: Expr, state: State, oracle: CallOracle) -> Interval:
    result = value(expr, state, oracle)
    assert isinstance(result, Interval), f"not a number: {expr!r}"
    return result


def _compare(op: str, left: Expr, right: Expr, state: State, oracle: CallOracle) -> State | None:
    left_value, right_value = value(left, state, oracle), value(right, state, oracle)
    if isinstance(left_value, ValueSet) and isinstance(right_value, ValueSet):
        if op == "==":
            new_left = new_right = left_value.meet(right_value)
        else:
            new_left, new_right = left_value.without(right_value), right_value.without(left_value)
        if new_left.is_empty() or new_right.is_empty():
            return None
        return _narrow(_narrow(state, left, new_left), right, new_right)
    assert isinstance(left_value, Interval) and isinstance(right_value, Interval)
    left_interval = _satisfying(left_value, op, right_value)
    right_interval = _satisfying(right_value, _SWAPPED[op], left_value)
    if left_interval is None or right_interval is None:
        return None
    return _narrow(_narrow(state, left, left_interval), right, right_interval)


def _satisfying(x: Interval, op: str, y: Interval) -> Interval | None:
    """The part of `x` for which some value of `y` makes `x op y` true."""
    match op:
        case "<":
            return x.meet(-INF, x.below(y.hi))
        case "<=":
            return x.meet(-INF, y.hi)
        case ">":
            return x.meet(x.above(y.lo), INF)
        case ">=":
            return x.meet(y.lo, INF)
        case "==":
            return x.meet(y.lo, y.hi)
    if not y.is_point():  # "!=": only a single excluded value can shave a bound
        return x
    if x.is_point():
        return None if x.lo == y.lo else x
    if x.lo == y.lo:
        return x.meet(x.above(y.lo), x.hi)
    if x.hi == y.lo:
        return x.meet(x.lo, x.below(y.lo))
    return x


def _narrow(state: State, expr: Expr, narrowed: Abstract) -> State:
    """`state` with a variable's value replaced when `expr` is that variable; else unchanged."""
    if isinstance(expr, Name):
        return {**state, expr.name: narrowed}
    return state
