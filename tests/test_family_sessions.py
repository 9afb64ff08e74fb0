"""The sessions family (ISO2xx) beyond single-file fixtures: cross-file facts,
the legacy app's migration, and evidence decisions fixtures cannot isolate."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from isolint import indexing
from isolint.config import Settings, load_settings
from isolint.engine import lint_text
from isolint.newer_syntax import parse_module
from isolint.rules import BY_CODE
from isolint.rules.sessions.facts import IndexFact
from isolint.rules.sessions.family import (
    AGAINST,
    OPAQUE,
    SESSION,
    UNTYPED,
    Evidence,
    SessionsConfig,
    call_evidence,
    is_session,
    type_evidence,
)
from tests.conftest import FIXTURES, write
from tests.helpers import SUBCLASS_LINEAGES, check_findings, run_cli

CONFIG = SessionsConfig.from_options({option.name: option.default for option in BY_CODE["ISO201"].options})

BASE = """\
from sqlalchemy.ext.asyncio import AsyncSession


class BaseAgent:
    def __init__(self, db_session: AsyncSession, *, llm_latency: float = 0.0) -> None:
        self.db_session = db_session
        self.llm_latency = llm_latency
"""

SUBCLASS = """\
from isolint.runtime import UserExecutionContext

from .base import BaseAgent


class DataAgent(BaseAgent):
    async def execute(self, context: UserExecutionContext, sql: str) -> None:
        await self.db_session.execute(sql)
{extra}"""

LEGACY_METHOD = """
    async def replay(self, state) -> None:
        await self.db_session.rollback()
"""
OPTIONAL_CONTEXT_METHOD = """
    async def replay(self, context: "UserExecutionContext | None" = None) -> None:
        await self.db_session.rollback()
"""


def _package(root: Path, extra: str = "") -> Path:
    write(root / "app" / "__init__.py", "")
    write(root / "app" / "agents" / "__init__.py", "from .data import DataAgent\n")
    write(root / "app" / "agents" / "base.py", BASE)
    write(root / "app" / "agents" / "data.py", SUBCLASS.format(extra=extra))
    write(
        root / "app" / "startup.py",
        "from app.agents import DataAgent\nfrom app.db import db\n\n\ndef build():\n    return DataAgent(db)\n",
    )
    return root / "app"


def test_subclass_in_another_file_is_moved_to_the_context_and_the_base_stops_storing(tmp_path: Path) -> None:
    app = _package(tmp_path)
    found = {(Path(f.path).name, f.location.row, f.code) for f in check_findings([app], "ISO201")}
    assert found == {("base.py", 6, "ISO201"), ("data.py", 8, "ISO201")}

    run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO2", str(app))
    data = (app / "agents" / "data.py").read_text()
    base = (app / "agents" / "base.py").read_text()
    assert "await context.db_session.execute(sql)" in data
    assert "self.db_session" not in base
    assert "def __init__(self, db_session: AsyncSession" in base  # callers still work
    assert "# `db_session` is unused" in base
    for path in app.rglob("*.py"):
        ast.parse(path.read_text())


def test_a_class_renamed_on_import_is_the_class_that_keeps_the_session(tmp_path: Path) -> None:
    """`from .data import DataAgent as Agent` in the package's `__init__`:
    constructing `Agent` with the session hands it to the class that keeps
    it (ISO205), and a subclass of the renamed base reads what the base
    stores (ISO201), as under the classes' own names."""
    app = _package(tmp_path)
    write(
        tmp_path / "app" / "agents" / "__init__.py",
        "from .base import BaseAgent as Base\nfrom .data import DataAgent as Agent\n",
    )
    write(
        tmp_path / "app" / "startup.py",
        "from app.agents import Agent\nfrom app.db import db\n\n\ndef build():\n    return Agent(db)\n",
    )
    write(
        tmp_path / "app" / "report.py",
        "from app.agents import Base\nfrom isolint.runtime import UserExecutionContext\n\n\n"
        "class ReportAgent(Base):\n"
        "    async def execute(self, context: UserExecutionContext) -> None:\n"
        "        await self.db_session.commit()\n",
    )
    found = [(Path(f.path).name, f.location.row, f.code, f.message) for f in check_findings([app], "ISO2")]
    assert [(name, row, code) for name, row, code, _ in found] == [
        ("base.py", 6, "ISO201"),
        ("data.py", 8, "ISO201"),
        ("report.py", 7, "ISO201"),
        ("startup.py", 6, "ISO205"),
    ]
    assert found[2][3].startswith("`self.db_session` is the database session `BaseAgent` stores on the instance")
    assert found[3][3].startswith(
        "`Agent(...)` is given a database session that it keeps in `BaseAgent.db_session` (agents/base.py:6"
    )


@pytest.mark.parametrize("exported", ["DataAgent", "DataAgent as Agent"], ids=["as it is", "renamed"])
def test_a_class_imported_from_its_package_keeps_the_session_itself_not_by_inheritance(
    tmp_path: Path, exported: str
) -> None:
    """The message says a class inherits the storing only when it does:
    constructing the class that stores the session itself, imported from
    its package (as it is, or renamed), names no inheritance."""
    write(tmp_path / "app" / "__init__.py", "")
    write(tmp_path / "app" / "agents" / "__init__.py", f"from .data import {exported}\n")
    write(tmp_path / "app" / "agents" / "data.py", BASE.replace("BaseAgent", "DataAgent"))
    name = exported.rpartition(" ")[2]
    write(
        tmp_path / "app" / "startup.py",
        f"from app.agents import {name}\nfrom app.db import db\n\n\ndef build():\n    return {name}(db)\n",
    )
    found = [(f.code, f.message) for f in check_findings([tmp_path / "app"], "ISO205")]
    assert found == [
        (
            "ISO205",
            f"`{name}(...)` is given a database session that it keeps in `DataAgent.db_session` (agents/data.py:6); "
            "every request that reaches this object shares the session",
        )
    ]


@pytest.mark.parametrize("method", [LEGACY_METHOD, OPTIONAL_CONTEXT_METHOD], ids=["no-context", "optional-context"])
def test_base_keeps_storing_while_a_subclass_method_without_context_reads_it(tmp_path: Path, method: str) -> None:
    app = _package(tmp_path, method)
    [base_finding] = [f for f in check_findings([app], "ISO201") if f.path.endswith("base.py")]
    assert "`DataAgent.replay`" in base_finding.manual

    run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO201", str(app))
    assert "self.db_session = db_session" in (app / "agents" / "base.py").read_text()
    data = (app / "agents" / "data.py").read_text()
    assert "await context.db_session.execute(sql)" in data and "await self.db_session.rollback()" in data


def test_constructing_a_subclass_re_exported_by_a_package_names_the_storing_class(tmp_path: Path) -> None:
    app = _package(tmp_path)
    [finding] = check_findings([app], "ISO205")
    assert finding.path.endswith("startup.py") and finding.location.row == 6
    assert "`BaseAgent.db_session` (" in finding.message
    assert "agents/base.py:6, inherited by `DataAgent`)" in finding.message


def test_session_passed_to_constructor_works_when_selected_alone_and_skips_module_level(tmp_path: Path) -> None:
    app = _package(tmp_path)
    write(app / "boot.py", "from app.agents import DataAgent\nfrom app.db import db\n\nagent = DataAgent(db)\n")
    assert {Path(f.path).name for f in check_findings([app], "ISO205")} == {"startup.py"}


def _simulate_context_migration(text: str) -> str:
    """What the ISO4xx fixes do to the sample agents: methods receive the request context."""
    text = re.sub(
        r"def (execute|record_message|load_thread_messages)\(self, ",
        r"def \1(self, context: UserExecutionContext, ",
        text,
    )
    return "from isolint.runtime import UserExecutionContext\n" + text


def test_legacy_app_agents_leave_self_db_session_once_their_methods_receive_a_context(tmp_path: Path) -> None:
    app = tmp_path / "legacy_app"
    shutil.copytree(FIXTURES / "legacy_app", app, ignore=shutil.ignore_patterns("__pycache__"))
    agents = app / "chatapp" / "agents"
    for path in agents.glob("*.py"):
        if path.name != "__init__.py":
            path.write_text(_simulate_context_migration(path.read_text()))

    run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO2", str(app))
    for path in agents.glob("*.py"):
        assert "self.db_session" not in path.read_text(), path.name
    assert "await context.db_session.rollback()" in (agents / "data.py").read_text()
    assert "await context.db_session.commit()" in (agents / "reporting.py").read_text()
    # The supervisor's `run` receives no context yet: it keeps its session, and says so.
    remaining = check_findings([app], "ISO2")
    assert {(Path(f.path).name, f.code) for f in remaining} >= {("supervisor.py", "ISO201"), ("db.py", "ISO203")}
    [supervisor] = [f for f in remaining if f.code == "ISO201"]
    assert "`Supervisor.run`" in supervisor.manual
    for path in app.rglob("*.py"):
        ast.parse(path.read_text())


@pytest.mark.parametrize(
    ("name", "evidence", "expected"),
    [
        ("conn", Evidence(SESSION), True),  # type evidence alone: any name
        ("db", Evidence(UNTYPED), True),  # a name alone, no type information
        ("conn", Evidence(UNTYPED), False),
        ("session", Evidence(AGAINST), False),  # evidence against wins over the name
        ("user_session_id", Evidence(SESSION), False),  # and an excluded name over type evidence
    ],
)
def test_decision_combines_name_and_type_evidence(name: str, evidence: Evidence, expected: bool) -> None:
    assert is_session(name, evidence, CONFIG) is expected


def test_qualified_types_tell_an_http_session_from_a_sqlalchemy_one() -> None:
    assert type_evidence({"Session", "requests.Session"}, CONFIG).verdict == AGAINST
    assert type_evidence({"OrmSession", "sqlalchemy.orm.Session"}, CONFIG).verdict == SESSION
    assert type_evidence({"Optional"}, CONFIG).verdict == "none"
    assert call_evidence("Session", "requests.Session", {}, CONFIG).verdict == AGAINST
    assert call_evidence("make", "make", {"make": "async"}, CONFIG).verdict == SESSION
    assert (
        call_evidence("create_async_engine", "sqlalchemy.ext.asyncio.create_async_engine", {}, CONFIG).verdict
        == AGAINST
    )


def test_evidence_options_are_read_from_each_rules_table(tmp_path: Path) -> None:
    write(
        tmp_path / "isolint.toml", '[rules.ISO203]\nsession-factories = ["open_session"]\nnot-db-types = ["Vault*"]\n'
    )
    write(
        tmp_path / "m.py",
        "from lib import open_session, VaultSession\n\nconn = open_session()\ndb = VaultSession()\nsession = SessionLocal()\n",
    )
    found = check_findings([tmp_path / "m.py"], "ISO203", isolated=False)
    assert [(f.location.row, f.code) for f in found] == [(3, "ISO203")]


def _index(source: str, settings: Settings, module: str = "", is_package: bool = False) -> list[IndexFact]:
    """The facts ISO201's indexer gives for `source` in `module`."""
    rule = BY_CODE["ISO201"]
    return list(rule.index_module(parse_module(source), source.encode("utf-8"), settings, module, is_package))


INDEX_PREFILTER_CASES = {
    "bases on the next line": "class Agent(\n    BaseAgent,\n):\n    pass\n",
    "a name that is not ASCII": "class Café(Base):\n    pass\n",
    "a session type imported under another name": (
        "from sqlalchemy.ext.asyncio import AsyncSession as S\n\n\nclass Repo:\n"
        "    def __init__(self, db: S):\n        self.db = db\n"
    ),
    "a session from a configured maker": (
        "from app.db import SessionLocal\n\n\nclass Repo:\n    def __init__(self):\n        self.db = SessionLocal()\n"
    ),
    "a session attribute named as such": "class Repo:\n    def __init__(self, db_session):\n        self.db_session = db_session\n",
}


@pytest.mark.parametrize(
    "source",
    [*INDEX_PREFILTER_CASES.values(), *(path.read_text(encoding="utf-8") for path in sorted(FIXTURES.rglob("*.py")))],
    ids=[*INDEX_PREFILTER_CASES, *(str(path.relative_to(FIXTURES)) for path in sorted(FIXTURES.rglob("*.py")))],
)
def test_index_prefilter_passes_every_file_with_class_facts(source: str, tmp_path: Path) -> None:
    """The index parses only files with a class that has bases or may store a
    session: no file it skips would have given a fact."""
    rule = BY_CODE["ISO201"]
    settings = load_settings([tmp_path], isolated=True)
    facts = list(_index(source, settings))  # fixtures/pep701 included
    assert facts or source not in INDEX_PREFILTER_CASES.values()  # the tricky cases do have facts
    if facts:
        assert rule.compile_index_prefilter(settings).search(source.encode("utf-8"))


def test_an_any_annotation_lets_the_name_decide_only_with_use_as_a_session() -> None:
    assert type_evidence({"Any", "typing.Any", "Optional"}, CONFIG).verdict == OPAQUE
    assert is_session("db", Evidence(OPAQUE), CONFIG) is False
    assert is_session("db", Evidence(OPAQUE), CONFIG, used_as_session=True) is True
    assert is_session("executor", Evidence(OPAQUE), CONFIG, used_as_session=True) is False


def test_sessions_annotated_any_are_reported_with_the_use_that_makes_them_sessions() -> None:
    found = check_findings([FIXTURES / "rules" / "ISO201" / "any_annotated.py"], "ISO201")
    assert [(f.location.row, f.message) for f in found] == [
        (
            6,
            (
                "`self.db` keeps a database session (named `db`, annotated `Any` and used as one: `.execute()`) on "
                "`UserRepository`; every request that reaches this object shares its transaction"
            ),
        ),
        (
            14,
            (
                "`self.session` keeps a database session (named `session`, annotated `Any` and used as one: `.add()`) on "
                "`AuditTrail`; every request that reaches this object shares its transaction"
            ),
        ),
        (
            23,
            (
                "`self.db_session` keeps a database session (named `db_session`, annotated `Any` and used as one: "
                "`.scalar()`) on `Ledger`; every request that reaches this object shares its transaction"
            ),
        ),
        # An `Any` annotation adds nothing to a value that is a session by itself.
        (
            31,
            (
                "`self.db` keeps a database session (created by `session_factory()`) on `Reports`; every request that "
                "reaches this object shares its transaction"
            ),
        ),
    ]
    # No method receives a request context to read the sessions from: only the unread one can go.
    assert [f.fix is not None for f in found] == [False, False, False, True]


def test_the_index_records_the_same_any_annotated_sessions_as_the_check(tmp_path: Path) -> None:
    settings = load_settings([tmp_path], isolated=True)
    stored = {
        name: [entry["attribute"] for entry in data["stored"]]
        for kind, name, _, data in _index((FIXTURES / "rules" / "ISO201" / "any_annotated.py").read_text(), settings)
        if kind == "sessions:class-stores-session"
    }
    assert stored == {"UserRepository": ["db"], "AuditTrail": ["session"], "Ledger": ["db_session"], "Reports": ["db"]}
    negatives = (FIXTURES / "rules" / "ISO201" / "any_annotated_negatives.py").read_text()
    assert not [kind for kind, *_ in _index(negatives, settings) if kind == "sessions:class-stores-session"]
    # ISO205 reads those facts: handing a session to the repository is reported in another module.
    write(tmp_path / "app" / "__init__.py", "")
    shutil.copy(FIXTURES / "rules" / "ISO201" / "any_annotated.py", tmp_path / "app" / "repos.py")
    routes = "from app.repos import UserRepository\n\n\ndef build(db_session):\n    return UserRepository(db_session)\n"
    write(tmp_path / "app" / "routes.py", routes)
    [finding] = check_findings([tmp_path / "app"], "ISO205")
    assert finding.path.endswith("routes.py") and "`UserRepository.db`" in finding.message


SUPPRESSION = re.compile(r"#\s*(?:isolint:\s*ignore|noqa)\b.*$", re.MULTILINE)
STORE_MESSAGE = re.compile(r"`self\.(\w+)` keeps a database session .* on `(\w+)`")


def _stores_reported(source: str, settings: Settings) -> set[tuple[str, str]]:
    """(class, attribute) of ISO201's assignment findings, suppression comments ignored."""
    findings = lint_text(SUPPRESSION.sub("", source), "case.py", [BY_CODE["ISO201"]], settings, build_edits=False)
    return {(match[2], match[1]) for f in findings if (match := STORE_MESSAGE.match(f.message))}


def _stores_indexed(source: str, settings: Settings) -> set[tuple[str, str]]:
    facts = _index(source, settings)
    return {
        (name.rpartition(".")[2], stored["attribute"])
        for kind, name, _, data in facts
        if kind == "sessions:class-stores-session"
        for stored in data["stored"]
    }


SESSION_FIXTURES = sorted(
    path for path in (FIXTURES / "rules").glob("ISO20*/*.py") if not path.name.endswith(".fixed.py")
)


@pytest.mark.parametrize("path", SESSION_FIXTURES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_the_index_stores_exactly_the_sessions_iso201_reports(path: Path, tmp_path: Path) -> None:
    """One analysis serves both: a class the index says keeps a session on
    `self` is one ISO201 reports there, except a unit of work, which closes
    the session it opens in `__exit__` (the index still records it, for the
    classes built on it)."""
    settings = load_settings([tmp_path], isolated=True)
    source = path.read_text(encoding="utf-8")
    units_of_work = {("UnitOfWork", "session")}
    assert _stores_indexed(source, settings) - units_of_work == _stores_reported(source, settings)


def test_a_check_by_the_session_rules_needs_no_libcst_parse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The family's rules are AstRules: only building a fix's edits parses the file with LibCST."""
    import libcst

    def refuse(source: str) -> None:
        raise AssertionError("a check without edits parsed the file with LibCST")

    monkeypatch.setattr(libcst, "parse_module", refuse)
    rules = [rule for code, rule in sorted(BY_CODE.items()) if code.startswith("ISO2")]
    assert [rule.syntax for rule in rules] == ["ast"] * 5
    settings = load_settings([tmp_path], isolated=True)
    for path in SESSION_FIXTURES:
        lint_text(path.read_text(encoding="utf-8"), path.name, rules, settings, build_edits=False)


RELATIVE_IMPORT_PROJECT = {
    "isolint.toml": '[sessions]\nsession-types = ["app.db.Handle"]\n',
    "app/__init__.py": "",
    "app/db.py": "class Handle:\n    def execute(self, query):\n        return query\n",
    "app/repo.py": "from .db import Handle\n\n\nclass Repo:\n    def __init__(self, handle: Handle):\n        self.handle = handle\n",
    "app/models/__init__.py": (
        "from ..db import Handle as H\n\n\nclass Model:\n    def __init__(self, handle: H):\n        self.handle = handle\n"
    ),
    "app/service.py": "from app.repo import Repo\n\n\ndef build(handle):\n    return Repo(handle)\n",
}


def test_a_dotted_session_type_is_matched_through_relative_imports(tmp_path: Path) -> None:
    """`session-types` names the project's own type by its qualified name.
    `from .db import Handle` in the module `app.repo`, and `from ..db import
    Handle` in the package `app.models`, import `app.db.Handle`: the check
    (ISO201) and the index, whose facts ISO205 reads in another module, both
    resolve them."""
    for name, text in RELATIVE_IMPORT_PROJECT.items():
        write(tmp_path / name, text)
    found = check_findings([tmp_path], isolated=False)
    assert [(Path(f.path).relative_to(tmp_path).as_posix(), f.location.row, f.code) for f in found] == [
        ("app/models/__init__.py", 6, "ISO201"),
        ("app/repo.py", 6, "ISO201"),
        ("app/service.py", 5, "ISO205"),
    ]
    assert "(annotated `app.db.Handle`)" in found[1].message


STORING_BASE = {
    "app/base.py": (
        "from isolint.runtime import UserExecutionContext\n\n\n"
        "class BaseAgent:\n"
        "    def __init__(self, db_session):\n"
        "        self.db_session = db_session\n\n"
        "    async def execute(self, context: UserExecutionContext):\n"
        "        self.db_session.add(context.user_id)\n"
    ),
    "app/handler.py": (
        "from app.triage import TriageAgent\n\n\n"
        "async def handle(context, session):\n"
        "    agent = TriageAgent(session)\n"
        "    await agent.execute(context)\n"
        "    return agent.db_session\n"
    ),
}


@pytest.mark.parametrize("lineage", sorted(SUBCLASS_LINEAGES))
def test_a_read_of_the_stored_session_through_a_subclass_that_never_names_it_keeps_it_stored(
    lineage: str, tmp_path: Path
) -> None:
    """`TriageAgent(session).db_session` reads what `BaseAgent` stores,
    through classes in modules that never mention `db_session`: removing the
    store would make the read raise AttributeError, so the fix is refused."""
    write(tmp_path / "app" / "__init__.py", "")
    for name, text in {**STORING_BASE, **SUBCLASS_LINEAGES[lineage]}.items():
        write(tmp_path / name, text)
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO201", str(tmp_path / "app"))
    assert (tmp_path / "app" / "base.py").read_text(encoding="utf-8") == STORING_BASE["app/base.py"]
    assert (
        "app/base.py: ISO201 fixes refused: app/handler.py:7: reads `.db_session`, which the fixes remove from "
        "`app.base.BaseAgent`"
    ) in result.stderr.replace(str(tmp_path) + "/", "")


def test_a_read_of_the_same_attribute_on_an_unrelated_class_does_not_keep_it_stored(tmp_path: Path) -> None:
    write(tmp_path / "app" / "__init__.py", "")
    for name, text in {**STORING_BASE, **SUBCLASS_LINEAGES["a subclass"]}.items():
        write(tmp_path / name, text)
    write(
        tmp_path / "app" / "pool.py",
        "class Pool:\n    def __init__(self, db_session):\n        self.db_session = db_session\n",
    )
    handler = (
        "from app.pool import Pool\n\n\ndef handle(session):\n    pool = Pool(session)\n    return pool.db_session\n"
    )
    write(tmp_path / "app" / "handler.py", handler)
    run_cli(
        "fix",
        "--unsafe-fixes",
        "--isolated",
        "--no-cache",
        "--select",
        "ISO201",
        str(tmp_path / "app" / "base.py"),
        str(tmp_path / "app" / "handler.py"),
    )
    assert "self.db_session" not in (tmp_path / "app" / "base.py").read_text(encoding="utf-8")


def test_a_reader_outside_the_given_paths_keeps_the_session_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pre-commit run names the changed files only: the module that reads
    `agent.db_session` is not among them, but it is part of the project, and
    removing the store would break it. The project is discovered once, for
    the index and the verification gate alike."""
    discoveries: list[list[Path]] = []
    real = indexing.discover
    monkeypatch.setattr(indexing, "discover", lambda roots, *a, **k: discoveries.append(roots) or real(roots, *a, **k))
    (tmp_path / ".git").mkdir()
    write(tmp_path / "app" / "__init__.py", "")
    for name, text in {**STORING_BASE, **SUBCLASS_LINEAGES["a subclass"]}.items():
        write(tmp_path / name, text)
    base = tmp_path / "app" / "base.py"
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO201", str(base))
    assert base.read_text(encoding="utf-8") == STORING_BASE["app/base.py"]
    assert "reads `.db_session`, which the fixes remove from `app.base.BaseAgent`" in result.stderr
    assert discoveries == [[tmp_path.resolve()]]


@pytest.mark.parametrize(
    ("reader", "refused"),
    [
        pytest.param("def close(agent):\n    agent.db_session.close()\n", True, id="a-plain-name-handed-in"),
        pytest.param("def session_of(context):\n    return context.db_session\n", False, id="the-request-context"),
        pytest.param("def session_of(request):\n    return request.state.db_session\n", False, id="a-framework-chain"),
    ],
)
def test_a_reader_that_never_names_the_class_keeps_the_session_stored_when_it_may_hold_an_instance(
    reader: str, refused: bool, tmp_path: Path
) -> None:
    """A helper in a module that never names the class reads `.db_session`
    off a plain name: it may be handed one of the class's instances, so the
    store stays. A context parameter, or an attribute chain off something
    else (a framework's request), is not taken for one."""
    write(tmp_path / "app" / "__init__.py", "")
    write(tmp_path / "app" / "base.py", STORING_BASE["app/base.py"])
    write(tmp_path / "app" / "helpers.py", reader)
    base = tmp_path / "app" / "base.py"
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO201", str(tmp_path / "app"))
    assert ("self.db_session = db_session" in base.read_text(encoding="utf-8")) is refused
    assert ("app/helpers.py:2: reads `.db_session`, which the fixes remove" in result.stderr) is refused
