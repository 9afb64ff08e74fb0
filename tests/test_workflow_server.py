"""`isolint server`: a real JSON-RPC session with the language server over stdio."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write

pytest.importorskip("pygls", reason="the `server` extra is not installed")

AGENT = "class Worker:\n    def __init__(self, db):\n        self.db = db\n"
LEGACY = "from app.state import DeepAgentState\n"
Message = dict[str, Any]


class Client:
    """A minimal LSP client: Content-Length framing over the server's stdin and stdout."""

    def __init__(self, cwd: Path) -> None:
        env = {**os.environ, "NO_COLOR": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "isolint", "server"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            if not headers:
                return
            self.inbox.put(json.loads(stream.read(int(headers["content-length"]))))

    def send(self, method: str, params: Message | None, *, request: bool) -> int | None:
        message: Message = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return message.get("id")

    def wait_for(self, matches: Callable[[Message], bool], timeout: float = 60) -> Message:
        while True:
            message = self.inbox.get(timeout=timeout)
            if matches(message):
                return message

    def request(self, method: str, params: Message | None) -> Any:
        number = self.send(method, params, request=True)
        reply = self.wait_for(lambda m: m.get("id") == number and "method" not in m)
        assert "error" not in reply, reply
        return reply["result"]

    def notify(self, method: str, params: Message | None) -> None:
        self.send(method, params, request=False)

    def diagnostics(self, uri: str, version: int) -> list[Message]:
        message = self.wait_for(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["uri"] == uri
                and m["params"].get("version") == version
            )
        )
        return message["params"]["diagnostics"]

    def close(self) -> int:
        self.request("shutdown", None)
        self.notify("exit", None)
        return self.process.wait(timeout=30)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    started = Client(tmp_path)
    capabilities = started.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})[
        "capabilities"
    ]
    assert capabilities["hoverProvider"] and capabilities["codeActionProvider"]
    started.notify("initialized", {})
    yield started
    if started.process.poll() is None:
        started.process.kill()


def _open(client: Client, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
    )
    return uri


def test_diagnostics_follow_open_and_unsaved_changes(client: Client, tmp_path: Path) -> None:
    uri = _open(client, tmp_path / "worker.py", AGENT)
    [diagnostic] = client.diagnostics(uri, 1)
    assert diagnostic["code"] == "ISO201" and diagnostic["source"] == "isolint"
    assert diagnostic["range"] == {"start": {"line": 2, "character": 8}, "end": {"line": 2, "character": 15}}
    assert diagnostic["codeDescription"]["href"].endswith("ISO201-session-on-instance.md")

    # ISO201's fix is unsafe: the editor offers only the ignore, never a behaviour change on a click.
    actions = client.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}},
    )
    assert [action["title"] for action in actions] == ["ISO201: ignore on this line"]

    fixed = AGENT.replace("self.db = db", "self.name = 'w'")
    client.notify(
        "textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]}
    )
    assert client.diagnostics(uri, 2) == []
    assert client.close() == 0


def test_cross_file_rules_see_the_saved_project(client: Client, tmp_path: Path) -> None:
    # ISO106 needs the index: the singleton is defined in another (saved) file.
    write(tmp_path / "app" / "__init__.py", "")
    write(
        tmp_path / "app" / "registry.py",
        "class Registry:\n    _instance = None\n\n    @classmethod\n    def get_instance(cls):\n"
        "        if cls._instance is None:\n            cls._instance = cls()\n        return cls._instance\n",
    )
    text = "from app.registry import Registry\n\n\ndef handle():\n    return Registry.get_instance()\n"
    uri = _open(client, tmp_path / "app" / "routes.py", text)
    assert "ISO106" in [d["code"] for d in client.diagnostics(uri, 1)]


def test_code_actions_fix_or_ignore_and_hover_shows_the_doc(client: Client, tmp_path: Path) -> None:
    uri = _open(client, tmp_path / "agent.py", LEGACY)
    [diagnostic] = client.diagnostics(uri, 1)
    actions = client.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}},
    )
    by_title = {action["title"]: action for action in actions}
    fix = by_title["ISO401: Import `UserExecutionContext` from `isolint.runtime` instead"]
    assert fix["isPreferred"] is True
    [edit] = fix["edit"]["changes"][uri]
    assert edit["newText"] == "isolint.runtime import UserExecutionContext"
    [ignore] = by_title["ISO401: ignore on this line"]["edit"]["changes"][uri]
    assert ignore["newText"] == "from app.state import DeepAgentState  # isolint: ignore[ISO401]"

    hover = client.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 25}}
    )
    assert hover["contents"]["value"].startswith("# legacy-state-import (ISO401)")
    assert (
        client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 2}})
        is None
    )
    assert client.close() == 0


def test_lines_past_a_form_feed_are_numbered_as_python_and_lsp_number_them(client: Client, tmp_path: Path) -> None:
    # str.splitlines (pygls's TextDocument.lines) breaks at the form feed; LSP and CPython do not.
    text = "# page one\f page two\n" + AGENT.replace("self.db = db", "note = '\U0001f642'; self.db = db")
    uri = _open(client, tmp_path / "worker.py", text)
    [diagnostic] = client.diagnostics(uri, 1)
    # `self.db` starts 20 code points into its line, 21 UTF-16 units (the emoji takes two).
    assert diagnostic["range"] == {"start": {"line": 3, "character": 21}, "end": {"line": 3, "character": 28}}
    actions = client.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}},
    )
    [ignore] = actions[0]["edit"]["changes"][uri]
    line = "        note = '\U0001f642'; self.db = db"
    assert ignore == {
        "range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": len(line) + 1}},  # UTF-16
        "newText": line + "  # isolint: ignore[ISO201]",
    }
    assert client.close() == 0


def test_a_broken_configuration_is_shown_to_the_user(client: Client, tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.isolint]\nselct = ["ALL"]\n')
    uri = _open(client, tmp_path / "agent.py", LEGACY)
    shown = client.wait_for(lambda m: m.get("method") == "window/showMessage")
    assert "did you mean 'select'?" in shown["params"]["message"]
    assert client.diagnostics(uri, 1) == []


def test_without_the_extra_the_server_says_how_to_install_it(tmp_path: Path) -> None:
    script = "import sys\nsys.modules['pygls'] = None  # as if the `server` extra were not installed\nfrom isolint.cli import main\nmain(['server'])\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "`isolint server` needs pygls: pip install 'isolint[server]'" in result.stderr
