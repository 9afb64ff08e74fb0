"""Telling a database session from other "sessions": the family's settings and decisions.

Names lie in both directions, so a value counts as a DB session by name
*and* type evidence:

- type evidence for: an annotation matching `session-types`, or a call of a
  session factory (`session-factories`, or a module-level name bound to
  `sessionmaker(...)` / `async_sessionmaker(...)`);
- name evidence: the target's name matches `names`;
- evidence against, which always wins: a name matching `exclude-names`; a type
  matching `not-db-types` (HTTP clients, auth/session-info objects); ORM
  attributes (`relationship(...)`, `Mapped[...]`); engines and session makers;
  any other known type (an annotation, a class instantiation, a builtin, a
  literal such as a Redis `db=0` index).

Decision: type evidence alone is enough; a name alone is enough only when the
value is a parameter, variable or call that carries no type information. An
`Any` annotation says nothing either, but someone chose to write it, so there
the name counts only together with use: the class calls a session method on
the stored attribute (`self.db.execute(...)`, `.commit()`, `.query(...)`).

This module decides on strings (names, dotted types); `evidence` reads them
off a file's `ast`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from .._helpers import alternation, glob_to_bytes_regex, matches_patterns, word_alternatives
from ..base import Option

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import ProjectIndex
    from ..base import Rule

NAMES = Option(
    "names",
    "list[str]",
    ["db", "_db", "session", "_session", "db_session", "*_db_session", "database"],
    "Names (globs) that are enough to call an untyped parameter, variable or call a DB session.",
)
EXCLUDE_NAMES = Option(
    "exclude-names",
    "list[str]",
    ["*session_id", "*session_factory", "*sessionmaker*", "session_prefix", "session_locks"],
    "Names (globs) that are never DB sessions; they win over everything.",
)
SESSION_TYPES = Option(
    "session-types",
    "list[str]",
    [
        "AsyncSession",
        "Session",
        "sqlalchemy.orm.Session",
        "sqlalchemy.ext.asyncio.AsyncSession",
        "scoped_session",
        "async_scoped_session",
    ],
    "Types (globs; dotted ones match the imported, qualified name) whose annotation or construction is a DB session.",
)
SESSION_FACTORIES = Option(
    "session-factories",
    "list[str]",
    ["SessionLocal", "async_session", "AsyncSessionLocal", "get_db_session", "get_session", "*session_factory"],
    "Callables (globs) whose call returns a new DB session, on top of module-level `sessionmaker(...)` names.",
)
NOT_DB_TYPES = Option(
    "not-db-types",
    "list[str]",
    [
        "aiohttp.ClientSession",
        "ClientSession",
        "requests.Session",
        "requests.sessions.Session",
        "httpx.AsyncClient",
        "httpx.Client",
        "*SessionInfo",
        "*SessionData",
        "*AuthSession",
        "UserSession",
        # AWS SDK sessions and clients (`boto3.Session()`, `botocore.session.get_session()`).
        "boto3.*",
        "aioboto3.*",
        "botocore.*",
        # pytest's test session (`def pytest_sessionstart(session: pytest.Session)`).
        "pytest.Session",
        "_pytest.*",
    ],
    "Types (globs, as for session-types) that are never DB sessions: HTTP clients, cloud SDK sessions, "
    "auth/session-info objects.",
)
EVIDENCE_OPTIONS = (NAMES, EXCLUDE_NAMES, SESSION_TYPES, SESSION_FACTORIES, NOT_DB_TYPES)


@dataclass(frozen=True)
class SessionsConfig:
    """The family's vocabulary: `[tool.isolint.sessions]`, with a rule's own
    table overriding keys for that rule alone."""

    names: tuple[str, ...]
    exclude_names: tuple[str, ...]
    session_types: tuple[str, ...]
    session_factories: tuple[str, ...]
    not_db_types: tuple[str, ...]

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SessionsConfig:
        """The configuration of option values by name (`Settings.options_for` or `.family_options`)."""
        return _config(*(tuple(options[option.name]) for option in EVIDENCE_OPTIONS))

    @classmethod
    def for_rule(cls, settings: Settings, rule: type[Rule]) -> SessionsConfig:
        return cls.from_options(settings.options_for(rule))

    @classmethod
    def for_family(cls, settings: Settings) -> SessionsConfig:
        """What the project index reads: the family's table, whichever rules run."""
        return cls.from_options(settings.family_options("sessions"))

    @classmethod
    def of_factories(cls, session_factories: Iterable[str]) -> SessionsConfig:
        """Factory calls and makers as the only evidence (ISO204: whatever name holds the session)."""
        return _config((), (), (), tuple(session_factories), ())


@lru_cache(maxsize=64)
def _config(
    names: tuple[str, ...],
    exclude_names: tuple[str, ...],
    session_types: tuple[str, ...],
    session_factories: tuple[str, ...],
    not_db_types: tuple[str, ...],
) -> SessionsConfig:
    # One instance per distinct vocabulary: rules build theirs once per file.
    return SessionsConfig(names, exclude_names, session_types, session_factories, not_db_types)


MAKER_CALLS = ("sessionmaker", "async_sessionmaker")
# Constructors of session *registries*: module-level ones are makers, not live sessions.
REGISTRY_CALLS = ("scoped_session", "async_scoped_session")
# Values that are structurally not sessions: ORM attribute descriptors, engines, makers.
NEVER_SESSION_CALLS = (
    "relationship",
    "backref",
    "mapped_column",
    "Column",
    "column_property",
    "synonym",
    "association_proxy",
    "deferred",
    "*engine*",
    "*Engine*",
    "*sessionmaker*",
    # Calls that build or look up a session *factory* (`get_session_factory()`,
    # `make_factory()`): calling their result makes the session.
    "get_*factory",
    "make_*factory",
    "create_*factory",
    "build_*factory",
    "new_*factory",
    "*_maker",
)
NEVER_SESSION_TYPES = ("Mapped", "*Engine*", "*sessionmaker*", "*Sessionmaker*", "*Factory*", "Callable")
BUILTIN_TYPES = ("int", "str", "float", "bool", "bytes", "dict", "list", "set", "tuple", "frozenset", "object")

SESSION, AGAINST, UNTYPED, NONE = "session", "against", "untyped", "none"
# Annotated `Any`: a name decides only with use as a session (`SESSION_METHODS`).
OPAQUE = "opaque"
OPAQUE_TYPES = frozenset({"Any", "typing.Any", "typing_extensions.Any"})
WRAPPER_TYPES = frozenset({"None", "Optional", "typing.Optional", "Union", "typing.Union"})
# Methods of SQLAlchemy's Session/AsyncSession that dicts, names and most other objects lack.
SESSION_METHODS = frozenset(
    {
        "execute",
        "commit",
        "rollback",
        "flush",
        "query",
        "add",
        "add_all",
        "scalars",
        "scalar",
        "refresh",
        "merge",
        "begin",
        "begin_nested",
        "expunge",
    }
)


def evidence_alternatives(config: SessionsConfig) -> list[bytes]:
    """Prefilter alternatives one of which every DB session finding's file
    contains: a session name, a factory, a session type, or a module-level maker."""
    globs = [*config.names, *config.session_factories, *(t.rpartition(".")[2] for t in config.session_types)]
    return word_alternatives({glob_to_bytes_regex(glob) for glob in globs} | {b"sessionmaker"}, rb"\b")


@dataclass(frozen=True)
class Evidence:
    """What a value says about being a DB session, and why (for messages)."""

    verdict: str  # SESSION (type evidence), AGAINST, UNTYPED (a name may decide), NONE (a name may not), OPAQUE
    reason: str = ""


def _type_matches(dotted: Iterable[str], patterns: Sequence[str]) -> bool:
    for name in dotted:
        for pattern in patterns:
            subject = name if "." in pattern else name.rpartition(".")[2]
            if fnmatchcase(subject, pattern):
                return True
    return False


def type_evidence(type_names: set[str], config: SessionsConfig) -> Evidence:
    """Evidence from the names a type annotation mentions (qualified and as written)."""
    if not type_names or type_names <= WRAPPER_TYPES:
        return Evidence(NONE)
    if type_names - WRAPPER_TYPES <= OPAQUE_TYPES:
        return Evidence(OPAQUE, "annotated `Any`")
    shown = min(type_names, key=len)
    if _type_matches(type_names, config.not_db_types) or _type_matches(type_names, NEVER_SESSION_TYPES):
        return Evidence(AGAINST, f"annotated `{shown}`")
    if _type_matches(type_names, config.session_types):
        session_type = next(n for n in sorted(type_names, key=len) if _type_matches([n], config.session_types))
        return Evidence(SESSION, f"annotated `{session_type}`")
    return Evidence(AGAINST, f"annotated `{shown}`")  # a known type that is not a session


def call_evidence(callee: str, qualified: str, makers: Mapping[str, str], config: SessionsConfig) -> Evidence:
    """Evidence from a call's callee (`SessionLocal`, `aiohttp.ClientSession`, `get_db`)."""
    names = {callee, qualified}
    owner, _, last = callee.rpartition(".")
    if owner.rpartition(".")[2][:1].isupper():  # `UserSession.from_token(...)`: the class tells
        names |= {owner, qualified.rpartition(".")[0]}
    if _type_matches(names, config.not_db_types) or matches_patterns(last, NEVER_SESSION_CALLS):
        return Evidence(AGAINST, f"`{callee}(...)`")
    if callee in makers or matches_patterns(last, config.session_factories):
        return Evidence(SESSION, f"created by `{callee}()`")
    if _type_matches(names, config.session_types):
        return Evidence(SESSION, f"a `{callee}`")
    if last in BUILTIN_TYPES or last[:1].isupper():
        return Evidence(AGAINST, f"a `{callee}`")  # constructing some other known class
    return Evidence(UNTYPED, f"`{callee}(...)`")


def is_session(name: str, evidence: Evidence, config: SessionsConfig, used_as_session: bool = False) -> bool:
    """The family's decision for a value bound to `name`; `used_as_session`:
    the code calls session methods on it (what an `Any` annotation needs)."""
    if matches_patterns(name, config.exclude_names) or evidence.verdict == AGAINST:
        return False
    if evidence.verdict == SESSION:
        return True
    if evidence.verdict == OPAQUE and not used_as_session:
        return False
    return evidence.verdict in (UNTYPED, OPAQUE) and matches_patterns(name, config.names)


def declared_over(declared: Evidence, value: Evidence) -> Evidence:
    """What `x: T = value` says: the annotation wins, except that evidence
    against in the value still counts, and an `Any` annotation adds nothing
    to a value that has type evidence of its own."""
    if declared.verdict == NONE or (declared.verdict == OPAQUE and value.verdict in (SESSION, AGAINST)):
        return value
    return combine([declared, value]) if value.verdict == AGAINST else declared


def combine(evidences: Sequence[Evidence]) -> Evidence:
    """`a or b`, `a if c else b`: any evidence against wins, then any type evidence."""
    for verdict in (AGAINST, SESSION, UNTYPED, OPAQUE):
        for evidence in evidences:
            if evidence.verdict == verdict:
                return evidence
    return Evidence(NONE)


class EvidencePrefilter:
    """Mixin for session rules that decide by the evidence options alone:
    their prefilter is the evidence words."""

    prefilter = re.compile(rb"(?!)")  # built from the evidence options by compile_prefilter
    options: ClassVar[tuple[Option, ...]] = EVIDENCE_OPTIONS

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> re.Pattern[bytes]:
        # A session name, factory, type or maker: every finding needs one of them.
        config = SessionsConfig.for_rule(settings, cls)  # type: ignore[arg-type]  # mixed into a Rule
        return re.compile(alternation(evidence_alternatives(config)))
