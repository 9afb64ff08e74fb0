"""Packaging: the core runtime and the pytest plugin import only the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = (
    "sqlalchemy",
    "starlette",
    "fastapi",
    "httpx",
    "uvicorn",
    "websockets",
    "aiosqlite",
    "asyncpg",
)


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded_after(statement: str) -> list[str]:
    result = python(
        f"""
        import json, sys
        {statement}
        print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
        """
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "statement",
    [
        "import isolint.runtime",
        "import isolint.testing",
        "import isolint.testing.plugin",
    ],
)
def test_importing_leaves_the_integrations_unloaded(statement):
    assert [name for name in loaded_after(statement) if name in HEAVY] == []


@pytest.mark.parametrize(
    ("module", "blocked", "command"),
    [
        (
            "isolint.runtime.sqlalchemy",
            "sqlalchemy",
            "pip install 'isolint[runtime-sqlalchemy]'",
        ),
        ("isolint.runtime.asgi", "starlette", "pip install 'isolint[runtime-asgi]'"),
    ],
)
@pytest.mark.parametrize("access", ["import", "attribute"])
def test_a_missing_extra_names_the_exact_pip_command(module, blocked, command, access):
    submodule = module.rsplit(".", 1)[1]
    use = f"import {module}" if access == "import" else f"import isolint.runtime as r; r.{submodule}"
    result = python(
        f"""
        import json, sys
        sys.modules[{blocked!r}] = None  # as if the extra were not installed
        try:
            {use}
        except ImportError as exc:
            from isolint.runtime import MissingExtraError
            print(json.dumps([isinstance(exc, MissingExtraError), str(exc), exc.install_command]))
        """
    )
    assert result.returncode == 0, result.stderr
    is_subclass, message, install_command = json.loads(result.stdout)
    assert is_subclass
    assert install_command == command
    assert message.endswith(command)


def test_the_optional_modules_load_when_the_extras_are_installed():
    from isolint import runtime

    assert runtime.sqlalchemy.PoolLeakDetector.__name__ == "PoolLeakDetector"
    assert runtime.asgi.websocket_connection.__name__ == "websocket_connection"
    with pytest.raises(AttributeError):
        runtime.no_such_thing  # noqa: B018


def test_the_public_api_is_exported():
    from isolint import runtime

    fixed_names = {
        "UserExecutionContext", "InvalidContextError", "NoActiveContextError", "current_context",
        "AgentClassRegistry", "DuplicateAgentError", "RegistryFrozenError", "UnknownAgentError",
        "AgentInstanceFactory", "UserWebSocketEmitter", "CrossUserEmitError", "EmitterClosedError",
        "ConnectionRegistry", "run_isolated", "RequestOutcome", "run_many",
    }  # fmt: skip
    assert fixed_names <= set(runtime.__all__)
    assert all(hasattr(runtime, name) for name in runtime.__all__)
    factory = runtime.AgentInstanceFactory(runtime.AgentClassRegistry())
    assert factory.create_agent == factory.create_agent_instance
    for method in (
        "emit", "send_to_user", "notify_agent_started", "notify_agent_thinking", "notify_tool_executing",
        "notify_tool_completed", "notify_agent_completed", "notify_agent_error", "aclose",
    ):  # fmt: skip
        assert callable(getattr(runtime.UserWebSocketEmitter, method))


def test_the_pytest_plugin_is_registered_as_an_entry_point():
    from importlib.metadata import entry_points

    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("isolint") == "isolint.testing.plugin"
