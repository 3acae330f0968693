"""The condition language designers write on choices: parse, check, evaluate. Never `eval`."""

from narrative.expressions.analysis import (
    FUNCTIONS,
    ExpressionIssue,
    References,
    Symbols,
    check_condition,
    references,
)
from narrative.expressions.evaluator import StateView, evaluate
from narrative.expressions.lexer import KEYWORDS
from narrative.expressions.nodes import Expr, ValueType, unparse
from narrative.expressions.parser import parse

__all__ = [
    "FUNCTIONS",
    "KEYWORDS",
    "Expr",
    "ExpressionIssue",
    "References",
    "StateView",
    "Symbols",
    "ValueType",
    "check_condition",
    "evaluate",
    "parse",
    "references",
    "unparse",
]
