"""Recursive-descent parser of the condition language.

Grammar, loosest binding first (see `nodes.PRECEDENCE`)::

    expr       := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := additive (("==" | "!=" | "<" | "<=" | ">" | ">=") additive)?
    additive   := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | STRING | "true" | "false" | NAME | NAME "(" [NAME ("," NAME)*] ")"
                | "(" expr ")"

Call arguments are bare ids (a beat, a character, an axis), never expressions, which keeps every
reference statically known. Comparisons do not chain: `a < b < c` is an error, not a surprise.
"""

from __future__ import annotations

from collections.abc import Callable

from narrative.errors import ExpressionError
from narrative.expressions.lexer import Token, TokenKind, tokenize
from narrative.expressions.nodes import COMPARISONS, Binary, Call, Constant, Expr, Name, Unary

MAX_DEPTH = 64
"""Limit on nesting and on operators in a row, so that a hostile or broken condition fails with a
message instead of a RecursionError here or in the passes that walk the tree."""


def parse(source: str) -> Expr:
    """Parse a condition; raises `ExpressionError` with the 0-based column of the problem."""
    parser = _Parser(tokenize(source))
    if parser.peek().kind is TokenKind.END:
        raise ExpressionError("empty condition", 0)
    expr = parser.expression()
    token = parser.peek()
    if token.kind is not TokenKind.END:
        raise ExpressionError(f"unexpected {_describe(token)}", token.column)
    return expr


def _describe(token: Token) -> str:
    return "end of condition" if token.kind is TokenKind.END else repr(token.text)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0

    def peek(self) -> Token:
        return self._tokens[self._index]

    def _advance(self) -> Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def _at(self, kind: TokenKind, *texts: str) -> bool:
        token = self.peek()
        return token.kind is kind and (not texts or token.text in texts)

    def _expect(self, text: str) -> Token:
        token = self.peek()
        if token.text != text or token.kind not in (TokenKind.OPERATOR, TokenKind.KEYWORD):
            raise ExpressionError(f"expected {text!r}, found {_describe(token)}", token.column)
        return self._advance()

    def _enter(self, column: int) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ExpressionError(f"condition nested deeper than {MAX_DEPTH} levels", column)

    def expression(self) -> Expr:
        return self._binary_chain(self._and, TokenKind.KEYWORD, "or")

    def _and(self) -> Expr:
        return self._binary_chain(self._not, TokenKind.KEYWORD, "and")

    def _binary_chain(self, operand: Callable[[], Expr], kind: TokenKind, *ops: str) -> Expr:
        # Each operator deepens the (left-leaning) tree, so it counts towards MAX_DEPTH too.
        left = operand()
        depth_before = self._depth
        while self._at(kind, *ops):
            token = self._advance()
            self._enter(token.column)
            left = Binary(token.text, left, operand(), token.column)
        self._depth = depth_before
        return left

    def _not(self) -> Expr:
        if self._at(TokenKind.KEYWORD, "not"):
            token = self._advance()
            self._enter(token.column)
            operand = self._not()
            self._depth -= 1
            return Unary("not", operand, token.column)
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._additive()
        if not self._at(TokenKind.OPERATOR, *COMPARISONS):
            return left
        token = self._advance()
        expr = Binary(token.text, left, self._additive(), token.column)
        if self._at(TokenKind.OPERATOR, *COMPARISONS):
            raise ExpressionError("comparisons do not chain; join them with 'and'", self.peek().column)
        return expr

    def _additive(self) -> Expr:
        return self._binary_chain(self._term, TokenKind.OPERATOR, "+", "-")

    def _term(self) -> Expr:
        return self._binary_chain(self._unary, TokenKind.OPERATOR, "*", "/")

    def _unary(self) -> Expr:
        if self._at(TokenKind.OPERATOR, "-"):
            token = self._advance()
            self._enter(token.column)
            operand = self._unary()
            self._depth -= 1
            return Unary("-", operand, token.column)
        return self._primary()

    def _primary(self) -> Expr:
        token = self.peek()
        if token.kind in (TokenKind.NUMBER, TokenKind.STRING):
            assert token.value is not None
            self._advance()
            return Constant(token.value, token.column)
        if self._at(TokenKind.KEYWORD, "true", "false"):
            self._advance()
            return Constant(token.text == "true", token.column)
        if token.kind is TokenKind.NAME:
            self._advance()
            if self._at(TokenKind.OPERATOR, "("):
                return self._call(token)
            return Name(token.text, token.column)
        if self._at(TokenKind.OPERATOR, "("):
            self._advance()
            self._enter(token.column)
            inner = self.expression()
            self._depth -= 1
            self._expect(")")
            return inner
        raise ExpressionError(f"expected a value, found {_describe(token)}", token.column)

    def _call(self, function: Token) -> Call:
        self._expect("(")
        args: list[Name] = []
        if not self._at(TokenKind.OPERATOR, ")"):
            args.append(self._argument())
            while self._at(TokenKind.OPERATOR, ","):
                self._advance()
                args.append(self._argument())
        self._expect(")")
        return Call(function.text, tuple(args), function.column)

    def _argument(self) -> Name:
        token = self.peek()
        if token.kind is not TokenKind.NAME:
            raise ExpressionError(
                f"expected an id (a beat, character, fact or axis), found {_describe(token)}",
                token.column,
            )
        self._advance()
        return Name(token.text, token.column)
