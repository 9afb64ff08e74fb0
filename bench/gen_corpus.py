"""Generate a deterministic benchmark corpus: mostly ordinary code, with a
realistic density (~3% of files each) of every isolint pattern family.

    python bench/gen_corpus.py OUT_DIR [--files 5000] [--lines 1000000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

ORDINARY = [
    '''def {name}(items, limit={n}):
    """Return the first items that pass the filter."""
    out = []
    for index, item in enumerate(items):
        if index >= limit:
            break
        if item and not str(item).startswith("_"):
            out.append({{"index": index, "value": item, "kind": type(item).__name__}})
    return out
''',
    '''class {cls}:
    """A small value object."""

    def __init__(self, key, value=None):
        self.key = key
        self.value = value
        self.session_id = "{name}"

    def __repr__(self):
        return f"{cls}({{self.key!r}}, {{self.value!r}})"

    def merge(self, other):
        if other.key != self.key:
            raise ValueError("different keys")
        return {cls}(self.key, other.value or self.value)
''',
    """async def {name}(client, url, retries={n}):
    for attempt in range(retries):
        try:
            response = await client.get(url, timeout=5)
            response.raise_for_status()
            return response.json()
        except Exception as exc:  # noqa: BLE001
            last = exc
    raise RuntimeError(f"gave up after {{retries}} attempts") from last
""",
    """{upper} = {{
    "name": "{name}",
    "limits": [{n}, {n} * 2, {n} * 4],
    "enabled": True,
}}


def get_{name}_setting(key, default=None):
    return {upper}.get(key, default)
""",
]

PATTERNS = {
    "singletons": [
        """class {cls}Registry:
    _instance = None

    @classmethod
    def get_instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance
""",
        """_{name}_service = None


def get_{name}_service():
    global _{name}_service
    if _{name}_service is None:
        _{name}_service = {cls}Service()
    return _{name}_service
""",
        """from functools import lru_cache


@lru_cache
def get_{name}_manager():
    return {cls}Manager(pool_size={n})
""",
    ],
    "sessions": [
        """class {cls}Repository:
    def __init__(self, db_session):
        self.db_session = db_session

    async def get(self, key):
        return await self.db_session.get({cls}, key)
""",
        """async def load_{name}(key):
    session = SessionLocal()
    row = await session.get({cls}, key)
    return row
""",
    ],
    "websockets": [
        """from app.ws import WebSocketManager, get_websocket_manager

{name}_ws = WebSocketManager()


async def notify_{name}(user_id, payload):
    await get_websocket_manager().send_to_user(user_id, payload)
""",
        """class {cls}Notifier:
    def __init__(self):
        self.ws = get_websocket_manager()

    async def done(self, user_id):
        await self.ws.broadcast({{"type": "done", "user": user_id}})
""",
    ],
    "legacy-state": [
        """from app.state import DeepAgentState


class {cls}Agent:
    async def execute(self, state: DeepAgentState, run_id: str, stream_updates: bool = False):
        state.{name}_result = await self.run(state.user_request)
        return state.user_id
""",
    ],
}


def _fill(template: str, rng: random.Random, i: int) -> str:
    name = f"{rng.choice(['order', 'user', 'report', 'cache', 'event', 'tool'])}_{i}"
    return template.format(name=name, cls=name.title().replace("_", ""), upper=name.upper(), n=rng.randint(2, 99))


def generate(out: Path, files: int, lines: int, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    per_file = max(20, lines // files)
    total_lines = 0
    for i in range(files):
        package = out / f"pkg{i % 50:02d}" / f"sub{i % 7}"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
        chunks = []
        for templates in PATTERNS.values():
            if rng.random() < 0.03:
                chunks.append(_fill(rng.choice(templates), rng, i))
        text = "\n\n".join(chunks)
        k = 0
        while text.count("\n") < per_file:
            chunks.append(_fill(ORDINARY[(i + k) % len(ORDINARY)], rng, i * 100 + k))
            text = "\n\n".join(chunks)
            k += 1
        text = f'"""Generated module {i}."""\n\n' + text
        (package / f"mod{i:05d}.py").write_text(text, encoding="utf-8")
        total_lines += text.count("\n")
    return files, total_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    files, lines = generate(args.out, args.files, args.lines, args.seed)
    print(f"{files} files, {lines} lines in {args.out}")


if __name__ == "__main__":
    main()
