"""The legacy-state family's analysis of one file, on the stdlib `ast`: which
names refer to a legacy class, which annotations name one, which variables
hold legacy state (or, migrated, the context), and how a field of such a
value is used. Every rule of the family reads one `LegacyReferences` per file.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import copy
import io
import keyword
import re
import tokenize
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType

from ...scopes import FUNCTIONS, statements, walk, walk_scope
from ..ast_context import AstFile
from ..ast_helpers import dotted_name, last_name
from .family import (
    ANNOTATED_NAMES,
    OPTIONAL_NAMES,
    UNION_NAMES,
    LegacyStateConfig,
    absolute_module,
    legacy_class_of,
)
from .imports import mentioned_names

_WORD = re.compile(r"\w+")
_TRAILING_WORD = re.compile(r"\w+\Z")
Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.Module
Parent = Callable[[ast.AST], ast.AST | None]


@dataclass(frozen=True)
class LegacyNames:
    """The names that refer to a legacy class in one file: a plain value that
    fix builders may capture (they run after the visit, on LibCST nodes)."""

    classes: frozenset[str]
    aliases: Mapping[str, str]  # a name bound in this file -> the legacy class it refers to

    def refers(self, name: str) -> bool:
        return name in self.classes or name in self.aliases

    def class_named(self, name: str) -> str:
        return self.aliases.get(name, name)


class LegacyReferences:
    """What in one file refers to a legacy class; built once per file."""

    def __init__(self, file: AstFile) -> None:
        config = LegacyStateConfig.of(file.settings)
        self._file = file
        self.config = config
        self.context_name = config.context_name
        aliases: dict[str, str] = {}
        self._class_bodies: set[int] = set()  # ids of the legacy classes' own definitions
        for node in statements(file.tree):
            if isinstance(node, ast.ClassDef) and node.name in config.classes:
                self._class_bodies.add(id(node))
            elif isinstance(node, ast.ImportFrom):
                module = absolute_module(node.module or "", node.level, file.module_name, file.is_package)
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    legacy = legacy_class_of(file.project, config.classes, module, alias.name)
                    if legacy is not None:
                        aliases[alias.asname or alias.name] = legacy
        # Read-only for the fixes that capture it; the loop below still adds to
        # `aliases`, through which `is_reference` sees `L = S` after `S = DeepAgentState`.
        self.names = LegacyNames(config.classes, MappingProxyType(aliases))
        for statement in file.tree.body:  # module-level `L = DeepAgentState`
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and self.is_reference(statement.value)
            ):
                aliases[statement.targets[0].id] = self.class_of(statement.value)

    @property
    def classes(self) -> frozenset[str]:
        return self.config.classes

    def is_reference(self, expr: ast.AST) -> bool:
        if isinstance(expr, ast.Name):
            return self.names.refers(expr.id)
        if isinstance(expr, ast.Attribute):
            return expr.attr in self.classes
        return False

    def class_of(self, expr: ast.AST) -> str:
        """The legacy class a reference (`is_reference`) names."""
        name = last_name(expr)
        return self.names.class_named(name) if name is not None else ""

    def in_class_body(self, ancestors: Iterable[ast.AST]) -> bool:
        return any(id(node) in self._class_bodies for node in ancestors)

    # annotations ---------------------------------------------------------------

    def annotation_mentions(self, expr: ast.expr) -> str | None:
        """The legacy class named anywhere in an annotation, strings included."""
        for node in walk(expr):
            if self.is_reference(node):
                return self.class_of(node)
            if isinstance(node, ast.Attribute) and node.attr in self.names.aliases:
                return self.names.class_named(node.attr)  # `x.S` for an alias `S`: its name is the alias
            parsed = parse_string_annotation(node)
            found = self.annotation_mentions(parsed) if parsed is not None else None
            if found:
                return found
        return None

    def names_after_rewrite(self, expr: ast.expr) -> set[str]:
        """The names an annotation still spells once `edits.rewrite_annotation`
        has replaced its legacy classes with the context class (which it adds):
        what tells whether the rewrite leaves an import unused."""
        if self.is_reference(expr):
            return set()
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            parsed = parse_string_annotation(expr)
            quote = _quote(self._file.segment(expr))
            if parsed is None or quote in expr.value or "\\" in expr.value:
                return set(_WORD.findall(expr.value))  # left as it is: rewritten, it could not be quoted the same way
            return self.names_after_rewrite(parsed)
        if isinstance(expr, ast.Subscript):
            elements = subscript_elements(expr)
            if dotted_name(expr.value) in UNION_NAMES and not isinstance(expr.slice, ast.Slice):
                distinct = {self._rewritten_code(e): e for e in elements}
                if len(distinct) == 1:
                    return self.names_after_rewrite(next(iter(distinct.values())))  # the union collapses
            kept = mentioned_names(expr.value)
            for element in elements:
                kept |= self.names_after_rewrite(element)
            for part in ast.walk(expr.slice):
                if isinstance(part, ast.Slice):
                    kept |= mentioned_names(part)
            return kept
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
            return set().union(*(self.names_after_rewrite(m) for m in union_members(expr)))
        return mentioned_names(expr)

    def _rewritten_code(self, expr: ast.expr) -> str:
        """`expr` as code with its references replaced by the context class (what union members are deduplicated by)."""
        references = self

        class Rewrite(ast.NodeTransformer):
            def visit_Name(self, node: ast.Name) -> ast.AST:
                return ast.Name(references.context_name) if references.is_reference(node) else node

            def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
                if references.is_reference(node):
                    return ast.Name(references.context_name)
                return self.generic_visit(node)

        return ast.unparse(Rewrite().visit(copy.deepcopy(expr)))

    def is_state_type(self, expr: ast.expr) -> bool:
        """Whether a value with this annotation is a legacy state object
        (the class itself, optional, in a union, quoted)."""
        return _types_in(expr, self.is_reference)

    def is_context_type(self, expr: ast.expr) -> bool:
        return _types_in(expr, lambda node: last_name(node) == self.context_name)

    # values known to be legacy state ---------------------------------------------

    def is_construction(self, call: ast.Call, constructors: Iterable[str]) -> bool:
        """`DeepAgentState(...)` or `DeepAgentState.model_validate(...)`."""
        func = call.func
        if self.is_reference(func):
            return True
        return isinstance(func, ast.Attribute) and func.attr in constructors and self.is_reference(func.value)

    def state_variables(self, scope: Scope, constructors: Iterable[str]) -> tuple[set[str], set[str]]:
        """(legacy state names, context names) bound in a function or module:
        parameters annotated with the class, annotated variables, and variables
        assigned from a construction. Nested functions and classes are their own scopes."""
        legacy: set[str] = set()
        context: set[str] = set()
        if isinstance(scope, FUNCTIONS):
            args = scope.args
            for param in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if param.annotation is not None:
                    if self.is_state_type(param.annotation):
                        legacy.add(param.arg)
                    elif self.is_context_type(param.annotation):
                        context.add(param.arg)
        for node in walk_scope(scope.body):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if self.is_state_type(node.annotation):
                    legacy.add(node.target.id)
                elif self.is_context_type(node.annotation):
                    context.add(node.target.id)
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and self.is_construction(node.value, constructors)
            ):
                legacy.update(t.id for t in node.targets if isinstance(t, ast.Name))
        return legacy, context


def in_source_order(names: list[ast.Name]) -> list[ast.Name]:
    """Names (a resolver's reads of a variable) in the order the source writes them."""
    return sorted(names, key=lambda name: (name.lineno, name.col_offset))


def enclosing_scope(file: AstFile) -> Scope:
    """The function being visited (the innermost, lambdas aside), or the module."""
    return file.enclosing_function() or file.tree


def legacy_references(file: AstFile) -> LegacyReferences:
    """The file's LegacyReferences, shared by every rule of the family checking it."""
    return file.shared(LegacyReferences)


def _quote(literal: str) -> str:
    """The quote a string literal's source text opens with (`"`, `'''`, ...)."""
    text = literal.lstrip("rRbBuUfF")
    return text[:3] if text[:3] in ('"""', "'''") else text[:1]


def parse_string_annotation(node: ast.AST) -> ast.expr | None:
    """The expression a string forward reference (`"List[DeepAgentState]"`) holds."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or not node.value.strip():
        return None
    with contextlib.suppress(SyntaxError, ValueError):  # a string that is not an expression names nothing
        return ast.parse(node.value.strip(), mode="eval").body
    return None


def _types_in(expr: ast.expr, matches: Callable[[ast.expr], bool]) -> bool:
    if matches(expr):
        return True
    parsed = parse_string_annotation(expr)
    if parsed is not None:
        return _types_in(parsed, matches)
    if isinstance(expr, ast.Subscript) and dotted_name(expr.value) in (*UNION_NAMES, *OPTIONAL_NAMES, *ANNOTATED_NAMES):
        inner = subscript_elements(expr)
        if dotted_name(expr.value) in ANNOTATED_NAMES:
            inner = inner[:1]
        return any(_types_in(e, matches) for e in inner)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        return any(_types_in(m, matches) for m in union_members(expr))
    return False


def subscript_elements(expr: ast.Subscript) -> list[ast.expr]:
    """The elements between the brackets (`A, B` of `X[A, B]`), slices left out."""
    elements = expr.slice.elts if isinstance(expr.slice, ast.Tuple) else [expr.slice]
    return [e for e in elements if not isinstance(e, ast.Slice)]


def union_members(expr: ast.expr) -> list[ast.expr]:
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        return [*union_members(expr.left), *union_members(expr.right)]
    return [expr]


# --- how a field of the state is used ---------------------------------------------


def classify_access(node: ast.Attribute, parent: Parent, mutating_methods: Iterable[str]) -> str:
    """How `<state>.<attr>` is used: "read", "write" (assigned, deleted, or
    mutated in place) or "call" (a method of the state is called)."""
    up = parent(node)
    if isinstance(up, ast.Call) and up.func is node:
        return "call"
    if is_target(node, parent):
        return "write"
    if isinstance(up, ast.Attribute) and up.value is node:
        above = parent(up)
        if isinstance(above, ast.Call) and above.func is up and up.attr in mutating_methods:
            return "write"
        if is_target(up, parent):
            return "write"
    if isinstance(up, ast.Subscript) and up.value is node and is_target(up, parent):
        return "write"
    return "read"


def is_target(node: ast.expr, parent: Parent, *, loops: bool = True) -> bool:
    """Whether `node` is assigned, deleted or (with `loops`) a loop target,
    inside a tuple or list target too. A `with ... as x.y` target is not: the
    LibCST analysis this replaces never counted it."""
    up = parent(node)
    while isinstance(up, (ast.Starred, ast.Tuple, ast.List)):
        node, up = up, parent(up)
    if isinstance(up, (ast.Assign, ast.Delete)):
        return any(target is node for target in up.targets)
    if isinstance(up, (ast.AnnAssign, ast.AugAssign)):
        return up.target is node
    if loops and isinstance(up, (ast.For, ast.AsyncFor, ast.comprehension)):
        return up.target is node
    return False


def key_quote(ancestors: Iterable[ast.AST], file: AstFile) -> str:
    """The quote for a string literal written under `ancestors`: inside a
    `f"..."` a double quote would end the f-string before Python 3.12."""
    for node in reversed(list(ancestors)):
        if isinstance(node, ast.JoinedStr):
            opening = file.segment(node).lstrip("rRbBfFuU")[:1]
            return "'" if opening == '"' else '"'
    return '"'


# --- the source text of a node, as LibCST's code for it -------------------------


def source_code(file: AstFile, node: ast.AST) -> str:
    """The text of `node` with the parentheses around it that are its own
    (`(state.x)`, not the call's in `f(state.x)`): what LibCST's code for the
    node is, and what the family's messages quote."""
    opening, closing = own_parentheses(file, node)
    return f"{opening}{file.segment(node)}{closing}"


def own_parentheses(file: AstFile, node: ast.AST) -> tuple[str, str]:
    """The source text from the outermost parenthesis that is `node`'s own to
    the node, and from the node to its matching parenthesis ("" when it has none)."""
    start, end = file.span(node)
    if plainly_unparenthesised(file, start, end):
        return "", ""
    return tokenized_parentheses(file, node)


def tokenized_parentheses(file: AstFile, node: ast.AST) -> tuple[str, str]:
    """own_parentheses, from the tokens of the node's top-level statement."""
    start, end = file.span(node)
    tokens, starts, ends = _tokens(file, node)
    first, last = starts.get(start), ends.get(end)
    if first is None or last is None:
        return "", ""
    while (
        first > 0
        and last + 1 < len(tokens)
        and tokens[first - 1].string == "("
        and tokens[last + 1].string == ")"
        and not (first > 1 and _ends_a_callee(tokens[first - 2]))
    ):
        first, last = first - 1, last + 1
    if tokens[first].start == start:
        return "", ""
    return _text(file, tokens[first].start, start), _text(file, end, tokens[last].end)


def plainly_unparenthesised(file: AstFile, start: Position, end: Position) -> bool:
    """Whether the node's own lines show that no parenthesis is its own, so
    that its statement need not be tokenized: what stands right before it is
    not a `(`, or is a call's `(`, or what stands right after it is not a `)`.
    False when only the tokens can tell (a parenthesis at the end of the line
    before, a comment or a continuation after)."""
    (line, column), (end_line, end_column) = start, end
    before = file.lines[line - 1][:column].rstrip(" \t\f")
    if before and not before.endswith("("):
        return True  # a comment cannot stand before code on its line
    if before:
        callee = before[:-1].rstrip(" \t\f")
        word = _TRAILING_WORD.search(callee[-64:])  # longer than any keyword: no need to look further
        if callee.endswith((")", "]", "}", "'", '"')) or (word is not None and not keyword.iskeyword(word[0])):
            return True  # `f(node)`: _ends_a_callee stops the climb at once
    after = file.lines[end_line - 1][end_column:].lstrip(" \t\f")
    return bool(after) and not after.startswith((")", "#", "\\"))


def body_on_def_line(file: AstFile, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`def f(): return 1`: a body written after the colon, not as an indented block.
    What stands before the body's first statement on its logical line tells
    (backslash continuations joined); an indented block has nothing there."""
    line, column = file.span(function.body[0])[0]
    before = file.lines[line - 1][:column].rstrip(" \t\f")
    while not before and line > 1 and file.lines[line - 2].endswith("\\"):
        line -= 1
        before = file.lines[line - 1][:-1].rstrip(" \t\f")
    return before.endswith(":")


def _ends_a_callee(token: tokenize.TokenInfo) -> bool:
    """Whether a `(` after `token` opens a call's (or a class's) arguments rather than a group."""
    if token.type == tokenize.NAME:
        return not keyword.iskeyword(token.string)
    return token.type in (tokenize.STRING, tokenize.NUMBER) or token.string in (")", "]", "}")


# Tokens that may stand between a parenthesis and what it holds.
_SKIPPED_TOKENS = frozenset({tokenize.NL, tokenize.COMMENT})
Position = tuple[int, int]
Tokens = tuple[list[tokenize.TokenInfo], dict[Position, int], dict[Position, int]]
_NO_TOKENS: Tokens = ([], {}, {})


def _statement_tokens(file: AstFile) -> tuple[list[int], dict[int, Tokens]]:
    """The first lines of the file's top-level statements, and (filled as
    messages quote from them) the tokens of each by its index."""
    return [_first_line(statement) for statement in file.tree.body], {}


def _tokens(file: AstFile, node: ast.AST) -> Tokens:
    """The significant tokens of the top-level statement holding `node`, and
    their indices by start and by end: tokenized only when a message quotes a
    node there, and once per statement (a file can be large, a statement rarely is)."""
    first_lines, cache = file.shared(_statement_tokens)
    index = bisect.bisect_right(first_lines, node.lineno) - 1  # type: ignore[attr-defined]
    if index < 0:
        return _NO_TOKENS
    if index not in cache:
        statement = file.tree.body[index]
        first, last = first_lines[index], statement.end_lineno or statement.lineno
        text = "\n".join(file.lines[first - 1 : last]) + "\n"
        tokens: list[tokenize.TokenInfo] = []
        with contextlib.suppress(tokenize.TokenError, SyntaxError):
            tokens = [
                t._replace(start=(t.start[0] + first - 1, t.start[1]), end=(t.end[0] + first - 1, t.end[1]))
                for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in _SKIPPED_TOKENS
            ]
        cache[index] = tokens, {t.start: i for i, t in enumerate(tokens)}, {t.end: i for i, t in enumerate(tokens)}
    return cache[index]


def _first_line(statement: ast.stmt) -> int:
    """Where a top-level statement's text starts: at its first decorator, if any."""
    decorators = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(d.lineno for d in decorators)])


def _text(file: AstFile, start: tuple[int, int], end: tuple[int, int]) -> str:
    (line, column), (end_line, end_column) = start, end
    if line == end_line:
        return file.lines[line - 1][column:end_column]
    return "\n".join(
        [file.lines[line - 1][column:], *file.lines[line : end_line - 1], file.lines[end_line - 1][:end_column]]
    )


def chain_parent(ancestors: Iterable[ast.AST], node: ast.AST) -> Parent:
    """Parent lookup for `node` and its ancestors, which is all classify_access climbs."""
    chain = [*ancestors, node]
    parent_of = {id(child): up for up, child in pairwise(chain)}
    return lambda child: parent_of.get(id(child))
