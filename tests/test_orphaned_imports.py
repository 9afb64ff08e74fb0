"""`isolint fix` removes the imports its own edits left unused, and no other.

Each case is (source before the fixes, source after them, what `fix` writes):
an import goes only if the name was read before and is read no more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from isolint.config import Settings
from isolint.rules._imports import without_orphaned_imports
from tests.conftest import write
from tests.helpers import run_cli

USE = "def handler(context):\n    return get_manager().send(1)\n"
SWAPPED = "def handler(context):\n    return context.websocket_emitter.send(1)\n"

CASES = {
    "the last use is gone": (
        f"from app.ws import get_manager\n\n\n{USE}",
        f"from app.ws import get_manager\n\n\n{SWAPPED}",
        f"{SWAPPED}",
    ),
    "one name of several": (
        f"from app.ws import Other, get_manager\n\nOther()\n\n\n{USE}",
        f"from app.ws import Other, get_manager\n\nOther()\n\n\n{SWAPPED}",
        f"from app.ws import Other\n\nOther()\n\n\n{SWAPPED}",
    ),
    "an alias": (
        f"from app.ws import get_websocket_manager as get_manager\n\n\n{USE}",
        f"from app.ws import get_websocket_manager as get_manager\n\n\n{SWAPPED}",
        f"{SWAPPED}",
    ),
    "still used elsewhere": (
        f"from app.ws import get_manager\n\n\n{USE}\n\nget_manager()\n",
        f"from app.ws import get_manager\n\n\n{SWAPPED}\n\nget_manager()\n",
        f"from app.ws import get_manager\n\n\n{SWAPPED}\n\nget_manager()\n",
    ),
    "unused before the fixes too": (
        f"import os\nfrom app.ws import get_manager, unused\n\n\n{USE}",
        f"import os\nfrom app.ws import get_manager, unused\n\n\n{SWAPPED}",
        f"import os\nfrom app.ws import unused\n\n\n{SWAPPED}",
    ),
    "exported in __all__": (
        f"from app.ws import get_manager\n\n__all__ = ['get_manager']\n\n\n{USE}",
        f"from app.ws import get_manager\n\n__all__ = ['get_manager']\n\n\n{SWAPPED}",
        f"from app.ws import get_manager\n\n__all__ = ['get_manager']\n\n\n{SWAPPED}",
    ),
    "bound twice": (
        f"try:\n    from app.ws import get_manager\nexcept ImportError:\n    from legacy.ws import get_manager\n\n\n{USE}",
        f"try:\n    from app.ws import get_manager\nexcept ImportError:\n    from legacy.ws import get_manager\n\n\n{SWAPPED}",
        f"try:\n    from app.ws import get_manager\nexcept ImportError:\n    from legacy.ws import get_manager\n\n\n{SWAPPED}",
    ),
    "a plain import": (
        "import app.ws\n\n\ndef handler(context):\n    return app.ws.get_manager().send(1)\n",
        f"import app.ws\n\n\n{SWAPPED}",
        f"import app.ws\n\n\n{SWAPPED}",
    ),
    "a string annotation still reads it": (
        "from app.state import State\n\n\ndef f(s: 'State', t: State):\n    pass\n",
        "from app.state import State\n\n\ndef f(s: 'State', t: Context):\n    pass\n",
        "from app.state import State\n\n\ndef f(s: 'State', t: Context):\n    pass\n",
    ),
    "a type-checking block with only it goes, then TYPE_CHECKING": (
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from app.state import State\n\n\ndef f(s: 'State'):\n    pass\n",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from app.state import State\n\n\ndef f(s: 'Context'):\n    pass\n",
        "def f(s: 'Context'):\n    pass\n",
    ),
    "a commented type-checking block stays": (
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:  # cycles\n    from app.state import State\n\n\ndef f(s: 'State'):\n    pass\n",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:  # cycles\n    from app.state import State\n\n\ndef f(s: 'Context'):\n    pass\n",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:  # cycles\n    pass\n\n\ndef f(s: 'Context'):\n    pass\n",
    ),
    "a function's own import": (
        "def f():\n    from app.ws import get_manager\n    return get_manager()\n",
        "def f():\n    from app.ws import get_manager\n    return None\n",
        "def f():\n    from app.ws import get_manager\n    return None\n",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_only_imports_the_edits_orphaned_go(name: str) -> None:
    before, after, expected = CASES[name]
    assert without_orphaned_imports(before, after, Settings(root=Path.cwd())) == expected


def test_fix_drops_the_accessor_import_it_orphaned_and_keeps_the_rest(in_tmp: Path) -> None:
    path = write(
        in_tmp / "handlers.py",
        "import json\n"
        "from app.ws import get_websocket_manager\n"
        "from isolint.runtime import UserExecutionContext\n\n\n"
        "async def notify(context: UserExecutionContext) -> None:\n"
        "    await get_websocket_manager().send_to_user(context.user_id, {'type': 'done'})\n",
    )
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", str(path))
    assert result.exit_code == 0, result.stdout
    assert path.read_text() == (
        "import json\n"
        "from isolint.runtime import UserExecutionContext\n\n\n"
        "async def notify(context: UserExecutionContext) -> None:\n"
        "    await context.websocket_emitter.send_to_user(context.user_id, {'type': 'done'})\n"
    )
    assert run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--diff", str(path)).stdout == ""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "import os\nfrom a import B, C  # keep\n\n\ndef f():\n    return C\n",
            "import os\nfrom a import C  # keep\n\n\ndef f():\n    return C\n",
            id="one-name-of-several",
        ),
        pytest.param(
            '"""Doc."""\nfrom a import B\n\nx = 1\n\n\ndef f():\n    return x\n',
            '"""Doc."""\n\nx = 1\n\n\ndef f():\n    return x\n',
            id="the-whole-statement",
        ),
        pytest.param(
            "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from a import B\n\n\ndef f():\n    pass\n",
            "from typing import TYPE_CHECKING\n\n\ndef f():\n    pass\n",
            id="the-guard-around-it",
        ),
        pytest.param(
            "x = 1\n\n\ndef f():\n    from a import B\n    return x\n",
            "x = 1\n\n\ndef f():\n    return x\n",
            id="inside-a-function",
        ),
    ],
)
def test_removing_an_import_rebuilds_only_the_statements_it_changes(source: str, expected: str) -> None:
    """The statements the removal leaves alone stay the same nodes, so a
    fix's text is spliced from the file's own text for them, and only the
    changed ones are generated."""
    import libcst as cst

    from isolint.rules._imports import remove_import_alias
    from isolint.traversal import walk

    module = cst.parse_module(source)
    import_node = next(node for node in walk(module) if isinstance(node, cst.ImportFrom) and node.module.value == "a")
    alias = next(a for a in import_node.names if a.evaluated_name == "B")
    removed = remove_import_alias(module, import_node, alias)
    assert removed.code == expected
    kept = [statement for statement in removed.body if any(statement is old for old in module.body)]
    changed = [old for old in module.body if not any(old is new for new in removed.body)]
    assert len(kept) >= len(module.body) - 2 and changed
