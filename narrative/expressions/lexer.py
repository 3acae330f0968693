"""Tokenizer of the condition language.

Hand-written so that every token knows its column; the parser reports errors there and the loader
turns them into file:line:column.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from narrative.errors import ExpressionError

KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
"""Words that cannot be ids, since a condition could not tell them from the operator."""

_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", ",")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


class TokenKind(StrEnum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    KEYWORD = "keyword"
    OPERATOR = "operator"
    END = "end"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    value: int | float | str | None
    column: int


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens, ending with an END token at `len(source)`."""
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        char = source[position]
        if char in " \t\r\n":
            position += 1
        elif _is_digit(char) or (char == "." and _is_digit(source[position + 1 : position + 2])):
            position = _number(source, position, tokens)
        elif char in "'\"":
            position = _string(source, position, tokens)
        elif char.isascii() and (char.isalpha() or char == "_"):
            end = position
            while (
                end < len(source) and source[end].isascii() and (source[end].isalnum() or source[end] == "_")
            ):
                end += 1
            word = source[position:end]
            kind = TokenKind.KEYWORD if word in KEYWORDS else TokenKind.NAME
            tokens.append(Token(kind, word, word, position))
            position = end
        else:
            operator = next((op for op in _OPERATORS if source.startswith(op, position)), None)
            if operator is None:
                hint = " (use 'and', 'or', 'not')" if char in "&|!" else ""
                hint = " (use '==' to compare)" if char == "=" else hint
                raise ExpressionError(f"unexpected character {char!r}{hint}", position)
            tokens.append(Token(TokenKind.OPERATOR, operator, operator, position))
            position += len(operator)
    tokens.append(Token(TokenKind.END, "", None, len(source)))
    return tokens


def _is_digit(char: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts superscripts, which int() rejects."""
    return len(char) == 1 and "0" <= char <= "9"


def _number(source: str, start: int, tokens: list[Token]) -> int:
    end = start
    while end < len(source) and _is_digit(source[end]):
        end += 1
    is_float = False
    if end < len(source) and source[end] == ".":
        is_float = True
        end += 1
        if not (end < len(source) and _is_digit(source[end])):
            raise ExpressionError("expected digits after the decimal point", end)
        while end < len(source) and _is_digit(source[end]):
            end += 1
    if end < len(source) and source[end] in "eE":
        is_float = True
        end += 1
        if end < len(source) and source[end] in "+-":
            end += 1
        if not (end < len(source) and _is_digit(source[end])):
            raise ExpressionError("expected digits in the exponent", end)
        while end < len(source) and _is_digit(source[end]):
            end += 1
    if end < len(source) and (source[end].isalpha() or source[end] == "_"):
        raise ExpressionError("a name cannot start with a digit", start)
    text = source[start:end]
    try:
        value = float(text) if is_float else int(text)
    except ValueError:  # more digits than Python converts to an int
        raise ExpressionError("number too long", start) from None
    if value == float("inf"):
        raise ExpressionError("number too large", start)
    tokens.append(Token(TokenKind.NUMBER, text, value, start))
    return end


def _string(source: str, start: int, tokens: list[Token]) -> int:
    quote = source[start]
    chars: list[str] = []
    position = start + 1
    while position < len(source):
        char = source[position]
        if char == quote:
            tokens.append(Token(TokenKind.STRING, source[start : position + 1], "".join(chars), start))
            return position + 1
        if char == "\\":
            escaped = source[position + 1 : position + 2]
            if escaped not in _ESCAPES:
                raise ExpressionError(f"unknown escape \\{escaped}", position)
            chars.append(_ESCAPES[escaped])
            position += 2
        else:
            chars.append(char)
            position += 1
    raise ExpressionError("string is not closed", start)
