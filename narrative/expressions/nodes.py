"""Typed AST of the condition language, and its canonical text form.

Columns are kept for error messages but left out of equality, so that two conditions that mean the
same thing compare equal wherever they were written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ValueType(StrEnum):
    BOOL = "bool"
    NUMBER = "number"
    STRING = "string"


Value = bool | int | float | str


@dataclass(frozen=True)
class Constant:
    value: Value
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    name: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary:
    op: str  # "not" or "-"
    operand: Expr
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary:
    op: str  # "and", "or", a comparison, or an arithmetic operator
    left: Expr
    right: Expr
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Name, ...]
    column: int = field(default=0, compare=False)


Expr = Constant | Name | Unary | Binary | Call

COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
ARITHMETIC = frozenset({"+", "-", "*", "/"})

# Binding strength, loosest first; the parser and `unparse` must agree on it.
PRECEDENCE: dict[str, int] = {
    "or": 1,
    "and": 2,
    "not": 3,
    **dict.fromkeys(COMPARISONS, 4),
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
}
_UNARY_MINUS = 7
_ATOM = 8


def value_type(value: Value) -> ValueType:
    if isinstance(value, bool):
        return ValueType.BOOL
    if isinstance(value, int | float):
        return ValueType.NUMBER
    return ValueType.STRING


def unparse(expr: Expr) -> str:
    """Canonical text with only the parentheses needed; `parse(unparse(e)) == e`."""
    return _unparse(expr)[0]


def _unparse(expr: Expr) -> tuple[str, int]:
    match expr:
        case Constant(value=bool() as flag):
            return ("true" if flag else "false"), _ATOM
        case Constant(value=str() as text):
            escaped = text.replace("\\", "\\\\").replace('"', '\\"')
            return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"', _ATOM
        case Constant(value=number):
            return repr(number), _ATOM
        case Name(name=name):
            return name, _ATOM
        case Call(function=function, args=args):
            return f"{function}({', '.join(arg.name for arg in args)})", _ATOM
        case Unary(op="not", operand=operand):
            return f"not {_wrap(operand, PRECEDENCE['not'])}", PRECEDENCE["not"]
        case Unary(operand=operand):
            return f"-{_wrap(operand, _UNARY_MINUS)}", _UNARY_MINUS
        case Binary(op=op, left=left, right=right):
            level = PRECEDENCE[op]
            # Left-associative: a right operand of equal strength needs parentheses;
            # comparisons do not chain, so both sides need a stronger operand.
            left_min = level + 1 if op in COMPARISONS else level
            return f"{_wrap(left, left_min)} {op} {_wrap(right, level + 1)}", level
    raise TypeError(f"not an expression node: {expr!r}")


def _wrap(expr: Expr, minimum: int) -> str:
    text, level = _unparse(expr)
    return text if level >= minimum else f"({text})"
