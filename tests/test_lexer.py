"""The lexer (lexer.py) finds the literals and comments Python's tokenizer
finds, groups them as `ast` does, and translates Python 3.12 f-strings as
LibCST's positions do (_pep701.py), so newer_syntax.py can skip LibCST."""

from __future__ import annotations

import ast
import io
import sys
import sysconfig
import tokenize
from pathlib import Path

import pytest

from isolint import _pep701, lexer, newer_syntax
from isolint.newer_syntax import blank, unreadable_groups

ROOT = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Python 3.11 code full of literals of every kind: isolint itself and a few standard modules.
READABLE = sorted(
    [*(ROOT / "src" / "isolint").rglob("*.py"), *(ROOT / "tests").glob("test_*.py")]
    + [STDLIB / name for name in ("tokenize.py", "ast.py", "string.py", "textwrap.py", "inspect.py", "pydoc.py")],
    key=str,
)
PEP701_FILES = sorted(
    path for path in (ROOT / "fixtures").rglob("*.py") if "pep701" in path.parts or "newer" in path.name
)
PEP701_SOURCES = [
    'x = f"{row["id"]}: {"\\n".join(names)}"\n',
    'x = (f"{a["b"]}"  # between\n     "plain" f"{c}")\n',
    'x = f"{a["b"]!r:>{w}} {a["c"]=} {a["d"] = !s}"\n',
    'x = f"{\n    a  # a comment in a field\n}"\n',
    "x = f'{a['b']}' 'tail'\ny = 1\n",
    'x = f"""{a["""b"""]}\n{c}"""\n',
    'x = rf"\\{a["b"]}\\d"\n',
    'x = f"\\N{EM DASH} {a["b"]}"\n',
    'x = f"{a["b"],}"\n',
    'x = f"{ {"a": 1}["a"] }"\n',
    'x = f"{f"{f"{h}"}"}"\n',
    'x = f"{a if b else "c"}" \\\n    f"{d}"\n',
    'if x: y = f"{a["b"]}"\nelse: y = "é" + f"{ü["ß"]}é"\n',
    'x = f"{a:{"x"}>10}"\n',
    'x = f"{a!=b} {a["c"]}"\n',
    'x = f"{a<=b=} {a["c"]}"\n',
    'def f():\n    return f"{a["b"]}" if c else"d"\n',
    'x = f"{a["b"]}"\r\ny = f"{\r\n  c["d"]\r\n}"\r\n',
    "x = b\"a\" + f\"{a[\"b\"]}\" '''q'''\n",
]


def _offsets(text: str) -> list[int]:
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _outermost(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept


@pytest.mark.parametrize("path", READABLE, ids=lambda path: path.name)
def test_the_literals_found_are_the_tokenizers_strings_and_none_is_unreadable(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    starts = _offsets(text)
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    strings = [
        (starts[token.start[0] - 1] + token.start[1], starts[token.end[0] - 1] + token.end[1])
        for token in tokens
        if token.type == tokenize.STRING
    ]
    comments = [
        (starts[token.start[0] - 1] + token.start[1], starts[token.end[0] - 1] + token.end[1])
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
        if token.type == tokenize.COMMENT
    ]
    lexed = lexer.scan(text)
    assert lexed is not None
    assert _outermost([(literal.start, literal.end) for group in lexed.groups for literal in group]) == strings
    assert lexed.comments == comments
    assert unreadable_groups(text, lexed.groups) == []


def test_literals_are_grouped_as_implicit_concatenation_groups_them() -> None:
    text = 'a = ("x"  # one\n     "y")\nb = "p" \\\n    f"q"\nc = "s"\n"t"\nd = f"{"u" "v"}"\n'
    lexed = lexer.scan(text)
    assert lexed is not None
    assert [text[start:end] for start, end in lexed.comments] == ["# one"]
    assert [[text[literal.start : literal.end] for literal in group] for group in lexed.groups] == [
        ['"x"', '"y"'],
        ['"p"', 'f"q"'],
        ['"s"'],
        ['"t"'],
        ['f"{"u" "v"}"'],
        ['"u"', '"v"'],
    ]


def test_a_keyword_before_a_quote_is_no_prefix() -> None:
    text = 'def f(c):\n    return"a" if c else"b"\n'
    lexed = lexer.scan(text)
    assert lexed is not None
    assert [text[group[0].start : group[0].end] for group in lexed.groups] == ['"a"', '"b"']


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12+ reads PEP 701 f-strings itself")
@pytest.mark.parametrize(
    "source",
    PEP701_SOURCES + [path.read_text(encoding="utf-8") for path in PEP701_FILES],
    ids=[f"case{number}" for number in range(len(PEP701_SOURCES))] + [path.name for path in PEP701_FILES],
)
def test_the_translation_is_libcsts(source: str) -> None:
    lexed = lexer.scan(source)
    assert lexed is not None
    translated = blank(source, unreadable_groups(source, lexed.groups))
    assert translated == _pep701.translate_f_strings(source)
    ast.parse(translated)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12+ reads PEP 701 f-strings itself")
def test_a_parenthesised_expression_keeps_its_parentheses() -> None:
    """LibCST's span of `(a, b)` leaves its parentheses out, which would make
    the tuple's items the translation's own; the scanner keeps the tuple."""
    source = 'x = f"{(a, b)!r} {x["k"]}"\n'
    lexed = lexer.scan(source)
    assert lexed is not None
    assert blank(source, unreadable_groups(source, lexed.groups)) == 'x = (  (a, b),    x["k"],)\n'


@pytest.mark.parametrize(
    "source",
    [
        't = t"{name}"\n',  # a template string (PEP 750): newer than the scanner
        'x = f"{a["b"]\n',  # unterminated
        'x = f"{}"\n',  # an empty field
        'x = f"{a!x}"\n',  # no such conversion
        'x = "open\n',
    ],
    ids=["t-string", "unterminated", "empty-field", "bad-conversion", "unterminated-plain"],
)
def test_the_scanner_gives_up_rather_than_guess(source: str) -> None:
    assert lexer.scan(source) is None


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12+ reads PEP 701 f-strings itself")
@pytest.mark.parametrize("path", PEP701_FILES, ids=lambda path: path.name)
def test_parse_module_reads_pep701_files_without_libcst(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_libcst(text: str) -> None:
        raise AssertionError("the scanner's translation should have been enough")

    monkeypatch.setattr(newer_syntax, "_translatable", no_libcst)
    newer_syntax.parse_module(path.read_bytes(), str(path))
