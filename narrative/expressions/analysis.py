"""Static passes over a parsed condition: what it references, and whether its types fit.

Both run at load time, so a typo or a type error is a diagnostic for the designer instead of a
surprise during a playthrough; the linter reuses `references` for read/write analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from narrative.diagnostics import Code
from narrative.emotions import EKMAN_AXES
from narrative.expressions.nodes import (
    ARITHMETIC,
    COMPARISONS,
    Binary,
    Call,
    Constant,
    Expr,
    Name,
    Unary,
    ValueType,
    value_type,
)
from narrative.vocabulary import PLAYER_ID, RELATIONSHIP_AXES

ArgKind = Literal["beat", "character", "npc", "fact", "emotion_axis", "relationship_axis"]


@dataclass(frozen=True)
class Signature:
    args: tuple[ArgKind, ...]
    returns: ValueType


FUNCTIONS: Mapping[str, Signature] = {
    "visited": Signature(("beat",), ValueType.BOOL),
    "emotion": Signature(("npc", "emotion_axis"), ValueType.NUMBER),
    "relationship": Signature(("character", "character", "relationship_axis"), ValueType.NUMBER),
    "knows": Signature(("character", "fact"), ValueType.BOOL),
    "present": Signature(("npc",), ValueType.BOOL),
}
"""The built-in calls. "npc" means a declared character; "character" also admits the player."""


@dataclass(frozen=True)
class References:
    variables: frozenset[str] = frozenset()
    beats: frozenset[str] = frozenset()
    characters: frozenset[str] = frozenset()
    facts: frozenset[str] = frozenset()


def references(expr: Expr) -> References:
    """Every variable, beat, character and fact that `expr` names (axes are not references)."""
    found: dict[str, set[str]] = {"variables": set(), "beats": set(), "characters": set(), "facts": set()}
    _collect(expr, found)
    return References(**{kind: frozenset(ids) for kind, ids in found.items()})


_REFERENCE_KIND = {"beat": "beats", "character": "characters", "npc": "characters", "fact": "facts"}


def _collect(expr: Expr, found: dict[str, set[str]]) -> None:
    match expr:
        case Name(name=name):
            found["variables"].add(name)
        case Unary(operand=operand):
            _collect(operand, found)
        case Binary(left=left, right=right):
            _collect(left, found)
            _collect(right, found)
        case Call(function=function, args=args) if function in FUNCTIONS:
            for kind, arg in zip(FUNCTIONS[function].args, args, strict=False):  # arity is checked elsewhere
                if kind in _REFERENCE_KIND:
                    found[_REFERENCE_KIND[kind]].add(arg.name)


@dataclass(frozen=True)
class Symbols:
    """What a graph defines, as the type checker needs it."""

    variables: Mapping[str, ValueType] = field(default_factory=dict)
    beats: frozenset[str] = frozenset()
    npcs: frozenset[str] = frozenset()
    facts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ExpressionIssue:
    code: Code
    message: str
    column: int


def check_condition(expr: Expr, symbols: Symbols) -> list[ExpressionIssue]:
    """Type-check `expr` as a condition: all references known, types consistent, result a bool."""
    checker = _Checker(symbols)
    result = checker.type_of(expr)
    if result is not None and result is not ValueType.BOOL:
        checker.fail(Code.EXPRESSION_TYPE, f"a condition must be true or false, this is a {result}", expr)
    return checker.issues


class _Checker:
    def __init__(self, symbols: Symbols) -> None:
        self._symbols = symbols
        self.issues: list[ExpressionIssue] = []

    def fail(self, code: Code, message: str, node: Expr) -> None:
        self.issues.append(ExpressionIssue(code, message, node.column))

    def type_of(self, expr: Expr) -> ValueType | None:
        """The type of `expr`, or None when an error below already explains why it has none."""
        match expr:
            case Constant(value=value):
                return value_type(value)
            case Name(name=name):
                if name not in self._symbols.variables:
                    self.fail(Code.UNKNOWN_VARIABLE, f"unknown variable {name!r}", expr)
                    return None
                return self._symbols.variables[name]
            case Unary(op=op, operand=operand):
                wanted = ValueType.BOOL if op == "not" else ValueType.NUMBER
                return wanted if self._require(operand, wanted, f"'{op}'") else None
            case Binary(op=op, left=left, right=right):
                return self._binary(expr, op, left, right)
            case Call():
                return self._call(expr)
        raise TypeError(f"not an expression node: {expr!r}")

    def _require(self, expr: Expr, wanted: ValueType, context: str) -> bool:
        actual = self.type_of(expr)
        if actual is not None and actual is not wanted:
            self.fail(Code.EXPRESSION_TYPE, f"{context} needs a {wanted}, not a {actual}", expr)
            return False
        return actual is not None

    def _binary(self, expr: Binary, op: str, left: Expr, right: Expr) -> ValueType | None:
        if op in ("and", "or"):
            ok = self._require(left, ValueType.BOOL, f"'{op}'")
            ok = self._require(right, ValueType.BOOL, f"'{op}'") and ok
            return ValueType.BOOL if ok else None
        if op in ARITHMETIC or op in ("<", "<=", ">", ">="):
            ok = self._require(left, ValueType.NUMBER, f"'{op}'")
            ok = self._require(right, ValueType.NUMBER, f"'{op}'") and ok
            if not ok:
                return None
            return ValueType.NUMBER if op in ARITHMETIC else ValueType.BOOL
        assert op in COMPARISONS
        left_type, right_type = self.type_of(left), self.type_of(right)
        if left_type is None or right_type is None:
            return None
        if left_type is not right_type:
            self.fail(Code.EXPRESSION_TYPE, f"cannot compare a {left_type} with a {right_type}", expr)
            return None
        return ValueType.BOOL

    def _call(self, call: Call) -> ValueType | None:
        signature = FUNCTIONS.get(call.function)
        if signature is None:
            known = ", ".join(sorted(FUNCTIONS))
            self.fail(Code.EXPRESSION_TYPE, f"unknown function {call.function!r} (known: {known})", call)
            return None
        if len(call.args) != len(signature.args):
            self.fail(
                Code.EXPRESSION_TYPE,
                f"{call.function}() takes {len(signature.args)} argument(s), got {len(call.args)}",
                call,
            )
            return None
        ok = True
        for kind, arg in zip(signature.args, call.args, strict=True):
            ok = self._argument(call.function, kind, arg) and ok
        return signature.returns if ok else None

    def _argument(self, function: str, kind: ArgKind, arg: Name) -> bool:
        name = arg.name
        symbols = self._symbols
        if kind == "character" and name == PLAYER_ID:
            return True
        if kind == "npc" and name == PLAYER_ID:
            self.fail(Code.PLAYER_NOT_NPC, f"{function}() needs a non-player character", arg)
            return False
        known, code, label = {
            "beat": (symbols.beats, Code.UNKNOWN_BEAT, "beat"),
            "character": (symbols.npcs, Code.UNKNOWN_CHARACTER, "character"),
            "npc": (symbols.npcs, Code.UNKNOWN_CHARACTER, "character"),
            "fact": (symbols.facts, Code.UNKNOWN_FACT, "fact"),
            "emotion_axis": (frozenset(EKMAN_AXES), Code.EXPRESSION_TYPE, "emotion axis"),
            "relationship_axis": (frozenset(RELATIONSHIP_AXES), Code.EXPRESSION_TYPE, "relationship axis"),
        }[kind]
        if name in known:
            return True
        listing = f" (one of: {', '.join(sorted(known))})" if kind.endswith("axis") else ""
        self.fail(code, f"unknown {label} {name!r} in {function}(){listing}", arg)
        return False
