"""Which source files of a CMSIS-NN library a generated model needs.

A library tree holds far more than one model calls (Arm's CMSIS-NN has int4/int16/float
kernels; since v7.0.0 its float16 sources do not even compile without an FP16 target), so a
build compiles only the files that define the functions the generated code calls and,
transitively, what those call. :class:`SymbolIndex` reads every ``.c`` and ``.h`` file of the
tree once: the functions and variables each file defines at file scope (with ``static`` ones
kept local to their file), the ``static inline`` functions and macros of the headers, and the
identifiers each definition's body uses. :meth:`SymbolIndex.select` follows those references
from the generated ``model.c`` (or from a list of function names) to the set of ``.c`` files.

The reading is lexical, not a preprocessor: it keeps every branch of ``#if`` (so the set is
the same for every core, a little larger than one core needs) and only knows that
``__cplusplus`` is undefined. Files that move between library versions are found wherever
they are, because the index is built from the tree itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_COMMENT_OR_LITERAL = re.compile(
    r"""/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""", re.S
)
_TOKEN = re.compile(r"[A-Za-z_]\w*|[{}();=\[\]]")
_DIRECTIVE = re.compile(r"\s*#\s*(\w+)(.*)", re.S)
_DEFINE = re.compile(r"([A-Za-z_]\w*)(\([^)]*\))?(.*)", re.S)
#: Identifiers before a parenthesis that are not the name of the function being defined.
_NOT_A_NAME = frozenset(
    {"__attribute__", "__attribute", "__declspec", "__asm__", "__asm", "asm", "_Alignas", "if"}
)


@dataclass
class Definition:
    """A function, variable or macro defined in ``file``, and the identifiers it uses."""

    name: str
    file: Path
    local: bool  # static: visible in its own file only
    uses: set[str] = field(default_factory=set)


def _strip(text: str) -> str:
    """``text`` without comments and literals, and with continued lines joined."""

    def blank(match: re.Match[str]) -> str:
        return " " if match.group(0).startswith(("/", '"', "'")) else match.group(0)

    text = _COMMENT_OR_LITERAL.sub(lambda m: "\n" * m.group(0).count("\n") or blank(m), text)
    return text.replace("\\\n", " ")


class _Conditional:
    """One ``#if`` ... ``#endif`` being read: brace depth at its start and at the end of its
    first branch (every branch is read; the braces are counted as in the first one)."""

    def __init__(self, depth: int, cplusplus: bool) -> None:
        self.depth = depth
        self.first_end: int | None = None
        self.cplusplus = cplusplus
        self.skipping = cplusplus  # the C++-only branch of ``#ifdef __cplusplus``


class _FileReader:
    """Reads the definitions of one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.definitions: list[Definition] = []
        self._depth = 0
        self._declaration: list[str] = []
        self._current: Definition | None = None
        self._stack: list[_Conditional] = []

    def read(self, text: str) -> list[Definition]:
        for line in _strip(text).splitlines():
            directive = _DIRECTIVE.match(line)
            if directive is not None:
                self._directive(directive.group(1), directive.group(2))
            elif not any(c.skipping for c in self._stack):
                for token in _TOKEN.findall(line):
                    self._token(token)
        return self.definitions

    def _directive(self, name: str, rest: str) -> None:
        if name in ("if", "ifdef", "ifndef"):
            cplusplus = "__cplusplus" in rest and name != "ifndef" and "!" not in rest
            self._stack.append(_Conditional(self._depth, cplusplus))
        elif name in ("elif", "else") and self._stack:
            top = self._stack[-1]
            if top.first_end is None:
                top.first_end = self._depth
            self._depth = top.depth
            top.skipping = False
        elif name == "endif" and self._stack:
            top = self._stack.pop()
            if top.first_end is not None and not top.cplusplus:
                self._depth = top.first_end
        elif name == "define" and not any(c.skipping for c in self._stack):
            match = _DEFINE.match(rest.strip())
            if match is not None:
                uses = {t for t in _TOKEN.findall(match.group(3)) if _is_name(t)}
                self.definitions.append(Definition(match.group(1), self.path, False, uses))

    def _token(self, token: str) -> None:
        if token == "{":
            if self._depth == 0:
                self._current = self._begin(self._declaration, body=True)
            self._depth += 1
        elif token == "}":
            self._depth = max(self._depth - 1, 0)
            if self._depth == 0 and self._current is not None:
                self._finish()
                self._declaration = []
            # else: a struct, union or enum body; ``typedef struct {...} name;`` goes on
        elif self._depth > 0:
            if self._current is not None and _is_name(token):
                self._current.uses.add(token)
        elif token == ";":
            if self._current is None:
                self._current = self._begin(self._declaration, body=False)
            self._finish()
            self._declaration = []
        else:
            self._declaration.append(token)

    def _finish(self) -> None:
        if self._current is not None:
            self.definitions.append(self._current)
            self._current = None

    def _begin(self, tokens: Sequence[str], body: bool) -> Definition | None:
        """The definition that a file-scope declaration followed by ``{`` (``body``) or ``;``
        starts, if it defines something."""
        if not tokens or tokens[0] in ("typedef", "extern"):
            return None
        local = "static" in tokens
        if "=" in tokens:  # a variable with an initializer; what follows ``=`` is used
            cut = tokens.index("=")
            name = _last_name(tokens[:cut])
            uses = {t for t in tokens[cut + 1 :] if _is_name(t)}
            return Definition(name, self.path, local, uses) if name else None
        if "(" in tokens:
            name = _function_name(tokens)
            return Definition(name, self.path, local) if name and body else None
        if body or tokens[0] in ("struct", "union", "enum"):
            return None
        name = _last_name(tokens)  # a variable without an initializer
        return Definition(name, self.path, local) if name else None


def _is_name(token: str) -> bool:
    return token[:1].isalpha() or token[:1] == "_"


def _last_name(tokens: Sequence[str]) -> str | None:
    if "[" in tokens:
        tokens = tokens[: tokens.index("[")]
    names = [t for t in tokens if _is_name(t)]
    return names[-1] if names else None


def _function_name(tokens: Sequence[str]) -> str | None:
    """The identifier before the first parenthesis that is not an attribute."""
    i = 0
    while i < len(tokens):
        if tokens[i] == "(":
            before = tokens[i - 1] if i > 0 else ""
            if before not in _NOT_A_NAME and _is_name(before):
                return before
            depth = 0
            while i < len(tokens):  # skip the attribute's parentheses
                depth += {"(": 1, ")": -1}.get(tokens[i], 0)
                if depth == 0:
                    break
                i += 1
        i += 1
    return None


def read_definitions(path: Path, text: str | None = None) -> list[Definition]:
    """The file-scope definitions of one C source or header (``text``: its contents)."""
    if text is None:
        text = path.read_text(encoding="utf-8", errors="replace")
    return _FileReader(path).read(text)


class SymbolIndex:
    """Every definition of a library's ``.c`` and ``.h`` files, by name."""

    def __init__(self, files: Iterable[Path]) -> None:
        self.global_definitions: dict[str, list[Definition]] = {}
        self.local_definitions: dict[tuple[Path, str], list[Definition]] = {}
        for path in sorted(set(files)):
            for d in read_definitions(path):
                if d.local and path.suffix == ".c":  # a header's statics are its includers'
                    self.local_definitions.setdefault((path, d.name), []).append(d)
                else:
                    self.global_definitions.setdefault(d.name, []).append(d)

    def _resolve(self, name: str, where: Path | None) -> list[Definition]:
        if where is not None and (where, name) in self.local_definitions:
            return self.local_definitions[(where, name)]
        found = self.global_definitions.get(name, [])
        if where is not None:  # a name the file defines itself wins over other files'
            own = [d for d in found if d.file == where]
            if own:
                return own
        return found

    def definers(self, name: str) -> list[Path]:
        """The ``.c`` files that define ``name`` with external linkage."""
        return sorted(
            {d.file for d in self.global_definitions.get(name, []) if d.file.suffix == ".c"}
        )

    def select(self, names: Iterable[str] = (), code: str | None = None) -> tuple[Path, ...]:
        """The ``.c`` files that define ``names`` and the identifiers ``code`` (a generated
        C file) uses, and everything those definitions use in turn, in path order."""
        pending: list[tuple[str, Path | None]] = [(n, None) for n in names]
        if code is not None:
            pending += [(d, None) for d in _uses_of_code(code)]
        seen: set[int] = set()
        files: set[Path] = set()
        while pending:
            name, where = pending.pop()
            for definition in self._resolve(name, where):
                if id(definition) in seen:
                    continue
                seen.add(id(definition))
                if definition.file.suffix == ".c":
                    files.add(definition.file)
                pending += [(u, definition.file) for u in definition.uses]
        return tuple(sorted(files))


def _uses_of_code(code: str) -> Iterator[str]:
    """Every identifier a generated C file uses (in its definitions and initializers)."""
    for definition in _FileReader(Path("<generated>")).read(code):
        yield from definition.uses
