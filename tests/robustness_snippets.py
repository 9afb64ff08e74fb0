"""Realistic pattern snippets, and splicing them into generated Python.

The robustness properties mix these into `hypothesmith` modules so that the
rules (and their fixes) actually fire on odd surroundings, not only on the
tidy fixtures. Every splice keeps the result valid Python: a placement that
would not parse falls back to a simpler one.
"""

from __future__ import annotations

import ast
import textwrap
import warnings

# Whole top-level blocks, per family, in the forms the legacy app and the fixtures use.
MODULE_SNIPPETS: dict[str, tuple[str, ...]] = {
    "singletons": (
        """
class ConfigService:
    _instance = None

    def __init__(self):
        self.values = {}

    @classmethod
    def get_instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance
""",
        """
import threading


class AgentRegistry:
    _instance = None
    _lock = threading.Lock()

    def __new__(cls):
        if cls._instance is None:
            with cls._lock:
                if cls._instance is None:
                    cls._instance = super().__new__(cls)
        return cls._instance


registry = AgentRegistry()
""",
        '''
_registry = None


def get_registry():
    """Lazily built, shared by every request."""
    global _registry
    if _registry is None:
        _registry = AgentRegistry()
    return _registry
''',
        """
from functools import lru_cache


@lru_cache(maxsize=None)
def get_settings_service():
    return SettingsService()


@lru_cache()
def get_llm_manager():  # one per process
    return LLMManager(timeout=30)
""",
        """
class FeatureFlags:
    _instance = None

    @classmethod
    def get_instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance


def handle(request):
    flags = FeatureFlags.get_instance()
    return flags.enabled(request)
""",
        """
from app.agents import DataAgent, TriageAgent
from app.db import db
from app.registry import AgentRegistry


def register_default_agents(registry: AgentRegistry) -> AgentRegistry:
    registry.register("triage", TriageAgent(db, llm_latency=0.0))
    data = DataAgent(db)
    registry.register("data", data)
    return registry
""",
    ),
    "sessions": (
        """
class UserRepository:
    def __init__(self, db_session, cache=None):
        self.db_session = db_session
        self.cache = cache

    async def get(self, user_id):
        return await self.db_session.get(User, user_id)
""",
        """
from sqlalchemy.orm import sessionmaker

SessionLocal = sessionmaker()
session = SessionLocal()


class ReportService:
    session = SessionLocal()

    def load(self):
        db = SessionLocal()
        return db.query(Report).all()
""",
        """
from sqlalchemy.ext.asyncio import AsyncSession


class OrderService:
    def __init__(self, region: str, db: AsyncSession) -> None:
        self.region = region
        self.db = db


async def create_order(region: str, session: AsyncSession) -> None:
    service = OrderService(region, session)
    await service.place()
""",
    ),
    "websockets": (
        """
from app.websocket_core import WebSocketManager, get_websocket_manager
from isolint.runtime import UserExecutionContext

websocket_manager = WebSocketManager()


async def notify(context: UserExecutionContext, payload):
    await get_websocket_manager().send_to_user(context.user_id, payload)


def announce(message):
    websocket_manager.broadcast({"type": "announcement", "text": message})
""",
        """
from app.ws import get_websocket_manager
from isolint.runtime import UserExecutionContext


class ChatAgent:
    def __init__(self, db) -> None:
        self.db = db
        self.websocket = get_websocket_manager()

    async def execute(self, context: UserExecutionContext, text: str) -> None:
        await self.websocket.notify_agent_thinking("chat", step="classify")
        await self.websocket.broadcast({"type": "system_notice"})
""",
        """
from typing import Any, Dict, List, Optional

active_connections: Dict[str, List[Any]] = {}


async def connect(websocket, user_id: Optional[str] = None) -> None:
    active_connections.setdefault(user_id, []).append(websocket)
""",
    ),
    "legacy_state": (
        """
from app.state import DeepAgentState


class TriageAgent:
    name = "triage"

    async def execute(self, state: DeepAgentState, run_id: str, stream_updates: bool = False) -> None:
        if isinstance(state, DeepAgentState):
            thread = state.chat_thread_id
        state.triage_result = {"category": "general", "thread_id": state.chat_thread_id}
        return state.user_request
""",
        """
from app import state as legacy
from app.state import DeepAgentState as AgentState


def start_run(user_id: str, request: str) -> AgentState:
    state = AgentState(user_request=request, user_id=user_id)
    return state


def thread_of(state: "legacy.DeepAgentState") -> str:
    return state.chat_thread_id
""",
    ),
}

# Statements that are valid inside any (non-async) function body, to splice into
# generated functions and into a host function that carries the request context.
BODY_SNIPPETS: tuple[str, ...] = (
    "get_websocket_manager().send_to_user(context.user_id, {'type': 'agent_started'})\n",
    "manager = get_websocket_manager()\nmanager.send_to_user(context.user_id, {'type': 'done'})\n",
    "service = ConfigService.get_instance()\n",
    "thread = state.chat_thread_id\nif isinstance(state, DeepAgentState):\n    state.user_request = thread\n",
    "state = DeepAgentState(user_request='hello', chat_thread_id='t-1')\n",
    "db = SessionLocal()\nrows = db.query(Report).all()\n",
    "class Repository:\n    def __init__(self, db_session):\n        self.db_session = db_session\n",
)

HOST_FUNCTION = (
    "from app.state import DeepAgentState\n"
    "from isolint.runtime import UserExecutionContext\n\n\n"
    "def fuzz_host(self, context: UserExecutionContext, state: DeepAgentState, run_id: str, db_session=None):\n"
)

ALL_MODULE_SNIPPETS: tuple[str, ...] = tuple(s.lstrip("\n") for group in MODULE_SNIPPETS.values() for s in group)


def parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, "<fuzz>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    return lines


def _top_level_starts(tree: ast.Module, lines: list[str]) -> list[int]:
    """0-based lines where a top-level statement begins at column 0 (no `;` sibling before it)."""
    return [node.lineno - 1 for node in tree.body if node.col_offset == 0 and node.lineno - 1 < len(lines)]


def splice_module(base: str, snippet: str, choice: int) -> str:
    """`snippet` between two top-level statements of `base` (picked by `choice`), or after it."""
    lines = _lines(base)
    tree = ast.parse(base)
    starts = [*_top_level_starts(tree, lines), len(lines)]
    at = starts[choice % len(starts)]
    candidate = "".join(lines[:at]) + snippet + "".join(lines[at:])
    if parses(candidate):
        return candidate
    appended = "".join(lines) + snippet
    return appended if parses(appended) else base


def _function_body_starts(tree: ast.Module, lines: list[str]) -> list[tuple[int, int]]:
    """(line, indent) of first body statements that start their own line, in every function."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            row = first.lineno - 1
            if row < len(lines) and first.lineno > node.lineno and lines[row][: first.col_offset].strip() == "":
                found.append((row, first.col_offset))
    return found


def splice_body(base: str, statements: str, choice: int) -> str:
    """`statements` at the top of one of `base`'s functions; unchanged when it has none that fit."""
    lines = _lines(base)
    spots = _function_body_starts(ast.parse(base), lines)
    if not spots:
        return base
    row, indent = spots[choice % len(spots)]
    candidate = "".join(lines[:row]) + textwrap.indent(statements, " " * indent) + "".join(lines[row:])
    return candidate if parses(candidate) else base


def in_host_function(base: str, statements: str) -> str:
    """`base` (when it can live in a function) and `statements` as the body of a
    function with a request-context parameter; `base` alone when that cannot parse."""
    body = textwrap.indent(statements, "    ")
    for inner in (base, ""):
        candidate = HOST_FUNCTION + textwrap.indent("".join(_lines(inner)), "    ", lambda line: True) + body
        if parses(candidate):
            return candidate
    return base
