"""Sample source as the checker reads it: comments and literals blanked, tokens, and matched brackets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Token:
    text: str
    pos: int
    file: str
    kind: str  # "id", "num", "op"


_TOKEN = re.compile(
    r"\s+|(?P<num>\d[\w.]*)|(?P<id>[A-Za-z_]\w*)"
    r"|(?P<op>->|::|\?\.|\?\?=?|==|!=|<=|>=|=>|&&|\|\||\+=|-=|\*=|/=|\+\+|--|[^\s\w])"
)


def strip_source(text: str, csharp: bool) -> str:
    """Comments and string/char literal contents become spaces (newlines kept, so offsets and lines stay).
    In C# interpolated strings the holes stay code, without their alignment and format parts."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    def skip_plain_string(start: int, quote: str) -> int:  # start: index of the opening quote
        k = start + 1
        while k < n and text[k] != quote and text[k] != "\n":
            k += 2 if text[k] == "\\" else 1
        blank(start + 1, k)
        return k + 1

    while i < n:
        char, nxt = text[i], text[i + 1 : i + 2]
        if char == "/" and nxt == "/":
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif char == "/" and nxt == "*":
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            blank(i, end)
            i = end
        elif char == "'" and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            i = skip_plain_string(i, "'")
        elif csharp and char in "$@" and re.match(r"[$@]{1,2}\"", text[i:]):
            prefix = re.match(r"[$@]{1,2}", text[i:]).group()
            interpolated, verbatim = "$" in prefix, "@" in prefix
            k = i + len(prefix) + 1
            literal_start = k
            while k < n:
                c = text[k]
                if verbatim and c == '"' and text[k + 1 : k + 2] == '"':
                    k += 2
                elif c == '"':
                    break
                elif not verbatim and c == "\\":
                    k += 2
                elif interpolated and c == "{" and text[k + 1 : k + 2] == "{":
                    k += 2
                elif interpolated and c == "{":
                    blank(literal_start, k + 1)
                    depth, k = 1, k + 1
                    spec_start = None
                    while k < n and depth:
                        c = text[k]
                        if c == '"':
                            k = skip_plain_string(k, '"')
                            continue
                        if c in "([{":
                            depth += 1
                        elif c in ")]}":
                            depth -= 1
                        elif c in ":," and depth == 1 and spec_start is None:
                            spec_start = k
                        k += 1
                    blank(spec_start if spec_start is not None else k - 1, k)  # format part and closing brace
                    literal_start = k
                    continue
                else:
                    k += 1
            blank(literal_start, k)
            i = k + 1
        elif char == '"':
            i = skip_plain_string(i, '"')
        else:
            i += 1
    return "".join(out)


def tokenize(code: str, file: str) -> list[Token]:
    return [Token(m.group(), m.start(), file, m.lastgroup) for m in _TOKEN.finditer(code) if m.lastgroup]


def split_top(tokens: list[Token], separator: str = ",") -> list[list[Token]]:
    """The tokens split at `separator` outside brackets."""
    parts, current, depth = [], [], 0
    for token in tokens:
        if token.text in ("(", "[", "{"):
            depth += 1
        elif token.text in (")", "]", "}"):
            depth -= 1
        if token.text == separator and depth == 0:
            parts.append(current)
            current = []
        else:
            current.append(token)
    if current:
        parts.append(current)
    return parts


@dataclass
class Source:
    path: Path
    raw: str
    code: str  # comments and literal contents blanked
    tokens: list[Token] = field(default_factory=list)
    close: dict[int, int] = field(default_factory=dict)  # bracket token index -> its closing token index
    block: list[int] = field(default_factory=list)  # innermost enclosing "{" of each token, -1 if none
    paren: list[int] = field(default_factory=list)  # innermost enclosing "(" of each token, -1 if none
    unclosed: list[int] = field(default_factory=list)  # opening brackets without their closing one

    def line(self, pos: int) -> int:
        return self.raw.count("\n", 0, pos) + 1

    def index_brackets(self) -> None:
        """Every opening bracket gets a closing index, so the checks can walk a file with a typo in it:
        an unclosed one ends where its enclosing bracket does (or at the end of the file)."""
        stack: list[int] = []
        pairs = {")": "(", "]": "[", "}": "{"}
        for i, token in enumerate(self.tokens):
            if token.text in pairs:
                while stack and self.tokens[stack[-1]].text != pairs[token.text]:
                    self.unclosed.append(stack[-1])
                    self.close[stack.pop()] = i
                if stack:
                    self.close[stack.pop()] = i
            self.block.append(next((k for k in reversed(stack) if self.tokens[k].text == "{"), -1))
            self.paren.append(next((k for k in reversed(stack) if self.tokens[k].text == "("), -1))
            if token.text in ("(", "[", "{"):
                stack.append(i)
        for i in stack:
            self.unclosed.append(i)
            self.close[i] = len(self.tokens) - 1
