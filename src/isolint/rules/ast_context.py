"""What a rule that visits the stdlib `ast` may know about the file being checked.

Such a rule (`AstRule`) reports `ast` nodes; their spans come from CPython's
own positions. LibCST enters only when a fix's edits must be built: the
rule's `FixSpec.build` then receives a `cst_view.CstView` of the same text and
finds there, by span, the nodes it rewrites.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar, TypeVar, cast

from ..scopes import NameResolver, absolute_names, parent_map
from ..source import LINE_BREAK, line_starts
from .base import CheckedFile, Rule

if TYPE_CHECKING:
    from ..config import Settings
    from ..index import ProjectIndex

AstNodeT = TypeVar("AstNodeT", bound=ast.AST)
T = TypeVar("T")

_DEFINITION_KEYWORD = re.compile(r"(?:async[\s\\]+)?(?:def|class)[\s\\]+")


class AstFile(CheckedFile):
    """What an `AstRule` may know about the file being checked."""

    def __init__(
        self,
        path: str,
        source: str,
        tree: ast.Module,
        settings: Settings,
        *,
        module_name: str = "",
        is_package: bool = False,
        project: ProjectIndex | None = None,
    ):
        super().__init__(path, source, settings, module_name=module_name, is_package=is_package, project=project)
        self.tree = tree
        self.ancestors: list[ast.AST] = []  # strict ancestors of the node being visited
        self.statement: ast.stmt | None = None  # the top-level statement being visited
        self._names: NameResolver | None = None
        self._parents: dict[ast.AST, ast.AST] | None = None
        self._lines: list[str] | None = None
        self._offsets: list[int] | None = None
        self._shared: dict[Callable[[AstFile], object], object] = {}

    def shared(self, build: Callable[[AstFile], T]) -> T:
        """`build(self)`, computed once per file and kept with it: an analysis
        the rules of a family share. It lives exactly as long as the file; a
        module-level cache keyed weakly by the file would keep every file
        alive, because the analysis refers to its file."""
        if build not in self._shared:
            self._shared[build] = build(self)
        return cast(T, self._shared[build])

    @property
    def names(self) -> NameResolver:
        """The file's name resolver: qualified names, bindings and their readers."""
        if self._names is None:
            self._names = NameResolver(self.tree, self.parents)
        return self._names

    @property
    def parents(self) -> dict[ast.AST, ast.AST]:
        """node -> parent for the whole module, built on first use and shared."""
        if self._parents is None:
            self._parents = parent_map(self.tree)
        return self._parents

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(node)

    def qualified_names(self, node: ast.AST) -> set[str]:
        """Absolute dotted names `node` may refer to, with relative imports and
        this module's own definitions resolved (`chatapp.registry.AgentRegistry`)."""
        return absolute_names(self.names.qualified_names(node), self.module_name, self.is_package)

    def may_be_named(self, node: ast.AST, names: Iterable[str]) -> bool:
        """False when no qualified name of `node` can end in one of `names`:
        a cheap test before `qualified_names`, whose first call costs a scope
        pass. A qualified name ends in the node's own spelling (`b` for
        `a.b`) unless the node is a bare name bound with `as`."""
        if isinstance(node, ast.Attribute):
            return node.attr in names
        if isinstance(node, ast.Name):
            return node.id in names or node.id in self.as_names
        return True  # anything else: only resolving tells

    def enclosing(self, *node_types: type[AstNodeT]) -> AstNodeT | None:
        """The nearest ancestor of one of `node_types`, or None."""
        for node in reversed(self.ancestors):
            if isinstance(node, node_types):
                return node
        return None

    def enclosing_function(self) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """The nearest enclosing `def` or `async def`, or None."""
        for node in reversed(self.ancestors):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None

    def definition_name(self, definition: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        """A located `ast.Name` spanning the name a `def` or `class` statement
        writes (`ast` keeps it as a string; the definition spans its whole
        body): where a finding about the definition points. The definition
        itself when the name is not where the keyword says it is."""
        line = definition.lineno
        first_body_line = definition.body[0].lineno if definition.body else line
        text = "\n".join(self.lines[line - 1 : max(first_body_line, line)])
        keyword = _DEFINITION_KEYWORD.match(text, self.column(line, definition.col_offset))
        if keyword is None or not text.startswith(definition.name, keyword.end()):
            return definition
        name_line = line + text.count("\n", 0, keyword.end())
        name_column = keyword.end() - (text.rfind("\n", 0, keyword.end()) + 1)
        offset = len(self.lines[name_line - 1][:name_column].encode("utf-8", "surrogatepass"))  # `ast` counts bytes
        name = ast.Name(id=definition.name, ctx=ast.Load())
        name.lineno, name.end_lineno = name_line, name_line
        name.col_offset, name.end_col_offset = offset, offset + len(definition.name.encode("utf-8", "surrogatepass"))
        return name

    # --- the text behind the nodes ------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """The source's lines without their breaks, split where CPython splits them."""
        if self._lines is None:
            self._lines = LINE_BREAK.split(self.source)
        return self._lines

    def column(self, line: int, byte_offset: int) -> int:
        """The 0-based character column of `ast`'s UTF-8 byte offset on `line` (1-based)."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if text.isascii():
            return byte_offset
        return len(text.encode("utf-8", "surrogatepass")[:byte_offset].decode("utf-8", "surrogatepass"))

    def span(self, node: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
        """((line, column), (end line, end column)) of `node`, columns 0-based in characters."""
        line, end_line = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        end_offset = node.end_col_offset if node.end_col_offset is not None else node.col_offset  # type: ignore[attr-defined]
        return (line, self.column(line, node.col_offset)), (end_line, self.column(end_line, end_offset))  # type: ignore[attr-defined]

    def snippet(self, node: ast.AST) -> str:
        """What a finding on `node` fingerprints (`Finding.snippet`): its source
        with its own parentheses, as LibCST writes a node's code (an imported
        name with the comma after it and the comments that follow the comma),
        whitespace normalised, at most 500 characters."""
        (line, column), (end_line, end_column) = self.span(node)
        text = self.source
        offsets = self.line_offsets()
        start, end = offsets[line - 1] + column, offsets[end_line - 1] + end_column
        if isinstance(node, ast.alias):
            end = _with_comma(text, end)
        while True:
            before, after = _previous_visible(text, start), _next_visible(text, end)
            if before < 0 or after >= len(text) or text[before] != "(" or text[after] != ")":
                break
            if _opens_a_call(text, before):
                break
            start, end = before, after + 1
        return " ".join(text[start:end].split())[:500]

    def line_offsets(self) -> list[int]:
        """Where each line starts in the source (line n at index n - 1)."""
        if self._offsets is None:
            self._offsets = line_starts(self.source)
        return self._offsets

    def segment(self, node: ast.AST) -> str:
        """The source text of `node`."""
        (line, column), (end_line, end_column) = self.span(node)
        if line == end_line:
            return self.lines[line - 1][column:end_column]
        return "\n".join(
            [self.lines[line - 1][column:], *self.lines[line : end_line - 1], self.lines[end_line - 1][:end_column]]
        )


_KEYWORDS_BEFORE_EXPRESSIONS = frozenset(
    {
        "and",
        "or",
        "not",
        "in",
        "is",
        "if",
        "else",
        "elif",
        "return",
        "yield",
        "await",
        "assert",
        "del",
        "lambda",
        "for",
        "while",
        "with",
        "from",
        "import",
        "raise",
        "except",
    }
)


def _previous_visible(text: str, index: int) -> int:
    """The index of the last character before `index` that is not whitespace or a line continuation."""
    index -= 1
    while index >= 0 and (text[index].isspace() or text[index] == "\\"):
        index -= 1
    return index


def _next_visible(text: str, index: int) -> int:
    while index < len(text) and (text[index].isspace() or text[index] == "\\"):
        index += 1
    return index


def _with_comma(text: str, end: int) -> int:
    """Past the comma that follows an imported name at `end`, and past the
    comments after that comma (LibCST's `ImportAlias` owns both); `end` when
    no comma follows."""
    after = _next_visible(text, end)
    if after >= len(text) or text[after] != ",":
        return end
    end = after + 1
    while (after := _next_visible(text, end)) < len(text) and text[after] == "#":
        line_end = LINE_BREAK.search(text, after)
        end = line_end.start() if line_end else len(text)
    return end


def _opens_a_call(text: str, paren: int) -> bool:
    """Whether the `(` at `paren` opens a call's, a definition's or a class's
    parentheses rather than a parenthesised expression's: it follows a name
    (not a keyword), a closing bracket or a string."""
    previous = _previous_visible(text, paren)
    if previous < 0:
        return False
    character = text[previous]
    if character in ")]\"'":
        return True
    if not (character.isalnum() or character == "_"):
        return False
    word_start = previous
    while word_start > 0 and (text[word_start - 1].isalnum() or text[word_start - 1] == "_"):
        word_start -= 1
    return text[word_start : previous + 1] not in _KEYWORDS_BEFORE_EXPRESSIONS


class AstRule(Rule):
    """A rule whose detector visits the stdlib `ast` (`visit_<ast class>` /
    `leave_<ast class>` methods) and reports `ast` nodes. A fix offered by
    such a rule builds its edits lazily, from a LibCST view of the file
    (`FixSpec.build`)."""

    abstract_base = True
    syntax: ClassVar[str] = "ast"
    file: AstFile  # type: ignore[assignment]


def parses_with_libcst(rules: Iterable[type[Rule]], build_edits: bool) -> bool:
    """Whether checking a file with `rules` may parse it with LibCST: to build
    edits, or for a rule written on LibCST. Every bundled rule visits `ast`."""
    return build_edits or not all(issubclass(rule, AstRule) for rule in rules)
