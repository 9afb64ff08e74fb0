"""The dense benchmark corpus (bench/gen_dense_corpus.py) has the shape the
benchmark promises: deterministic, packages that import each other, realistic
module sizes, mostly trigger words, and files with Python 3.12 f-strings."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path

from isolint.newer_syntax import parse_module

BENCH = Path(__file__).resolve().parent.parent / "bench"
TRIGGERS = re.compile(r"DeepAgentState|session|websocket|get_\w+\(|_instance|Agent")


def _generator():  # bench/ is scripts, not a package
    spec = importlib.util.spec_from_file_location("gen_dense_corpus", BENCH / "gen_dense_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_the_dense_corpus_looks_like_a_backend_in_mid_migration(tmp_path: Path) -> None:
    generate = _generator().generate
    files, lines = generate(tmp_path / "a", 30_000, 19)
    generate(tmp_path / "b", 30_000, 19)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert lines >= 30_000

    modules = [p for p in (tmp_path / "a").rglob("*.py") if p.name != "__init__.py"]
    texts = {path: path.read_text() for path in modules}
    assert files == len(list((tmp_path / "a").rglob("*.py")))
    assert all((path.parent / "__init__.py").exists() for path in modules)
    triggered = sum(1 for text in texts.values() if TRIGGERS.search(text))
    assert 0.75 <= triggered / len(texts) <= 0.95
    assert any("from . import" in text for text in texts.values()) and any(
        "from app." in text for text in texts.values()
    )
    assert any("UserExecutionContext" in text for text in texts.values())
    sizes = sorted(text.count("\n") for text in texts.values() if "module" in text.partition("\n")[0])
    assert 50 <= sizes[len(sizes) // 2] <= 600

    pep701 = [text for text in texts.values() if 'f"{row["title"]}' in text]
    assert pep701
    for text in pep701:
        parse_module(text)  # isolint reads them on any interpreter (tests/test_newer_syntax.py)


def test_the_parse_floor_parses_every_file_once_and_counts_what_parses(tmp_path: Path) -> None:
    """bench/floor.py's `parse` row: every `.py` file, in worker processes;
    a file `ast` rejects is counted and skipped, never the run's end."""
    spec = importlib.util.spec_from_file_location("floor", BENCH / "floor.py")
    assert spec is not None and spec.loader is not None
    floor = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = floor  # its workers are handed `floor._parse` by name
    spec.loader.exec_module(floor)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\ny = 2\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    return 1\n\n\nf()\n")
    (tmp_path / "broken.py").write_text("def (:\n")
    (tmp_path / "notes.txt").write_text("not python\n")
    assert floor.parse_everything(tmp_path) == (3, 7)
