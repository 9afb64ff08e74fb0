"""The rule registry: every rule class, by code and by name."""

from __future__ import annotations

from .base import FAMILIES, Rule
from .iso000_unparsable_file import UnparsableFile
from .iso101_singleton_class import SingletonClass
from .iso201_session_on_instance import SessionOnInstance
from .iso301_global_websocket_manager import GlobalWebSocketManager
from .iso401_legacy_state_import import LegacyStateImport

ALL_RULES: tuple[type[Rule], ...] = tuple(
    sorted(
        (UnparsableFile, SingletonClass, SessionOnInstance, GlobalWebSocketManager, LegacyStateImport),
        key=lambda rule: rule.code,
    )
)
BY_CODE = {rule.code: rule for rule in ALL_RULES}
BY_NAME = {rule.name: rule for rule in ALL_RULES}


def lookup(code_or_name: str) -> type[Rule] | None:
    return BY_CODE.get(code_or_name.upper()) or BY_NAME.get(code_or_name.lower())


__all__ = ["ALL_RULES", "BY_CODE", "BY_NAME", "FAMILIES", "Rule", "lookup"]
