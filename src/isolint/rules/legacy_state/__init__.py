"""The legacy-state family (ISO401-ISO407): code that still passes the mutable
per-run `DeepAgentState` where per-request code takes the immutable context."""
