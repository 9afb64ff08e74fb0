"""isolint.names answers what LibCST's QualifiedNameProvider answers, without its whole-file scope analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libcst as cst
import pytest
from libcst.metadata import (
    ExpressionContext,
    ExpressionContextProvider,
    MetadataWrapper,
    QualifiedNameProvider,
    QualifiedNameSource,
    ScopeProvider,
)

from isolint.names import NameResolver
from isolint.traversal import parent_map, walk

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted(ROOT.glob("fixtures/**/*.py"))


def _resolver(module: cst.Module) -> NameResolver:
    parents = parent_map(module)
    return NameResolver(module, lambda: parents)


def _is_local(name: str) -> bool:
    return "<locals>" in name or "<comprehension>" in name


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_same_names_as_libcst_for_every_reference(path: Path) -> None:
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    libcst_names = wrapper.resolve(QualifiedNameProvider)
    contexts = wrapper.resolve(ExpressionContextProvider)
    resolver = _resolver(module)
    for node in walk(module):
        if isinstance(node, (cst.Name, cst.Attribute)) and contexts.get(node) is not ExpressionContext.LOAD:
            continue
        if not isinstance(node, (cst.Name, cst.Attribute, cst.Call)):
            continue
        value = libcst_names.get(node, set())
        expected = {(q.name, q.source is QualifiedNameSource.LOCAL) for q in (value() if callable(value) else value)}
        if ("builtins.None", False) in expected:
            continue  # LibCST's answer for a chain that starts from a literal: `"; ".join`
        # Function locals are spelled differently and never matter; what they shadow does.
        expected = {name for name in expected if not _is_local(name[0])}
        assert {name for name in resolver.qualified_names(node) if not _is_local(name[0])} == expected, (
            module.code_for_node(node)
        )


def _names_of(source: str, spelled: str, occurrence: int = -1) -> set[tuple[str, bool]]:
    module = cst.parse_module(source)
    candidates: list[Any] = [
        node
        for node in walk(module)
        if isinstance(node, (cst.Name, cst.Attribute)) and module.code_for_node(node) == spelled
    ]
    return _resolver(module).qualified_names(candidates[occurrence])


@pytest.mark.parametrize(
    ("source", "spelled", "expected"),
    [
        pytest.param("from m import get\nget()\n", "get", {("m.get", False)}, id="import"),
        pytest.param("import a.b\na.b.c()\n", "a.b.c", {("a.b.c", False)}, id="dotted-import"),
        pytest.param("import a.b as ab\nab.c()\n", "ab.c", {("a.b.c", False)}, id="import-as"),
        pytest.param("from .. import x\nx.y\n", "x.y", {("..x.y", False)}, id="relative"),
        pytest.param(
            "from m import get\ndef f(get):\n    get()\n",
            "get",
            {("f.<locals>.get", True)},
            id="parameter-shadows-import",
        ),
        pytest.param(
            "from m import get\ndef f():\n    get = other\n    get()\n",
            "get",
            {("f.<locals>.get", True)},
            id="local-shadows-import",
        ),
        pytest.param(
            "get = None\ndef f():\n    global get\n    get = 1\n    get()\n", "get", {("get", True)}, id="global"
        ),
        pytest.param(
            "from m import get\nclass C:\n    get = 1\n    def f(self):\n        get()\n",
            "get",
            {("m.get", False)},
            id="class-scope-not-seen-from-methods",
        ),
        pytest.param("class C:\n    x = 1\n    y = x\n", "x", {("C.x", True)}, id="class-body"),
        pytest.param(
            "from m import items\ndef f(items):\n    return [i for i in items]\n",
            "items",
            {("f.<locals>.items", True)},
            id="comprehension-iterable",
        ),
        pytest.param("from m import n\nif (n := 3):\n    n\n", "n", {("n", True), ("m.n", False)}, id="walrus"),
        pytest.param("len(x)\n", "len", {("builtins.len", False)}, id="builtin"),
        pytest.param("undefined()\n", "undefined", set(), id="unbound"),
        pytest.param("from m import f\nf(f=1)\n", "f", set(), id="keyword-name-is-not-a-reference"),
        pytest.param("from m import get\nget().send\n", "get().send", {("m.get.send", False)}, id="through-a-call"),
    ],
)
def test_resolves(source: str, spelled: str, expected: set[tuple[str, bool]]) -> None:
    assert _names_of(source, spelled) == expected


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_bindings_and_reads_match_libcst_scopes(path: Path) -> None:
    """What ISO401, ISO105 and ISO405 ask: how often a parameter is bound and
    who reads it, and whether a module-level import is used."""
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    scopes = MetadataWrapper(module, unsafe_skip_copy=True).resolve(ScopeProvider)
    resolver = _resolver(module)
    in_tree = {id(node) for node in walk(module)}
    for function in (node for node in walk(module) if isinstance(node, cst.FunctionDef)):
        scope = scopes[function.body]
        for param in function.params.params:
            name = param.name.value
            assignments = list(scope.assignments[name])
            assert resolver.binding_count(function, name) == len(assignments), (function.name.value, name)
            if len(assignments) == 1:
                expected = {id(a.node) for a in assignments[0].references if id(a.node) in in_tree}
                assert {id(n) for n in resolver.reads(function, name)} == expected, (function.name.value, name)
    module_scope = scopes[module]
    for statement in (node for node in walk(module) if isinstance(node, (cst.Import, cst.ImportFrom))):
        if scopes.get(statement) is not module_scope or isinstance(statement.names, cst.ImportStar):
            continue
        for alias in statement.names:
            local = alias.evaluated_alias or alias.evaluated_name.partition(".")[0]
            used = any(a.node is statement and a.references for a in module_scope.assignments[local])
            ours = bool(resolver.reads(module, local)) or resolver.in_string_annotation(module, local)
            assert ours == used, local
