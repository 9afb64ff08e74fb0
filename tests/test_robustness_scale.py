"""Scale sanity: huge and pathologically nested files neither crash nor hang.

Each case runs the real `isolint check` in a subprocess with a generous
`timeout=`: a hang fails the run, a slow-but-finishing run does not (no timed
assertions of speed). What cannot be analysed must come back as one ISO000
finding that says why, never as a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.robustness_snippets import ALL_MODULE_SNIPPETS

LEGACY_IMPORT = "from app.state import DeepAgentState\n\n"
SKIPPED = re.compile(r"file skipped: too complex|too many nested parentheses")


def check(path: Path, timeout: float) -> tuple[int, list[dict]]:
    result = subprocess.run(
        [sys.executable, "-m", "isolint", "check", "--isolated", "--no-cache", "--output-format", "json", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr.lower(), result.stderr[-3000:]
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return result.returncode, json.loads(result.stdout)


ORDINARY_BLOCK = '''

class OrderView{n}:
    """Renders order {n} for the dashboard."""

    page_size = {n} % 50 + 10

    def __init__(self, repository, formatter=None):
        self.repository = repository
        self.formatter = formatter or str

    def rows(self, user_id: str, *, offset: int = 0) -> list:
        orders = self.repository.list(user_id, limit=self.page_size, offset=offset)
        result = []
        for order in orders:
            if order.status in ("paid", "shipped"):
                result.append({{"id": order.id, "total": self.formatter(order.total)}})
            elif order.status == "refunded":
                result.append({{"id": order.id, "total": "-" + self.formatter(order.total)}})
        return result


async def load_orders_{n}(client, user_id: str) -> dict:
    try:
        response = await client.get(f"/users/{{user_id}}/orders", timeout=5)
    except TimeoutError:  # the dashboard shows stale data instead
        return {{}}
    data = response.json()
    return {{key: value for key, value in data.items() if not key.startswith("_")}}
'''


def big_realistic_file(lines: int) -> str:
    """Ordinary application code with every pattern snippet mixed in (~1 block in 8)."""
    parts, total, n = [LEGACY_IMPORT], 2, 0
    while total < lines:
        block = ALL_MODULE_SNIPPETS[n // 8 % len(ALL_MODULE_SNIPPETS)] if n % 8 == 7 else ORDINARY_BLOCK.format(n=n)
        parts.append(block if block.startswith("\n") else "\n\n" + block)
        total += block.count("\n") + (0 if block.startswith("\n") else 2)
        n += 1
    return "".join(parts)


def test_fifty_thousand_line_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "huge.py"
    path.write_text(big_realistic_file(50_000))
    assert path.read_text().count("\n") >= 50_000
    code, findings = check(path, timeout=180)  # a linear-time check needs a few seconds
    codes = {finding["code"] for finding in findings}
    assert code == 1
    if "ISO000" in codes:  # allowed only as the per-file limit's clear skip
        assert len(findings) == 1 and SKIPPED.search(findings[0]["message"]), findings
    else:
        assert {"ISO101", "ISO201", "ISO302", "ISO401"} <= codes  # patterns deep in the file are still found


NESTED = {
    # CPython itself refuses these; the file is skipped with a clear reason.
    "5000 nested brackets": "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n",
    "5000 nested lists": "x = " + "[" * 5000 + "1" + "]" * 5000 + "\n",
    "5000 unary operators": "x = " + "-" * 5000 + "1\n",
    "5000-branch elif chain": "def route(n):\n    if n == 0:\n        return 0\n"
    + "".join(f"    elif n == {i}:\n        return {i}\n" for i in range(1, 5000)),
    "3000 chained calls": "x = build()" + "()" * 3000 + "\n",
}

DEEP_BUT_VALID = {
    # CPython parses these, so the analysis must either finish or skip the file as too complex.
    "150 nested lists": "x = " + "[" * 150 + "1" + "]" * 150 + "\n",
    "150 nested calls": "x = " + "wrap(" * 150 + "1" + ")" * 150 + "\n",
    "500 unary operators": "x = " + "-" * 500 + "1\n",
    "500-branch elif chain": "def route(state: DeepAgentState, n):\n    if n == 0:\n        return state.chat_thread_id\n"
    + "".join(f"    elif n == {i}:\n        return {i}\n" for i in range(1, 500)),
    "1500 chained additions": "x = " + " + ".join(["state.chat_thread_id"] * 1500) + "\n",
}


@pytest.mark.parametrize("body", NESTED.values(), ids=NESTED.keys())
def test_pathological_nesting_is_skipped_as_iso000(tmp_path: Path, body: str) -> None:
    path = tmp_path / "deep.py"
    path.write_text(LEGACY_IMPORT + body)
    code, findings = check(path, timeout=300)
    assert code == 1 and [f["code"] for f in findings] == ["ISO000"], findings
    assert SKIPPED.search(findings[0]["message"]), findings[0]["message"]


@pytest.mark.parametrize("body", DEEP_BUT_VALID.values(), ids=DEEP_BUT_VALID.keys())
def test_deep_but_valid_code_is_checked_or_skipped_never_crashes(tmp_path: Path, body: str) -> None:
    """The legacy-state import makes metadata-using rules (ISO401's scope analysis) run on the deep tree."""
    path = tmp_path / "deep.py"
    path.write_text(LEGACY_IMPORT + body)
    code, findings = check(path, timeout=300)
    codes = [f["code"] for f in findings]
    assert code == 1
    if "ISO000" in codes:
        assert codes == ["ISO000"] and SKIPPED.search(findings[0]["message"]), findings
    else:
        assert "ISO401" in codes
