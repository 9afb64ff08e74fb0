"""Generate a deterministic corpus that looks like an agent backend in the
middle of the isolation migration: most modules mention the legacy state,
sessions, WebSocket managers, `get_*()` accessors or agents, so about 8
files in 10 get past isolint's byte prefilters (the generated corpus of
`gen_corpus.py` lets about 1 in 10 through).

    python bench/gen_dense_corpus.py OUT_DIR [--lines 1000000] [--seed 19]

Shape: packages with `__init__.py` (agents, services, api, db, ws, tools,
utils), modules of 50-600 lines plus a few of several thousand, relative
and absolute imports between the modules, classes with methods, some agents
already migrated to `UserExecutionContext`, and a few files written with
Python 3.12 f-strings (PEP 701) that Python 3.11's `ast` rejects.
"""

from __future__ import annotations

import argparse
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("agents", "services", "api", "db", "ws", "tools", "utils")
# The share of modules of each kind; "plain" modules mention no trigger word.
KINDS = {
    "legacy_agent": 0.26,
    "migrated_agent": 0.12,
    "service": 0.16,
    "repository": 0.12,
    "api": 0.10,
    "plain": 0.14,
    "ws": 0.06,
}
LARGE_FILE_SHARE = 0.01  # a few modules of 2,000-6,000 lines
PEP701_EVERY = 50  # one module in 50 uses Python 3.12 f-strings

SHARED_MODULES = {
    "app/__init__.py": '"""The application package."""\n',
    "app/state.py": '''"""The legacy mutable state, shared by every agent (being migrated)."""

from dataclasses import dataclass, field


@dataclass
class DeepAgentState:
    user_request: str = ""
    user_id: str = ""
    thread_id: str = ""
    results: dict = field(default_factory=dict)
''',
    "app/context.py": '''"""The immutable per-request context that replaces DeepAgentState."""

from dataclasses import dataclass


@dataclass(frozen=True)
class UserExecutionContext:
    user_id: str
    thread_id: str
    run_id: str
    request_id: str
''',
    "app/ws/__init__.py": '"""WebSocket plumbing."""\n',
    "app/ws/manager.py": '''"""The process-wide WebSocket manager (being replaced by per-user emitters)."""


class WebSocketManager:
    def __init__(self):
        self.connections = {}

    async def send_to_user(self, user_id, payload):
        for socket in self.connections.get(user_id, []):
            await socket.send_json(payload)


_manager = None


def get_websocket_manager():
    global _manager
    if _manager is None:
        _manager = WebSocketManager()
    return _manager
''',
    "app/db/__init__.py": '"""Database access."""\n',
    "app/db/base.py": '''"""The session factory."""

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://localhost/app")
SessionLocal = async_sessionmaker(engine)
''',
}

IMPORTS = {
    "legacy_agent": "from app.state import DeepAgentState\nfrom ..ws.manager import get_websocket_manager\n",
    "migrated_agent": "from app.context import UserExecutionContext\n",
    "service": "from app.ws.manager import get_websocket_manager\n",
    "repository": "from sqlalchemy.ext.asyncio import AsyncSession\n\nfrom app.db.base import SessionLocal\n",
    "api": "from fastapi import APIRouter, Depends\n\nfrom app.state import DeepAgentState\n",
    "ws": "from .manager import WebSocketManager, get_websocket_manager\n",
    "plain": "import json\nimport logging\n",
}

BLOCKS = {
    "legacy_agent": [
        '''class {cls}Agent:
    """Runs the {name} step on the shared legacy state."""

    def __init__(self, llm, tools=None):
        self.llm = llm
        self.tools = tools or []
        self.ws = get_websocket_manager()

    async def execute(self, state: DeepAgentState, run_id: str, stream_updates: bool = False):
        plan = await self.llm.plan(state.user_request, tools=self.tools)
        state.results["{name}"] = plan
        if stream_updates:
            await self.ws.send_to_user(state.user_id, {{"run": run_id, "step": "{name}"}})
        return await self.finish(state, plan)

    async def finish(self, state: DeepAgentState, plan):
        summary = [step for step in plan if step.get("ok")]
        state.results["{name}_summary"] = summary
        return len(summary)
''',
        """def build_{name}_prompt(state: DeepAgentState, limit: int = {n}) -> str:
    history = state.results.get("history", [])[-limit:]
    lines = [f"user: {{state.user_request}}"]
    for turn in history:
        lines.append(f"{{turn['role']}}: {{turn['text']}}")
    return "\\n".join(lines)
""",
    ],
    "migrated_agent": [
        '''class {cls}Agent:
    """Runs the {name} step for one request (migrated)."""

    def __init__(self, llm, emitter):
        self.llm = llm
        self.emitter = emitter

    async def execute(self, context: UserExecutionContext, request: str):
        plan = await self.llm.plan(request)
        await self.emitter.emit({{"run": context.run_id, "step": "{name}", "size": len(plan)}})
        return plan
''',
    ],
    "service": [
        """_{name}_service = None


def get_{name}_service():
    global _{name}_service
    if _{name}_service is None:
        _{name}_service = {cls}Service()
    return _{name}_service


class {cls}Service:
    def __init__(self):
        self.cache = {{}}

    async def publish(self, user_id, payload):
        self.cache[user_id] = payload
        await get_websocket_manager().send_to_user(user_id, payload)
""",
        """class {cls}Registry:
    _instance = None

    @classmethod
    def get_instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        self.items = {{}}

    def register(self, key, value):
        self.items[key] = value
""",
    ],
    "repository": [
        """class {cls}Repository:
    def __init__(self, db_session: AsyncSession):
        self.db_session = db_session

    async def get(self, key):
        return await self.db_session.get({cls}Row, key)

    async def put(self, row):
        self.db_session.add(row)
        await self.db_session.flush()
""",
        """async def load_{name}(key):
    session = SessionLocal()
    row = await session.get({cls}Row, key)
    return row
""",
    ],
    "api": [
        """router_{name} = APIRouter()


@router_{name}.post("/{name}")
async def run_{name}(payload: dict, state: DeepAgentState = Depends(DeepAgentState)):
    state.user_request = payload.get("request", "")
    return {{"ok": True, "user": state.user_id}}
""",
    ],
    "ws": [
        """{name}_manager = WebSocketManager()


async def notify_{name}(user_id, payload):
    await get_websocket_manager().send_to_user(user_id, payload)
""",
    ],
}

ORDINARY = [
    '''def {name}_rows(items, limit={n}):
    """Return the first items that pass the filter."""
    out = []
    for index, item in enumerate(items):
        if index >= limit:
            break
        if item and not str(item).startswith("_"):
            out.append({{"index": index, "value": item, "kind": type(item).__name__}})
    return out
''',
    '''class {cls}Record:
    """A small value object."""

    def __init__(self, key, value=None):
        self.key = key
        self.value = value

    def __repr__(self):
        return f"{cls}Record({{self.key!r}}, {{self.value!r}})"

    def merge(self, other):
        if other.key != self.key:
            raise ValueError("different keys")
        return {cls}Record(self.key, other.value or self.value)
''',
    """async def fetch_{name}(client, url, retries={n}):
    last = None
    for attempt in range(retries):
        try:
            response = await client.get(url, timeout=5)
            response.raise_for_status()
            return response.json()
        except Exception as exc:  # noqa: BLE001
            last = exc
    raise RuntimeError(f"gave up after {{retries}} attempts") from last
""",
]

# Python 3.12 f-strings (PEP 701): same quotes nested, a backslash and a
# comment inside replacement fields. Python 3.11's parser rejects each one.
PEP701 = """def describe_{name}(row: dict, names: list) -> str:
    title = f"{{row["title"]}} ({{row["kind"]}})"
    joined = f"{{"\\n".join(names)}}"
    nested = f"{{f"{{row["id"]}}"}}"
    return f"{{
        title  # the heading
    }}: {{joined}} {{nested}}"
"""


@dataclass(frozen=True)
class Module:
    path: str  # relative to the corpus root
    kind: str


def _fill(template: str, rng: random.Random, serial: int) -> str:
    name = f"{rng.choice(['order', 'user', 'report', 'search', 'billing', 'tool'])}_{serial}"
    return template.format(name=name, cls=name.title().replace("_", ""), n=rng.randint(2, 99))


def _module_text(
    module: Module, siblings: list[Module], rng: random.Random, serial: int, target: int, pep701: bool
) -> str:
    lines = [f'"""{module.kind.replace("_", " ")} module {serial}."""', "", "from __future__ import annotations", ""]
    lines.append(IMPORTS[module.kind])
    for sibling in rng.sample(siblings, k=min(2, len(siblings))):  # imports between the modules
        stem = sibling.path.rsplit("/", 1)[1][:-3]
        lines.append(f"from . import {stem}  # noqa: F401")
    lines.append(f"import app.utils.{rng.choice(['text', 'timing'])}  # noqa: F401")
    text = "\n".join(lines) + "\n\n"
    blocks = BLOCKS.get(module.kind, [])
    k = 0
    while text.count("\n") < target:
        use_block = blocks and (
            k == 0 or rng.random() < 0.15
        )  # as many findings per parsed line as on real code (issue 19)
        template = rng.choice(blocks) if use_block else ORDINARY[(serial + k) % len(ORDINARY)]
        text += "\n\n" + _fill(template, rng, serial * 1000 + k)
        k += 1
    if pep701:
        text += "\n\n" + _fill(PEP701, rng, serial)
    return text


def generate(out: Path, lines: int, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    total = 0
    files = 0
    for relative, text in SHARED_MODULES.items():
        total += _write(out / relative, text)
        files += 1
    for util in ("text", "timing"):
        total += _write(
            out / f"app/utils/{util}.py", f'"""{util} helpers."""\n\n\ndef {util}_identity(value):\n    return value\n'
        )
        files += 1
    serial = 0
    kinds, weights = zip(*KINDS.items(), strict=True)
    package_modules: dict[str, list[Module]] = {}
    areas = max(1, lines // 40_000)  # about a dozen modules per package, as in a real tree
    while total < lines:
        package = f"app/{rng.choice(PACKAGES)}/area{rng.randrange(areas):02d}"
        if package not in package_modules:
            package_modules[package] = []
            for level in (package.rsplit("/", 1)[0], package):
                if not (out / level / "__init__.py").exists():
                    total += _write(out / level / "__init__.py", "")
                    files += 1
        kind = rng.choices(kinds, weights)[0]
        module = Module(f"{package}/{kind}_{serial:05d}.py", kind)
        siblings = package_modules[package]
        large = rng.random() < LARGE_FILE_SHARE
        target = rng.randint(2000, 6000) if large else rng.randint(50, 600)
        text = _module_text(module, siblings, rng, serial, target, serial % PEP701_EVERY == 1)
        total += _write(out / module.path, text)
        files += 1
        siblings.append(module)
        serial += 1
    return files, total


def _write(path: Path, text: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text.count("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    files, lines = generate(args.out, args.lines, args.seed)
    print(f"{files} files, {lines} lines in {args.out}")


if __name__ == "__main__":
    main()
