"""The singleton family (ISO101-ISO106): process-wide singletons and registries.

`family` holds the family's fact kinds, vocabulary and typed configuration;
`evidence` its one analysis on the stdlib `ast`, of which the project-index
facts are a projection; `keyed_state`, `per_call` and `aliases` the analyses
behind three more fact kinds; `uncache` the LibCST edits the per-call fixes
share; one module per rule.
"""
