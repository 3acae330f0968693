"""Resolving the names a sample uses: the part that is the same for C# and C++.

How references are found: comments and string literals are removed (interpolation holes of C# `$"..."`
strings stay code), the code is tokenized, and every access chain (`a.B.C`, `a->B`, `E::V`, calls and
indexing included) is resolved from the declared type of its root. Declarations with a proto type
(`GenerationChunk chunk`, `const FGrpcStorytellerV1GenerationChunk& Chunk`, `foreach (CoherenceWarning w in
...)`, `var call = client.Narrative.NpcLine(...)`) give a variable its type; a field access on a proto-typed
value must name a field of *that* message; an RPC call on a client must name an RPC of that service and pass
its request type; a declared type must match what is assigned to it; a handler bound to TurboLink's
`OnRpcResponse` must take that RPC's response type. Members on values whose type the
checker does not know must be in a small allow-list of non-proto API names that is disjoint from every name
the contract generates, so a proto name can never pass unchecked. The checks of names that are not members
differ by language: see csharp_refs.py and cpp_refs.py.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.client_samples.naming import BAD, Naming
from tests.client_samples.paths import ROOT
from tests.client_samples.proto_schema import Contract, ProtoRpc
from tests.client_samples.source_text import Source, Token, split_top, strip_source, tokenize

CHECKED_KINDS = {"msg", "enum", "repeated", "client", "service", "stream_call", "unary_call", "stream_reader"}

_KEYWORDS = {
    "return", "new", "await", "using", "namespace", "class", "struct", "enum", "else", "case", "throw", "in", "is",
    "as", "out", "ref", "params", "goto", "typeof", "sizeof", "nameof", "delete", "operator", "public", "private",
    "protected", "internal", "static", "readonly", "const", "virtual", "override", "async", "sealed", "abstract",
    "volatile", "if", "while", "for", "foreach", "switch", "catch", "when", "default", "yield", "do", "try",
    "finally", "get", "set", "var", "auto", "template", "typename", "friend", "explicit", "inline", "mutable",
}  # fmt: skip
_ACCESS = {".", "->", "::", "?."}


@dataclass
class Element:
    kind: str  # "root", "member", "call", "index"
    name: str
    index: int  # token index
    args: list[list[Token]] = field(default_factory=list)


@dataclass
class Declaration:
    type: tuple | None
    file: str | None  # None: visible everywhere (class members, file-level names)
    start: int = 0
    end: int = 0


_STATEMENT_HEADS = {"for", "foreach", "catch", "using", "fixed", "lock", "if", "while", "switch"}


class SampleChecker:
    """Resolves every reference in the sample files of one language; see the module docstring. A subclass per
    language gives its Naming, its preprocessing and the checks only that language needs."""

    naming_class: type[Naming]
    csharp = False  # for strip_source: C# string literals ($"...", @"...")

    def __init__(self, contract: Contract, paths: tuple[Path, ...]):
        self.naming = self.naming_class(contract)
        self.contract = contract
        self.problems: list[str] = []
        self.refs: set[str] = set()  # what was resolved against the contract, e.g. "field storyteller.v1.X.y"
        self.sources = [Source(p, p.read_text(), strip_source(p.read_text(), self.csharp)) for p in paths]
        self.decls: dict[str, list[Declaration]] = {}
        self.local_classes: dict[str, set[str]] = {}  # class defined by the samples -> its member names
        self.local_methods: dict[str, list[tuple | None]] = {}  # method -> parameter types
        self.signatures: dict[str, list[tuple[Token, list[tuple | None]]]] = {}  # every declaration of a method
        self.local_names: set[str] = set()  # every name the samples declare
        self.handled: set[tuple[str, int]] = set()  # (file, token index) of names checked elsewhere
        self.skip_assign: set[tuple[str, int]] = set()

    # -- reporting

    def problem(self, source: Source, token: Token, message: str) -> None:
        path = source.path.relative_to(ROOT) if source.path.is_relative_to(ROOT) else source.path
        self.problems.append(f"{path}:{source.line(token.pos)}: {message}")

    def describe(self, t: tuple | None) -> str:
        if t is None:
            return "unknown"
        if t[0] in ("msg", "msgclass"):
            return self.naming.describe_message(self.contract.messages[t[1]])
        if t[0] in ("enum", "enumtype"):
            return f"enum {self.contract.enums[t[1]].name}"
        if t[0] == "repeated":
            return f"repeated {self.describe(t[1])}"
        if t[0] in ("stream_call", "unary_call", "stream_reader", "task", "async_enum"):
            return f"{t[0]}<{self.contract.messages[t[1]].name}>"
        return " ".join(str(part) for part in t)

    # -- passes

    def run(self) -> list[str]:
        for source in self.sources:
            self.prepare(source)
        for source in self.sources:
            self.collect_classes(source)
        for source in self.sources:
            self.collect_declarations(source)
        for source in self.sources:
            self.infer_declarations(source)
        for source in self.sources:
            self.check_source(source)
        return self.problems

    def check_source(self, source: Source) -> None:
        """The checks of one file. A subclass may run its own first: they mark names (`handled`, `skip_assign`)
        that these then leave alone."""
        self.check_chains(source)
        self.check_assignments(source)
        self.check_loops(source)
        self.check_type_names(source)

    def prepare(self, source: Source) -> None:
        source.code = self.preprocess(source)
        source.tokens = tokenize(source.code, source.path.name)
        source.index_brackets()
        for i in source.unclosed:
            self.problem(source, source.tokens[i], f"`{source.tokens[i].text}` is never closed")

    def preprocess(self, source: Source) -> str:
        """Checks the language's directives (using, #include) and returns the code with them blanked."""
        raise NotImplementedError

    # -- declarations

    def class_body_of(self, source: Source, brace: int) -> str | None:
        """The name of the class whose body opens at token `brace`, if it is one."""
        for k in range(brace - 1, max(brace - 40, -1), -1):
            text = source.tokens[k].text
            if text in (";", "{", "}", ")"):
                return None
            if text in ("class", "struct") and source.tokens[k + 1].kind == "id":
                return source.tokens[k + 1].text
        return None

    def collect_classes(self, source: Source) -> None:
        for i, token in enumerate(source.tokens):
            if token.text == "{" and (name := self.class_body_of(source, i)):
                self.local_classes.setdefault(name, set())
                self.local_names.add(name)

    def scope_of(self, source: Source, name_index: int) -> Declaration | str:
        """Where a variable declared at name_index is visible: a Declaration with no type yet, or "skip"
        for a parameter (registered with its method)."""
        tokens = source.tokens
        paren = source.paren[name_index]
        block = source.block[name_index]
        if paren >= 0 and (block < 0 or paren > block):
            if paren and tokens[paren - 1].text in _STATEMENT_HEADS:
                close = source.close[paren]
                if close + 1 < len(tokens) and tokens[close + 1].text == "{":
                    return Declaration(None, source.path.name, paren, source.close[close + 1])
                end = next((k for k in range(close + 1, len(tokens)) if tokens[k].text == ";"), len(tokens) - 1)
                return Declaration(None, source.path.name, paren, end)
            return "skip"
        if block < 0:
            return Declaration(None, None)
        owner = self.class_body_of(source, block)
        if owner:
            self.local_classes[owner].add(tokens[name_index].text)
            return Declaration(None, None)
        return Declaration(None, source.path.name, block, source.close[block])

    def collect_declarations(self, source: Source) -> None:
        """Methods (with parameter types) and typed variables, fields, properties and parameters."""
        tokens = source.tokens
        for i in range(len(tokens) - 1):
            decl = self.declaration_at(tokens, i)
            if decl is None:
                continue
            type_tokens, name_index = decl
            name = tokens[name_index].text
            after = tokens[name_index + 1].text if name_index + 1 < len(tokens) else ""
            if after == "::":  # Class::Method( ... ) defined in a .cpp
                if name_index + 3 < len(tokens) and tokens[name_index + 3].text == "(":
                    self.add_method(source, name_index + 2, name_index + 3)
                continue
            if after == "(":
                self.add_method(source, name_index, name_index + 1)
                continue
            self.local_names.add(name)
            if type_tokens[0].text in ("var", "auto"):
                continue  # see infer_declarations
            scope = self.scope_of(source, name_index)
            if scope == "skip":
                continue
            scope.type = self.type_of_text(type_tokens)
            self.declare(source, tokens[name_index], scope)

    def type_of_text(self, type_tokens: list[Token]) -> tuple | None:
        text = " ".join(t.text for t in type_tokens)
        declared = self.naming.type_from_text(text)
        bare = re.sub(r"\bconst\b|[*&\s]", "", text)
        if declared is None and bare in self.local_classes:
            return ("local", bare)
        return declared

    def declare(self, source: Source, token: Token, decl: Declaration) -> None:
        name = token.text
        if decl.file is None:
            for other in self.decls.get(name, []):
                if other.file is None and None not in (other.type, decl.type) and other.type != decl.type:
                    self.problem(source, token, f"`{name}` is declared as {self.describe(other.type)} and as "
                                 f"{self.describe(decl.type)}: give them different names so that the check can "
                                 "tell them apart")
        self.decls.setdefault(name, []).append(decl)

    def lookup(self, name: str, source: Source, index: int) -> tuple[bool, tuple | None]:
        best = None
        for decl in self.decls.get(name, []):
            if decl.file == source.path.name and decl.start <= index <= decl.end:
                if best is None or decl.end - decl.start < best.end - best.start:
                    best = decl
        if best:
            return True, best.type
        shared = [d.type for d in self.decls.get(name, []) if d.file is None]
        if shared:
            known = {t for t in shared if t is not None}
            return True, known.pop() if len(known) == 1 else None
        return False, None

    def declaration_at(self, tokens: list[Token], i: int) -> tuple[list[Token], int] | None:
        """A declaration starting at tokens[i]: TYPE [generic args] [* &] NAME followed by = ; , ) { ( : or
        `in`. Returns the type tokens and the index of NAME."""
        first = tokens[i]
        if first.kind != "id" or first.text in _KEYWORDS - {"var", "auto"}:
            return None
        if i and (tokens[i - 1].text in _ACCESS or (tokens[i - 1].kind == "id" and tokens[i - 1].text not in _KEYWORDS)):
            return None  # inside a chain, or the second of two names
        j = i + 1
        while j + 1 < len(tokens) and tokens[j].text in (".", "::") and tokens[j + 1].kind == "id":
            j += 2
        if j < len(tokens) and tokens[j].text == "<":  # generic arguments
            depth = 0
            while j < len(tokens):
                depth += {"<": 1, ">": -1}.get(tokens[j].text, 0)
                if tokens[j].text in (";", "{", "(", ")", "="):
                    return None
                j += 1
                if depth == 0:
                    break
        while j < len(tokens) and tokens[j].text in ("*", "&", "?", "[", "]"):
            if tokens[j].text == "[" and (j + 1 >= len(tokens) or tokens[j + 1].text != "]"):
                return None
            j += 1
        if j >= len(tokens) or tokens[j].kind != "id" or tokens[j].text in _KEYWORDS:
            return None
        after = tokens[j + 1].text if j + 1 < len(tokens) else ""
        if after in ("=", ";", ",", ")", "{", "(", "=>", "::", ":", "in"):
            return tokens[i:j], j
        return None

    def add_method(self, source: Source, name_index: int, open_index: int) -> None:
        tokens = source.tokens
        name = tokens[name_index].text
        close = source.close[open_index]
        k = close + 1
        while k < len(tokens) and tokens[k].text in ("const", "override", "final", "noexcept"):
            k += 1
        following = tokens[k].text if k < len(tokens) else ""
        if following not in ("{", ";", "=>"):
            return
        self.local_names.add(name)
        block = source.block[name_index]
        if block >= 0 and (owner := self.class_body_of(source, block)):
            self.local_classes[owner].add(name)
        params, names = [], []
        for part in split_top(tokens[open_index + 1 : close]):
            part = split_top(part, "=")[0] if part else part
            if len(part) >= 2 and part[-1].kind == "id":
                modifiers = ("this", "params", "ref", "out", "in")
                params.append(self.type_of_text([t for t in part[:-1] if t.text not in modifiers]))
                names.append(part[-1])
                self.local_names.add(part[-1].text)
        if name not in self.local_methods or any(p is not None for p in params):
            self.local_methods[name] = params
        self.signatures.setdefault(name, []).append((tokens[name_index], params))
        if following == ";":
            return  # a declaration: its parameters have no body to be visible in
        if following == "{":
            end = source.close[k]
        else:
            end = next((m for m in range(k, len(tokens)) if tokens[m].text == ";"), len(tokens) - 1)
        for param_token, param_type in zip(names, params):
            self.declare(source, param_token, Declaration(param_type, source.path.name, k, end))

    def infer_declarations(self, source: Source) -> None:
        """`var x = expression;` and `foreach (var x in expression)` (C#), `auto` (C++)."""
        tokens = source.tokens
        for i, token in enumerate(tokens):
            if token.text not in ("var", "auto"):
                continue
            decl = self.declaration_at(tokens, i)
            if decl is None:
                continue
            name_index = decl[1]
            after = tokens[name_index + 1].text
            scope = self.scope_of(source, name_index)
            if scope == "skip":
                continue
            if after == "=":
                scope.type = self.infer(source, self.rhs(source, name_index + 1))
            elif after in ("in", ":"):
                close = source.close[source.paren[name_index]]
                collection = self.infer(source, tokens[name_index + 2 : close])
                scope.type = self.element_type(collection)
            if scope.type == BAD:
                scope.type = None
            self.declare(source, tokens[name_index], scope)

    @staticmethod
    def element_type(collection: tuple | None) -> tuple | None:
        if collection and collection[0] == "repeated":
            return collection[1]
        if collection and collection[0] == "async_enum":
            return ("msg", collection[1])
        return None

    @staticmethod
    def rhs(source: Source, equals: int) -> list[Token]:
        tokens, end, depth = source.tokens, equals + 1, 0
        while end < len(tokens):
            text = tokens[end].text
            if text in ("(", "[", "{"):
                depth += 1
            elif text in (")", "]", "}"):
                if depth == 0:
                    break
                depth -= 1
            elif text in (";", ",") and depth == 0:
                break
            end += 1
        return tokens[equals + 1 : end]

    # -- chains

    def chains(self, source: Source):
        """Yields every access chain: a root name followed by members, calls and indexing."""
        tokens = source.tokens
        for i, token in enumerate(tokens):
            if token.kind != "id" or (i and tokens[i - 1].text in _ACCESS):
                continue
            yield self.chain_at(source, i)

    @staticmethod
    def chain_at(source: Source, i: int) -> tuple[list[Element], int]:
        tokens = source.tokens
        chain = [Element("root", tokens[i].text, i)]
        j = i + 1
        while j < len(tokens):
            text = tokens[j].text
            if text == "!" and j + 1 < len(tokens) and tokens[j + 1].text in _ACCESS:
                j += 1  # C# null-forgiving operator
                continue
            if text in _ACCESS and j + 1 < len(tokens) and tokens[j + 1].kind == "id":
                chain.append(Element("member", tokens[j + 1].text, j + 1))
                j += 2
            elif text in ("(", "["):
                close = source.close[j]
                args = split_top(tokens[j + 1 : close]) if text == "(" else []
                chain.append(Element("call" if text == "(" else "index", "", j, args))
                j = close + 1
            else:
                break
        return chain, j

    def check_chains(self, source: Source) -> None:
        covered = set()
        for chain, _ in self.chains(source):
            covered.update(el.index for el in chain if el.kind == "member")
            self.resolve(source, chain, report=True)
        for i, token in enumerate(source.tokens):
            if i and source.tokens[i - 1].text in _ACCESS and token.kind == "id" and i not in covered:
                self.member(source, None, token.text, i, report=True)  # e.g. (expression).Member

    def root_type(self, source: Source, name: str, index: int) -> tuple | None:
        found, declared = self.lookup(name, source, index)
        if found:
            return declared
        by_name = self.naming.root_type_name(name)
        if by_name:
            return by_name
        if name in self.local_methods:
            return ("localmethod", name)
        if name in self.local_classes:
            return ("local", name)
        if name in ("this", "Super", "base"):
            return ("local", None)
        return None

    def resolve(self, source: Source, chain: list[Element], report: bool) -> tuple | None:
        t = self.root_type(source, chain[0].name, chain[0].index)
        for element in chain[1:]:
            if t == BAD:
                return BAD
            if element.kind == "member":
                t = self.member(source, t, element.name, element.index, report)
            elif element.kind == "index":
                t = t[1] if t and t[0] == "repeated" else None
            else:
                t = self.call(source, t, element, report)
        return t

    def member(self, source: Source, t: tuple | None, name: str, index: int, report: bool) -> tuple | None:
        token = source.tokens[index]
        naming = self.naming

        def fail(message: str) -> tuple:
            if report:
                self.problem(source, token, message)
            return BAD

        kind = t[0] if t else None
        if kind == "msg":
            message = self.contract.messages[t[1]]
            proto_name = naming.fields[message.full_name].get(name)
            if proto_name:
                if report:
                    self.refs.add(f"field {message.full_name}.{proto_name}")
                return naming.field_type(message.fields[proto_name])
            if name in naming.message_members:
                return ("method", t, name)
            known = ", ".join(sorted(naming.fields[message.full_name]))
            return fail(
                f"`{name}`: {self.describe(t)} has no such field (its fields, as {naming.lang} names them: {known})"
            )
        if kind == "enumtype":
            enum = self.contract.enums[t[1]]
            if name in naming.enum_values[enum.full_name]:
                if report:
                    self.refs.add(f"enum value {enum.full_name}.{naming.enum_values[enum.full_name][name]}")
                return ("enum", enum.full_name)
            return fail(f"`{name}`: enum {enum.name} has no such value (as {naming.lang} names them: "
                        f"{', '.join(naming.enum_values[enum.full_name])})")
        if kind == "msgclass":
            if name in ("Parser", "Descriptor"):
                return None
            return fail(f"`{name}`: not a static member of {self.describe(t)}")
        if kind == "serviceclass":
            if name == f"{t[1]}Client":
                if report:
                    self.refs.add(f"service {t[1]}")
                return ("clientclass", t[1])
            return None if name == "Descriptor" else fail(f"`{name}`: C# service class {t[1]} has no such member")
        if kind in ("client", "service"):
            service = self.contract.services[t[1]]
            found = naming.client_member(service, name) if kind == "client" else naming.service_member(service, name)
            if found == BAD:
                return fail(f"`{name}`: the {naming.lang} {kind} of {service.name} has no such member "
                            f"(its RPCs: {', '.join(service.rpcs)})")
            if report:
                self.refs.add(f"service {service.name}")
                if found and found[0] == "delegate":
                    self.refs.add(f"rpc {service.name}.{found[2]}")
            return found
        if kind == "repeated":
            if name in naming.repeated_members:
                return ("method", t, name)
            return fail(f"`{name}`: not a member the samples may use on a repeated field")
        if kind == "stream_call":
            if name == "ResponseStream":
                return ("stream_reader", t[1])
            if name in ("Dispose", "GetStatus", "GetTrailers", "ResponseHeadersAsync"):
                return None
            return fail(f"`{name}`: not a member of AsyncServerStreamingCall")
        if kind == "stream_reader":
            if name == "Current":
                return ("msg", t[1])
            if name in ("MoveNext", "ReadAllAsync"):
                return ("method", t, name)
            return fail(f"`{name}`: not a member of IAsyncStreamReader")
        if kind == "unary_call":
            if name == "ResponseAsync":
                return ("task", t[1])
            if name in ("Dispose", "GetStatus", "GetTrailers", "ResponseHeadersAsync", "GetAwaiter"):
                return None
            return fail(f"`{name}`: not a member of AsyncUnaryCall")
        if kind == "api":
            members = naming.api.get(t[1], {})
            if name in members:
                return members[name]
            return fail(f"`{name}`: not a known member of {t[1]}")
        if kind == "local":
            names = set().union(*self.local_classes.values()) if t[1] is None else self.local_classes.get(t[1], set())
            if name in names:
                if name in self.local_methods:
                    return ("localmethod", name)
                return self.lookup(name, source, -1)[1]
            return fail(f"`{name}`: not a member of the sample's class {t[1] or ''}".rstrip())
        if kind == "delegate" and name in ("AddUniqueDynamic", "AddDynamic"):
            return ("bind", t[1], t[2])
        if kind in ("method", "returns", "bind"):
            return fail(f"`{name}`: a method is not a value")
        # A value of a non-proto type, or a proto scalar/enum value: only API names, never proto names.
        if not name[:1].isupper():
            return None  # what the generators make of the contract always starts upper-case
        if name in naming.generic_members:
            return None
        of = self.describe(t) if t else "a type the check cannot see"
        return fail(f"`{name}`: unknown member on a value of {of}; if it is not a proto name, add it to the "
                    f"allow-list in {Path(inspect.getfile(type(naming))).name}")

    def call(self, source: Source, t: tuple | None, element: Element, report: bool) -> tuple | None:
        if t is None or t == BAD:
            return None
        if t[0] == "returns":
            return t[1]
        if t[0] == "bind":
            self.check_handler(source, element, self.contract.services[t[1]].rpcs[t[2]], report)
            return None
        if t[0] == "localmethod":
            for arg, expected in zip(element.args, self.local_methods.get(t[1], [])):
                if arg:
                    self.compare(source, arg[0], expected, self.infer(source, arg), f"argument of {t[1]}()", report)
            return None
        if t[0] != "method":
            return None
        owner, name = t[1], t[2]
        if owner[0] in ("client", "service"):
            service = self.contract.services[owner[1]]
            for rpc in service.rpcs.values():
                if name not in self.naming.rpc_member_names(service, rpc):
                    continue
                if report:
                    self.refs.add(f"rpc {service.name}.{rpc.name}")
                request = self.naming.request_argument(rpc, name, element.args)
                if request:
                    self.compare(source, request[0], ("msg", rpc.input), self.infer(source, request),
                                 f"request of {service.name}.{rpc.name}", report)
                return self.naming.call_result(rpc, name)
            return ("client", service.name) if name == "MakeClient" else None
        if owner[0] == "stream_reader" and name == "ReadAllAsync":
            return ("async_enum", owner[1])
        return None

    def check_handler(self, source: Source, element: Element, rpc: ProtoRpc, report: bool) -> None:
        """TurboLink: `client->OnRpcResponse.AddUniqueDynamic(this, &Class::Handler)`: Handler must take
        (FGrpcContextHandle, const FGrpcResult&, const <the RPC's response>&)."""
        handler = element.args[1][-1] if len(element.args) > 1 and element.args[1] else None
        if not report or handler is None or handler.kind != "id":
            return
        signatures = self.signatures.get(handler.text)
        if not signatures:
            self.problem(source, handler, f"`{handler.text}`: no such method to bind to On{rpc.name}Response")
            return
        expected = [("api", "FGrpcContextHandle"), ("api", "FGrpcResult"), ("msg", rpc.output)]
        for declared_at, params in signatures:
            where = next(src for src in self.sources if src.path.name == declared_at.file)
            if len(params) != 3 or params[:2] != expected[:2]:
                self.problem(where, declared_at, f"`{handler.text}` must take (FGrpcContextHandle, const FGrpcResult&, "
                             f"const {self.describe(expected[2]).split()[0]}&) to be bound to On{rpc.name}Response")
            else:
                self.compare(where, declared_at, expected[2], params[2], f"response parameter of {handler.text}")

    def compare(self, source: Source, token: Token, expected, got, what: str, report: bool = True) -> None:
        if expected is None or got is None or BAD in (expected, got):
            return
        if expected[0] not in CHECKED_KINDS or got[0] not in CHECKED_KINDS:
            return
        if expected != got and report:
            self.problem(source, token, f"{what}: expected {self.describe(expected)}, got {self.describe(got)}")

    def infer(self, source: Source, tokens: list[Token]) -> tuple | None:
        """The type of a simple expression: `new T ...`, `Cast<T>(...)`, or one access chain."""
        while tokens and tokens[0].text in ("*", "&"):
            tokens = tokens[1:]
        awaited = bool(tokens) and tokens[0].text == "await"
        if awaited:
            tokens = tokens[1:]
        if not tokens:
            return None
        if tokens[0].text == "new" and len(tokens) > 1:
            j = 1
            while j < len(tokens) and tokens[j].text not in ("{", "(", "["):
                j += 1
            return self.naming.type_from_text(" ".join(t.text for t in tokens[1:j]))
        if tokens[0].text == "Cast" and len(tokens) > 3 and tokens[1].text == "<":
            close = next((k for k, t in enumerate(tokens) if t.text == ">"), None)
            if close:
                return self.naming.type_from_text(" ".join(t.text for t in tokens[2:close]))
        if tokens[0].kind != "id":
            return None
        index = next(k for k, t in enumerate(source.tokens) if t is tokens[0])
        chain, end = self.chain_at(source, index)
        if end != index + len(tokens):
            return None  # more than one chain: an operator expression
        t = self.resolve(source, chain, report=False)
        if awaited:
            return ("msg", t[1]) if t and t[0] in ("unary_call", "task") else None
        return t

    # -- statements

    def check_assignments(self, source: Source) -> None:
        """`Type name = value`, `target.Member = value`: the types must agree where both are known."""
        tokens = source.tokens
        for k, token in enumerate(tokens):
            if token.text != "=" or (source.path.name, k) in self.skip_assign or k == 0:
                continue
            start = k - 1
            while start > 1 and tokens[start - 1].text in _ACCESS:
                start -= 2
            if tokens[start].kind != "id" or (start and tokens[start - 1].text in ("var", "auto")):
                continue
            rhs = self.rhs(source, k)
            chain, end = self.chain_at(source, start)
            if end != k:
                continue
            expected = self.resolve(source, chain, report=False)
            self.compare(source, rhs[0] if rhs else token, expected, self.infer(source, rhs),
                         f"`{''.join(t.text for t in tokens[start:k])}`")

    def check_loops(self, source: Source) -> None:
        """`foreach (T x in e)` and `for (T& x : e)`: T must be the element type of e."""
        tokens = source.tokens
        for i, token in enumerate(tokens):
            if token.text not in ("foreach", "for") or i + 1 >= len(tokens) or tokens[i + 1].text != "(":
                continue
            inner = tokens[i + 2 : source.close[i + 1]]
            split = next((k for k, t in enumerate(inner) if t.text in ("in", ":")), None)
            if split is None or split < 2 or inner[0].text in ("var", "auto"):
                continue
            element = self.element_type(self.infer(source, inner[split + 1 :]))
            declared = self.type_of_text(inner[: split - 1])
            self.compare(source, inner[split - 1], declared, element, f"loop variable `{inner[split - 1].text}`")

    def check_type_names(self, source: Source) -> None:
        tokens = source.tokens
        for i, token in enumerate(tokens):
            if token.kind != "id" or (i and tokens[i - 1].text in _ACCESS) or (source.path.name, i) in self.handled:
                continue
            self.check_type_name(source, token)

    def check_type_name(self, source: Source, token: Token) -> None:
        """A name that is not a member: it must be a type the contract generates, where the language can tell."""
        raise NotImplementedError
