"""Inline suppressions and `check --add-ignore`."""

from __future__ import annotations

from pathlib import Path

import pytest

from isolint.suppressions import _comments, _tokenized_comments, may_hold_directives, parse_directives
from tests.conftest import FIXTURES, write
from tests.helpers import run_cli

CLASS = "class A:\n    def __init__(self, db, session):\n"


def reported(in_tmp: Path, body: str) -> list[str]:
    """What a directive hides; whether it is itself stale is ISO001's business (test_workflow_hygiene.py)."""
    write(in_tmp / "a.py", CLASS + body)
    result = run_cli("check", "--output-format", "concise", "--ignore", "ISO001")
    return [line.split(" ")[1] for line in result.stdout.splitlines() if ": ISO" in line]


@pytest.mark.parametrize(
    "body",
    [
        "        self.db = db  # isolint: ignore[ISO201]\n",
        "        self.db = db  # isolint: ignore[session-on-instance]\n",
        "        self.db = db  # isolint: ignore[ISO2]\n",
        "        self.db = db  # isolint: ignore\n",
        "        self.db = db  # noqa: ISO201\n",
        "        self.db = db  # noqa: E501, ISO201\n",
        "        self.db = db  # type: ignore  # isolint: ignore[ISO101, ISO201]\n",
        "        # isolint: ignore[ISO201]\n        self.db = db\n",
    ],
    ids=["code", "name", "prefix", "bare", "noqa", "noqa-list", "second-comment", "line-above"],
)
def test_suppressed(in_tmp: Path, body: str) -> None:
    assert reported(in_tmp, body) == []


@pytest.mark.parametrize(
    "body",
    [
        "        self.db = db  # isolint: ignore[ISO101]\n",
        "        self.db = db  # noqa\n",
        "        self.db = db  # noqa: E501\n",
        "        x = 1  # isolint: ignore[ISO201]\n        self.db = db\n",
        "        self.db = make(db, '# isolint: ignore')\n",
    ],
    ids=["other-code", "bare-noqa", "other-linter", "code-line-above", "inside-a-string"],
)
def test_not_suppressed(in_tmp: Path, body: str) -> None:
    assert reported(in_tmp, body) == ["ISO201"]


def test_file_ignore_by_prefix(in_tmp: Path) -> None:
    body = "        self.db = db\n        self.session = session\n"
    assert reported(in_tmp, "# isolint: file-ignore[ISO2]\n" + body) == []
    assert len(reported(in_tmp, "# isolint: file-ignore[ISO1]\n" + body)) == 2


def test_add_ignore_stamps_every_finding_and_then_check_is_clean(in_tmp: Path) -> None:
    write(
        in_tmp / "a.py",
        "from x import DeepAgentState  # noqa: F401\n"
        "class A:\n"
        "    def __init__(self, db):\n"
        "        self.db = db  # isolint: ignore[ISO101]\n"
        "        self.session = db\n",
    )
    result = run_cli("check", "--add-ignore")
    # The stale ISO101 is not stamped over: `fix` removes it.
    assert result.exit_code == 1
    assert "Added 3 isolint: ignore directives." in result.stderr
    assert "a.py:4: ISO001 is an unused suppression: `isolint fix` removes it" in result.stderr
    assert (in_tmp / "a.py").read_text() == (
        "from x import DeepAgentState  # noqa: F401  # isolint: ignore[ISO401]\n"
        "class A:\n"
        "    def __init__(self, db):\n"
        "        self.db = db  # isolint: ignore[ISO101, ISO201]\n"
        "        self.session = db  # isolint: ignore[ISO201]\n"
    )
    assert run_cli("fix").exit_code == 0
    assert "        self.db = db  # isolint: ignore[ISO201]\n" in (in_tmp / "a.py").read_text()
    assert run_cli("check").exit_code == 0


def test_add_ignore_keeps_crlf(in_tmp: Path) -> None:
    write(in_tmp / "a.py", b"class A:\r\n    def __init__(self, db):\r\n        self.db = db\r\n")
    run_cli("check", "--add-ignore")
    assert (
        in_tmp / "a.py"
    ).read_bytes() == b"class A:\r\n    def __init__(self, db):\r\n        self.db = db  # isolint: ignore[ISO201]\r\n"


def test_add_ignore_refuses_lines_ending_inside_a_string(in_tmp: Path) -> None:
    source = 'class A:\n    def __init__(self, db):\n        self.db = db.bind("""\n            x""")\n'
    write(in_tmp / "a.py", source)
    result = run_cli("check", "--add-ignore")
    assert (in_tmp / "a.py").read_text() == source
    assert "a.py:3: ISO201 could not be suppressed here" in result.stderr
    assert result.exit_code == 1


_DIRECTIVE_SOURCES = [
    *sorted(
        path
        for path in (Path(__file__).resolve().parent.parent / "fixtures").rglob("*.py")
        if "isolint:" in (text := path.read_text(encoding="utf-8")) or "noqa" in text
    ),
]
_TRICKY = (
    'x = """\n# isolint: ignore[ISO201]\n"""  # isolint: ignore[ISO103]\n'
    "y = f'{a}'  # noqa: ISO104\n"
    "z = ('#', # isolint: file-ignore[ISO2]\n"
    "     1)\r\n"
    "    # isolint: ignore\n"
    "w = 1 \\\n"
    "    + 2  # isolint: ignore[ISO101]\n"
)


@pytest.mark.parametrize(
    "text",
    [path.read_text(encoding="utf-8") for path in _DIRECTIVE_SOURCES] + [_TRICKY],
    ids=[path.name for path in _DIRECTIVE_SOURCES] + ["tricky"],
)
def test_the_lexer_finds_the_directive_comments_tokenize_finds(text: str) -> None:
    tokenized = [c for c in _tokenized_comments(text) if "isolint" in c[2] or "noqa" in c[2].lower()]
    assert tokenized
    assert list(_comments(text)) == tokenized


@pytest.mark.parametrize(
    ("text", "may_hold"),
    [
        ("x = 1\n", False),
        ("x = 1  # noqa\n", False),
        ("x = 1  # noqa: E501\nimport isort\n", False),
        ("x = 1  # NOQA: e501, W291\n", False),
        ("x = 1  # noqa: ISO201\n", True),
        ("x = 1  # NoQa:iso201\n", True),
        ("x = 1  # noqa: E501, \u0131so201\n", True),  # `re` matches a dotless i (U+0131) as i, ignoring case
        ("x = 1  # isolint: ignore\n", True),
        ("x = 1\n# isolint: file-ignore[ISO2]\n", True),
        ("s = 'noqa: ISO201'\n", True),  # a string: only the lexer tells, and it is asked
    ],
)
def test_a_text_without_a_possible_directive_is_never_lexed(text: str, may_hold: bool) -> None:
    """The cheap test before lexing a file for its comments passes every text
    with a directive, and no text whose only `noqa` names other linters' codes."""
    assert may_hold_directives(text) is may_hold
    assert may_hold or not parse_directives(text).written


@pytest.mark.parametrize("path", sorted(p for p in (FIXTURES / "rules").rglob("*.py")), ids=lambda p: p.name)
def test_every_fixture_with_a_directive_is_let_through(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert may_hold_directives(text) or not parse_directives(text).written
