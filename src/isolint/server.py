"""`isolint server`: a language server on stdio, built on pygls (the `server` extra).

Diagnostics on open, change and save (the unsaved text, checked as its file:
its configuration, per-file-ignores, and the project index of the saved files
for cross-file rules); each safe fix and "ignore this on the line" as code
actions; the rule's documentation on hover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from . import __version__
from .config import ConfigError, load_settings
from .docs import read_doc
from .findings import SAFE, Edit, Finding
from .output.links import rule_url
from .rules import BY_CODE
from .source import split_lines
from .stdin import check_stdin
from .suppressions import add_ignores

SOURCE = "isolint"


@dataclass
class _State:
    findings: dict[str, list[Finding]] = field(default_factory=dict)  # document uri -> its last findings


def _path(document: TextDocument) -> Path:
    return Path(document.path) if document.path else Path(document.filename or "untitled.py")


@lru_cache(maxsize=8)
def _lines(source: str) -> tuple[str, ...]:
    """A document's lines as LSP numbers them, and CPython: only \\r\\n, \\r
    and \\n end one (pygls's `TextDocument.lines` also breaks at form feeds
    and other separators, and would put a finding past one on the wrong line)."""
    return tuple(split_lines(source))


def _range(document: TextDocument, start_row: int, start_column: int, end_row: int, end_column: int) -> types.Range:
    """isolint's 1-based rows and code-point columns, in the client's units."""
    codec, lines = document.position_codec, _lines(document.source)
    return types.Range(
        start=codec.position_to_client_units(lines, types.Position(line=start_row - 1, character=start_column - 1)),
        end=codec.position_to_client_units(lines, types.Position(line=end_row - 1, character=end_column - 1)),
    )


def _finding_range(document: TextDocument, finding: Finding) -> types.Range:
    return _range(
        document, finding.location.row, finding.location.column, finding.end_location.row, finding.end_location.column
    )


def _diagnostic(document: TextDocument, finding: Finding) -> types.Diagnostic:
    url = rule_url(finding.code)
    return types.Diagnostic(
        range=_finding_range(document, finding),
        message=finding.message + (f"\nmanual: {finding.manual}" if finding.manual else ""),
        severity=types.DiagnosticSeverity.Warning,
        code=finding.code,
        code_description=types.CodeDescription(href=url) if url else None,
        source=SOURCE,
    )


def lint(server: LanguageServer, state: _State, uri: str) -> None:
    document = server.workspace.get_text_document(uri)
    path = _path(document)
    try:
        settings = load_settings([path])
        findings = check_stdin(document.source.encode("utf-8"), path, settings, jobs=1, use_cache=True)
    except ConfigError as exc:  # a broken configuration is shown, not swallowed: the run is a no-op until it is fixed
        server.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"isolint: {exc}"))
        findings = []
    state.findings[uri] = findings
    server.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(
            uri=uri, version=document.version, diagnostics=[_diagnostic(document, f) for f in findings]
        )
    )


def _text_edit(document: TextDocument, edit: Edit) -> types.TextEdit:
    span = _range(document, edit.location.row, edit.location.column, edit.end_location.row, edit.end_location.column)
    return types.TextEdit(range=span, new_text=edit.content)


def _overlaps(document: TextDocument, finding: Finding, wanted: types.Range) -> bool:
    span = _finding_range(document, finding)
    return (span.start.line, span.start.character) <= (wanted.end.line, wanted.end.character) and (
        wanted.start.line,
        wanted.start.character,
    ) <= (span.end.line, span.end.character)


def code_actions(server: LanguageServer, state: _State, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    document = server.workspace.get_text_document(uri)
    actions = []
    for finding in state.findings.get(uri, []):
        if not _overlaps(document, finding, params.range) or finding.code == "ISO000":
            continue
        diagnostic = _diagnostic(document, finding)
        # Safe fixes only: an unsafe one can change behaviour, and belongs in a
        # reviewed `isolint fix --unsafe-fixes --diff`, not a lightbulb click.
        if finding.fix is not None and finding.fix.applicability == SAFE:
            actions.append(
                types.CodeAction(
                    title=f"{finding.code}: {finding.fix.message}",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    is_preferred=True,
                    edit=types.WorkspaceEdit(
                        changes={uri: [_text_edit(document, edit) for edit in finding.fix.required_edits()]}
                    ),
                )
            )
        ignore = _ignore_edit(document, finding)
        if ignore is not None:
            actions.append(
                types.CodeAction(
                    title=f"{finding.code}: ignore on this line",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    edit=types.WorkspaceEdit(changes={uri: [ignore]}),
                )
            )
    return actions


def _ignore_edit(document: TextDocument, finding: Finding) -> types.TextEdit | None:
    """`# isolint: ignore[CODE]` on the finding's line, as `check --add-ignore` stamps it."""
    stamped, count, _ = add_ignores(document.source, [finding])
    if not count:
        return None
    row = finding.location.row - 1
    old_line = _lines(document.source)[row]
    new_line = split_lines(stamped)[row]
    return types.TextEdit(range=_range(document, row + 1, 1, row + 1, len(old_line) + 1), new_text=new_line)


def hover(server: LanguageServer, state: _State, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    document = server.workspace.get_text_document(uri)
    here = types.Range(start=params.position, end=params.position)
    for finding in state.findings.get(uri, []):
        rule = BY_CODE.get(finding.code)
        if rule is not None and _overlaps(document, finding, here):
            doc = read_doc(rule) or f"{rule.code} {rule.name}: {rule.summary}"
            return types.Hover(
                contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=doc),
                range=_finding_range(document, finding),
            )
    return None


def build() -> LanguageServer:
    server = LanguageServer("isolint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
    state = _State()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        lint(ls, state, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        lint(ls, state, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: LanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        lint(ls, state, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        state.findings.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])
    )
    def code_action(ls: LanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return code_actions(ls, state, params)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover | None:
        return hover(ls, state, params)

    return server


def serve() -> None:
    build().start_io()
