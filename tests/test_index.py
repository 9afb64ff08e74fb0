"""The project index: facts from other files, resolved by qualified name."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import isolint.index
import isolint.rules
from isolint.config import Settings
from isolint.engine import lint_text
from isolint.index import RENAME, Fact, ProjectIndex, index_file, index_source, module_name_for
from isolint.rules.base import Rule
from tests.conftest import write


class AccessorIndexer(Rule):
    """A toy cross-file rule: indexes `get_*` functions, reports calls to them."""

    code = "ISO999"
    name = "toy-accessor-call"
    family = "singletons"
    summary = "toy"
    prefilter = re.compile(rb"get_")
    index_prefilter = re.compile(rb"def get_")
    reads_facts = ("accessor",)

    @classmethod
    def index(cls, tree: ast.Module, settings: Any) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("get_"):
                yield "accessor", node.name, node.lineno, {}

    def visit_Call(self, node: Any) -> None:
        for name in self.file.qualified_names(node.func):
            fact = self.file.project.get("accessor", name)
            if fact:
                self.report(node, f"calls {fact.qualname} from {fact.path}:{fact.line}")


def test_module_names_follow_packages(tmp_path: Path) -> None:
    write(tmp_path / "src" / "app" / "__init__.py", "")
    write(tmp_path / "src" / "app" / "svc" / "__init__.py", "")
    assert module_name_for(write(tmp_path / "src" / "app" / "svc" / "reg.py", "")) == "app.svc.reg"
    assert module_name_for(tmp_path / "src" / "app" / "svc" / "__init__.py") == "app.svc"
    assert module_name_for(write(tmp_path / "script.py", "")) == "script"


def test_index_source_runs_only_matching_indexers() -> None:
    indexers = [(AccessorIndexer, AccessorIndexer.index_prefilter)]
    settings = Settings(root=Path.cwd())
    facts = index_source(b"def get_registry():\n    pass\n", "app/reg.py", "app.reg", indexers, settings)
    assert facts == [Fact("accessor", "app.reg.get_registry", "app/reg.py", 1, {})]
    assert index_source(b"x = 1\n", "a.py", "a", indexers, settings) == []
    assert index_source(b"def get_x(:\n", "a.py", "a", indexers, settings) == []


def test_relevant_fingerprint_changes_only_with_mentioned_facts() -> None:
    index = ProjectIndex([Fact("accessor", "a.get_one", "a.py", 1), Fact("accessor", "b.get_two", "b.py", 1)])
    mentions_one = index.relevant_fingerprint(b"get_one()", "m.py")
    grown = ProjectIndex([*index.of_kind("accessor"), Fact("accessor", "c.get_three", "c.py", 1)])
    assert grown.relevant_fingerprint(b"get_one()", "m.py") == mentions_one
    assert grown.relevant_fingerprint(b"get_three()", "m.py") != index.relevant_fingerprint(b"get_three()", "m.py")
    assert index.names("accessor") == {"get_one", "get_two"}


def test_relevant_facts_follow_links_up_from_any_module_and_down_from_its_own() -> None:
    def klass(qualname: str, *bases: str) -> Fact:
        return Fact(
            "sessions:class-bases",
            qualname,
            qualname.rpartition(".")[0].replace(".", "/") + ".py",
            1,
            {"bases": list(bases)},
        )

    index = ProjectIndex(
        [klass("pkg.a.A"), klass("pkg.b.B", "pkg.a.A"), klass("pkg.c.C", ".b.B"), klass("pkg.d.D", "<module>.A")]
    )

    def relevant(path: str, *names: str) -> list[str]:
        return [fact.qualname for fact in index.relevant_facts(frozenset(names), path)]

    assert relevant("pkg/e.py", "C") == ["pkg.a.A", "pkg.b.B", "pkg.c.C"]  # its bases, transitively
    assert relevant("pkg/e.py", "B") == ["pkg.a.A", "pkg.b.B"]  # not B's subclasses: this file does not define B
    assert relevant("pkg/b.py", "A", "B") == ["pkg.a.A", "pkg.b.B", "pkg.c.C"]  # B's file: B's subclasses too
    assert relevant("/work/project/pkg/a.py", "A") == ["pkg.a.A", "pkg.b.B", "pkg.c.C", "pkg.d.D"]  # a real path
    assert relevant("pkg/__init__.py", "A") == ["pkg.a.A"]
    assert relevant("pkg/e.py", "x") == []


def test_a_fresh_process_follows_the_links_before_it_loads_any_rule() -> None:
    """A worker computes a file's cache key before it imports a rule: the
    index imports the modules registering links itself, or a key would miss
    the facts a file's facts build on (a base class, an alias's target)."""
    script = (
        "import sys\n"
        "from isolint.index import Fact, ProjectIndex\n"
        "index = ProjectIndex([\n"
        "    Fact('sessions:class-bases', 'pkg.a.A', 'pkg/a.py', 1, {'bases': []}),\n"
        "    Fact('sessions:class-bases', 'pkg.b.B', 'pkg/b.py', 1, {'bases': ['pkg.a.A']}),\n"
        "    Fact('singletons:alias', 'pkg.c.registry', 'pkg/c.py', 1, {'calls': ['pkg.d.get_registry']}),\n"
        "    Fact('singletons:accessor', 'pkg.d.get_registry', 'pkg/d.py', 1, {}),\n"
        "])\n"
        "assert not any(name.startswith('isolint.rules.') for name in sys.modules), 'a rule is loaded already'\n"
        "print([fact.qualname for fact in index.relevant_facts(frozenset({'B', 'registry'}), 'pkg/e.py')])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['pkg.a.A', 'pkg.b.B', 'pkg.d.get_registry', 'pkg.c.registry']"  # the index's order


def test_every_module_registering_fact_links_is_listed() -> None:
    package = Path(isolint.rules.__file__).parent
    registering = {
        "isolint." + path.relative_to(package.parent).with_suffix("").as_posix().replace("/", ".")
        for path in package.rglob("*.py")
        if re.search(r"^@links\(", path.read_text(encoding="utf-8"), re.MULTILINE)
    }
    assert registering == set(isolint.rules.FACT_LINK_MODULES)


def test_relevant_fingerprint_counts_whole_words_only() -> None:
    index = ProjectIndex([Fact("accessor", "a.get_one", "a.py", 1), Fact("accessor", "a.n\u00e4me", "a.py", 2)])
    only_one = ProjectIndex(index.facts[:1])
    nothing = index.relevant_fingerprint(b"x = 1", "m.py")
    for raw in (b"aget_one()", b"get_one2", b"1get_one", "an\u00e4me".encode()):
        assert index.relevant_fingerprint(raw, "m.py") == nothing, raw
    assert index.relevant_fingerprint(b"x.get_one()", "m.py") == only_one.relevant_fingerprint(b"get_one", "m.py")
    assert index.relevant_fingerprint("n\u00e4me()".encode(), "m") not in (
        nothing,
        index.relevant_fingerprint(b"get_one", "m.py"),
    )


def test_the_memos_behind_cache_keys_stay_bounded_and_answer_the_same_once_cleared(monkeypatch: Any) -> None:
    # A worker keys thousands of files; at millions of lines each file's
    # relevant facts run to thousands, so what the memos hold must stay bounded.
    monkeypatch.setattr(isolint.index, "_RELEVANT_MEMO_FACTS", 3)
    monkeypatch.setattr(isolint.index, "_FINGERPRINT_MEMO_SIZE", 2)
    facts = [Fact("accessor", f"m{i}.get_{i}", f"m{i}.py", 1) for i in range(6)]
    index, fresh = ProjectIndex(facts), ProjectIndex(facts)
    sources = [f"get_{i}() + get_{i + 1}()".encode() for i in range(5)]
    keys = [index.relevant_fingerprint(raw, "x.py") for raw in sources * 2]
    assert keys == [fresh.relevant_fingerprint(raw, "x.py") for raw in sources] * 2
    assert len(set(keys)) == 5
    for i in range(5):
        names = frozenset({f"get_{i}", f"get_{i + 1}"})
        assert [f.qualname for f in index.relevant_facts(names, "x.py")] == [f"m{i}.get_{i}", f"m{i + 1}.get_{i + 1}"]
        assert index.relevant_facts(names, "x.py") == fresh.relevant_facts(names, "x.py")
    assert len(index._relevant) <= 1 and len(index._fingerprints) <= 2


def test_index_file_says_whether_it_parsed() -> None:
    indexers = [(AccessorIndexer, AccessorIndexer.index_prefilter)]
    settings = Settings(root=Path.cwd())
    assert index_file(b"x = 1\n", "a.py", "a", indexers, settings) == ([], False, False)
    assert index_file(b"def get_x(:\n", "a.py", "a", indexers, settings) == ([], True, False)
    assert index_file(b"def get_x():\n    return X()\n", "a.py", "a", indexers, settings)[1:] == (True, True)


def test_qualified_names_resolve_relative_imports_against_the_package() -> None:
    index = ProjectIndex([Fact("accessor", "app.svc.reg.get_registry", "app/svc/reg.py", 3)])
    source = "from .reg import get_registry\nfrom ..svc import reg\n\nget_registry()\nreg.get_registry()\nget_other()\n"
    settings = Settings(root=Path.cwd())
    findings = lint_text(
        source, "app/svc/use.py", [AccessorIndexer], settings, module_name="app.svc.use", project=index
    )
    assert [(f.location.row, f.message) for f in findings] == [
        (4, "calls app.svc.reg.get_registry from app/svc/reg.py:3"),
        (5, "calls app.svc.reg.get_registry from app/svc/reg.py:3"),
    ]
    in_package = lint_text(
        "from .reg import get_registry\nget_registry()\n",
        "app/svc/__init__.py",
        [AccessorIndexer],
        settings,
        module_name="app.svc",
        is_package=True,
        project=index,
    )
    assert len(in_package) == 1


def _facts(*rows: tuple[str, str, str]) -> ProjectIndex:
    return ProjectIndex(Fact(kind, qualname, path, 1) for kind, qualname, path in rows)


@pytest.mark.parametrize(
    ("facts", "asked", "found"),
    [
        pytest.param([("k", "app.reg.get", "app/reg.py")], "app.reg.get", "app.reg.get", id="as named"),
        pytest.param(
            [("k", "app.services.reg.get", "app/services/reg.py")],
            "app.services.get",
            "app.services.reg.get",
            id="a package re-exporting its module's name",
        ),
        pytest.param(
            [("k", "app.services.sub.reg.get", "app/services/sub/reg.py")],
            "app.services.get",
            "app.services.sub.reg.get",
            id="from a subpackage's module",
        ),
        pytest.param(
            [("k", "app.a.get", "app/a.py"), ("k", "app.b.get", "app/b.py")],
            "app.get",
            None,
            id="two modules define it: which one is re-exported is not known",
        ),
        pytest.param(
            [("k", "app.Registry.get", "app.py")], "app.get", None, id="a method of a class is no module name"
        ),
        pytest.param([("k", "app.ws.ws", "app/ws.py")], "app.ws", None, id="pkg.Name is the module, not a re-export"),
        pytest.param(
            [("k", "app.hubs.manager", "app/hubs.py"), ("j", "app.manager.get", "app/manager.py")],
            "app.manager",
            None,
            id="pkg.Name holds facts of any kind: a module",
        ),
        pytest.param([("k", "app.ws.get", "app/ws.py")], "app.other", None, id="another name"),
        pytest.param([("other", "app.ws.get", "app/ws.py")], "app.get", None, id="another kind"),
        pytest.param([("k", "get", "get.py")], "get", "get", id="a top-level name"),
        pytest.param([("k", "app.reg.get", "app/reg.py")], "get", None, id="no package to re-export it"),
    ],
)
def test_a_name_a_package_re_exports_is_found_in_its_module(
    facts: list[tuple[str, str, str]], asked: str, found: str | None
) -> None:
    fact = _facts(*facts).exported(asked, "k")
    assert (fact.qualname if fact is not None else None) == found


def test_an_exact_fact_of_any_of_the_kinds_comes_before_a_re_export() -> None:
    project = _facts(("b", "app.get", "app/__init__.py"), ("a", "app.mod.get", "app/mod.py"))
    exact = project.exported("app.get", "a", "b")
    assert exact is not None and (exact.kind, exact.qualname) == ("b", "app.get")
    assert project.in_package("app.get", "a", "b") is not None  # the package part alone looks below
    both = _facts(("a", "app.mod.get", "app/mod.py"), ("b", "app.mod.get", "app/mod.py"))
    found = both.exported("app.get", "a", "b")  # one name with facts of two kinds is still one name
    assert found is not None and found.qualname == "app.mod.get"


def _rename(qualname: str, path: str, module: str, level: int, name: str) -> Fact:
    return Fact(RENAME, qualname, path, 1, {"module": module, "level": level, "name": name})


@pytest.mark.parametrize(
    ("renames", "asked", "found"),
    [
        pytest.param(
            [_rename("app.manager", "app/__init__.py", "state", 1, "hub")], "app.manager", "app.state.hub", id="package"
        ),
        pytest.param(
            [_rename("app.compat.old", "app/compat.py", "app.state", 0, "hub")],
            "app.compat.old",
            "app.state.hub",
            id="absolute import",
        ),
        pytest.param(
            [
                _rename("app.manager", "app/__init__.py", "compat", 1, "old"),
                _rename("app.compat.old", "app/compat.py", "state", 1, "hub"),
            ],
            "app.manager",
            "app.state.hub",
            id="a chain",
        ),
        pytest.param(
            [
                _rename("app.a", "app/__init__.py", "compat", 1, "b"),
                _rename("app.compat.b", "app/compat.py", "app", 0, "a"),
            ],
            "app.a",
            None,
            id="a cycle names nothing",
        ),
        # `L = N` may name the module's own `N` or an attribute's: not followed.
        pytest.param(
            [_rename("app.state.manager", "app/state.py", "", 0, "hub")], "app.state.manager", None, id="assignment"
        ),
        pytest.param(
            [_rename("app.manager", "app/__init__.py", "state", 1, "other")], "app.manager", None, id="elsewhere"
        ),
    ],
)
def test_a_name_an_import_renamed_is_followed_to_its_fact(renames: list[Fact], asked: str, found: str | None) -> None:
    project = ProjectIndex([*renames, Fact("k", "app.state.hub", "app/state.py", 1)])
    fact = project.exported(asked, "k")
    assert (fact.qualname if fact is not None else None) == found
    # What the prefilters learn: the names imports give to what was found.
    assert project.renamed(lambda name: project.exported(name, "k") is not None) == (
        {r.name for r in renames if project.exported(r.qualname, "k") is not None}
    )


def test_a_rename_asked_for_is_the_rename_itself() -> None:
    """The legacy-state family follows renames itself, one at a time."""
    project = ProjectIndex(
        [
            _rename("app.manager", "app/__init__.py", "state", 1, "hub"),
            _rename("app.state.hub", "app/state.py", "x", 1, "y"),
        ]
    )
    fact = project.exported("app.manager", RENAME)
    assert fact is not None and fact.qualname == "app.manager"


def test_what_a_rule_derives_from_the_facts_is_computed_once_per_index() -> None:
    """A rule derives the same answer from the facts for every file it checks
    (`ProjectIndex.derived`): computed per file, it made a check grow with the
    square of the project's size."""
    project = ProjectIndex([Fact("singletons:class", "app.a.A", "app/a.py", 1)])
    calls: list[ProjectIndex] = []

    def short_names(index: ProjectIndex) -> frozenset[str]:
        calls.append(index)
        return frozenset(fact.name for fact in index.facts)

    assert project.derived(short_names) == {"A"}
    assert project.derived(short_names) is project.derived(short_names)
    assert calls == [project]
    other = ProjectIndex([Fact("singletons:class", "app.b.B", "app/b.py", 1)])
    assert other.derived(short_names) == {"B"} and calls == [project, other]


def test_a_digest_of_facts_tells_apart_what_a_cache_key_must() -> None:
    """A file's cache key holds a digest of the facts it depends on, built
    from each fact's own digest (computed once per index): the same facts in
    the same order give the same digest, any other content or order another."""
    a = Fact("singletons:class", "app.a.A", "app/a.py", 1, {"accessors": ["get"]})
    b = Fact("singletons:class", "app.b.B", "app/b.py", 2)
    project = ProjectIndex([a, b])
    first, second = project.facts
    assert (
        project.digest([first, second])
        == project.digest([first, second])
        == ProjectIndex([b, a]).digest(ProjectIndex([b, a]).facts)
    )
    assert project.digest([first, second]) != project.digest([second, first])
    assert project.digest([first]) not in (
        project.digest([]),
        project.digest([second]),
        project.digest([first, second]),
    )
    moved = ProjectIndex([Fact("singletons:class", "app.a.A", "app/a.py", 3, {"accessors": ["get"]})])
    assert moved.digest(moved.facts) != project.digest([first])
