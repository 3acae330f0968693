"""Evaluation of a type-checked condition against a read-only view of a session.

The view is a protocol so that the session state, the simulator and tests can each supply one
without depending on each other.
"""

from __future__ import annotations

from typing import Protocol

from narrative.errors import ExpressionError
from narrative.expressions.nodes import Binary, Call, Constant, Expr, Name, Unary, Value


class StateView(Protocol):
    def variable(self, name: str) -> Value: ...
    def has_visited(self, beat: str) -> bool: ...
    def emotion(self, character: str, axis: str) -> float: ...
    def relationship(self, source: str, target: str, axis: str) -> float: ...
    def knows(self, character: str, fact: str) -> bool: ...
    def is_present(self, character: str) -> bool: ...


_METHODS = {
    "visited": "has_visited",
    "emotion": "emotion",
    "relationship": "relationship",
    "knows": "knows",
    "present": "is_present",
}
"""Condition function -> `StateView` method (names differ where a state field has the short name)."""


def evaluate(expr: Expr, view: StateView) -> Value:
    """Value of `expr`; `and`/`or` short-circuit. Division by zero raises `ExpressionError`.

    Types are not re-checked here: the loader rejects conditions that fail `check_condition`.
    """
    match expr:
        case Constant(value=value):
            return value
        case Name(name=name):
            return view.variable(name)
        case Unary(op="not", operand=operand):
            return not evaluate(operand, view)
        case Unary(operand=operand):
            return -evaluate(operand, view)  # type: ignore[operator]
        case Binary(op="and", left=left, right=right):
            return bool(evaluate(left, view)) and bool(evaluate(right, view))
        case Binary(op="or", left=left, right=right):
            return bool(evaluate(left, view)) or bool(evaluate(right, view))
        case Binary(op=op, left=left, right=right):
            return _apply(op, evaluate(left, view), evaluate(right, view), expr.column)
        case Call(function=function, args=args):
            method = getattr(view, _METHODS[function])
            return method(*(arg.name for arg in args))
    raise TypeError(f"not an expression node: {expr!r}")


def _apply(op: str, left: Value, right: Value, column: int) -> Value:
    match op:
        case "==":
            return left == right
        case "!=":
            return left != right
        case "<":
            return left < right  # type: ignore[operator]
        case "<=":
            return left <= right  # type: ignore[operator]
        case ">":
            return left > right  # type: ignore[operator]
        case ">=":
            return left >= right  # type: ignore[operator]
        case "+":
            return left + right  # type: ignore[operator]
        case "-":
            return left - right  # type: ignore[operator]
        case "*":
            return left * right  # type: ignore[operator]
        case "/":
            if right == 0:
                raise ExpressionError("division by zero", column)
            return left / right  # type: ignore[operator]
    raise ValueError(f"unknown operator {op!r}")
