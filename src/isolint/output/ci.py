"""CI formats: GitHub Actions workflow commands and JUnit XML."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from xml.etree import ElementTree

from ..findings import Finding
from .escape import xml_safe


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        props = ",".join(
            f"{key}={_escape_property(str(value))}"
            for key, value in (
                ("title", f"isolint ({f.code})"),
                ("file", f.path),
                ("line", f.location.row),
                ("col", f.location.column),
                ("endLine", f.end_location.row),
                ("endColumn", f.end_location.column),
            )
        )
        text = f"{f.path}:{f.location.row}:{f.location.column}: {f.code} {f.message}"
        lines.append(f"::error {props}::{_escape_data(text)}\n")
    return "".join(lines)


def junit(findings: Sequence[Finding]) -> str:
    """JUnit XML. File names and messages can hold characters XML 1.0 cannot
    carry (control characters, bytes that are not UTF-8): they are shown as
    escapes, so the document stays well-formed."""
    root = ElementTree.Element(
        "testsuites", name="isolint", tests=str(max(1, len(findings))), failures=str(len(findings)), errors="0"
    )
    by_path: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_path[xml_safe(finding.path)].append(finding)
    if not by_path:
        suite = ElementTree.SubElement(
            root, "testsuite", name="isolint", tests="1", failures="0", errors="0", skipped="0"
        )
        ElementTree.SubElement(suite, "testcase", name="No findings", classname="isolint")
    for path, items in by_path.items():
        suite = ElementTree.SubElement(
            root, "testsuite", name=path, tests=str(len(items)), failures=str(len(items)), errors="0", skipped="0"
        )
        for f in items:
            case = ElementTree.SubElement(
                suite,
                "testcase",
                name=f"isolint.{f.code}.{f.name}",
                classname=path,
                file=path,
                line=str(f.location.row),
            )
            failure = ElementTree.SubElement(case, "failure", message=xml_safe(f.message), type=f.code)
            text = f"line {f.location.row}, col {f.location.column}, {f.message}" + (
                f"\nmanual: {f.manual}" if f.manual else ""
            )
            failure.text = xml_safe(text)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
