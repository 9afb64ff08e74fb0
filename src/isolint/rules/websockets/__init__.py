"""The WebSocket managers family (ISO301-ISO305): module-global managers, accessor calls,
broadcasts, managers kept on `self`, and connection dicts keyed by a maybe-missing user."""
