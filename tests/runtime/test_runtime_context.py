"""UserExecutionContext: validation, immutability, derivation, log safety, current_context."""

from __future__ import annotations

import dataclasses
import json

import pytest
from runtime_support import make_factory, run

from isolint.runtime import (
    DEFAULT_PLACEHOLDERS,
    IdPolicy,
    InvalidContextError,
    NoActiveContextError,
    UserExecutionContext,
    UserWebSocketEmitter,
    current_context,
)

ID_FIELDS = ("user_id", "thread_id", "run_id", "request_id")

BAD_IDS = [
    pytest.param(None, "must be a str", id="None"),
    pytest.param(42, "must be a str", id="int"),
    pytest.param(b"user", "must be a str", id="bytes"),
    pytest.param("", "empty", id="empty"),
    pytest.param("   \t", "empty", id="whitespace"),
    pytest.param("u" * 257, "257 characters", id="too-long"),
    pytest.param("user\n1", "control characters", id="newline"),
    pytest.param("user\x00", "control characters", id="nul"),
    pytest.param("user\x7f", "control characters", id="del"),
    pytest.param("None", "placeholder", id="placeholder-None"),
    pytest.param("null", "placeholder", id="placeholder-null"),
    pytest.param("undefined", "placeholder", id="placeholder-undefined"),
    pytest.param("default", "placeholder", id="placeholder-default"),
    pytest.param(" NULL ", "placeholder", id="placeholder-case-and-spaces"),
]


def valid_ids() -> dict[str, str]:
    return {
        "user_id": "user-1",
        "thread_id": "thread-1",
        "run_id": "run-1",
        "request_id": "req-1",
    }


@pytest.mark.parametrize("field", ID_FIELDS)
@pytest.mark.parametrize(("value", "problem"), BAD_IDS)
def test_every_bad_id_form_is_rejected_naming_the_field(field, value, problem):
    ids = valid_ids() | {field: value}
    with pytest.raises(InvalidContextError) as caught:
        UserExecutionContext(**ids)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert problem in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("value", "problem"),
    [p for p in BAD_IDS if p.values[0] is not None],  # None: no parent
)
def test_bad_parent_request_id_is_rejected(value, problem):
    with pytest.raises(InvalidContextError, match=f"^parent_request_id: .*{problem}"):
        UserExecutionContext(**valid_ids(), parent_request_id=value)


@pytest.mark.parametrize(("value", "problem"), BAD_IDS)
def test_the_scope_rejects_bad_ids_before_opening_anything(value, problem, log):
    opened = []
    factory = make_factory(session_factory=lambda: opened.append("session"))

    async def enter() -> None:
        async with factory.user_execution_scope(user_id=value):
            pytest.fail("the body must not run")

    with pytest.raises(InvalidContextError, match=f"^user_id: .*{problem}"):
        run(enter())
    assert opened == []
    assert factory.metrics().active_scopes == 0


def test_ids_of_exactly_256_characters_are_accepted():
    context = UserExecutionContext(**valid_ids() | {"user_id": "u" * 256})
    assert len(context.user_id) == 256


def test_the_placeholder_list_is_configurable():
    policy = IdPolicy(placeholders=DEFAULT_PLACEHOLDERS | {"Anonymous"})
    with pytest.raises(InvalidContextError, match=r"^user_id: 'anonymous' is a placeholder"):
        UserExecutionContext.create(user_id="anonymous", id_policy=policy)
    lenient = IdPolicy(placeholders=frozenset())
    assert UserExecutionContext.create(user_id="default", id_policy=lenient).user_id == "default"


def test_an_emitter_bound_to_another_user_is_rejected():
    async def send(text: str) -> None:
        pass

    emitter = UserWebSocketEmitter("user-2", "connection-1", send)
    with pytest.raises(InvalidContextError) as caught:
        UserExecutionContext.create(user_id="user-1", websocket_emitter=emitter)
    assert caught.value.field == "websocket_emitter"


def test_metadata_cannot_change_through_the_original_dict():
    original = {"plan": "pro", "limits": {"tokens": 10}, "tags": ["a"]}
    context = UserExecutionContext.create(user_id="user-1", metadata=original)
    original["plan"] = "free"
    original["limits"]["tokens"] = 0
    original["tags"].append("b")
    assert context.metadata == {"plan": "pro", "limits": {"tokens": 10}, "tags": ("a",)}


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda m: m.__setitem__("plan", "free"), id="set-key"),
        pytest.param(lambda m: m.__delitem__("plan"), id="delete-key"),
        pytest.param(lambda m: m["limits"].__setitem__("tokens", 0), id="nested-mapping"),
        pytest.param(lambda m: m["tags"].append("b"), id="nested-list"),
        pytest.param(lambda m: m["roles"].add("admin"), id="nested-set"),
    ],
)
def test_metadata_cannot_change_through_the_context(mutate):
    context = UserExecutionContext.create(
        user_id="user-1",
        metadata={
            "plan": "pro",
            "limits": {"tokens": 10},
            "tags": ["a"],
            "roles": {"user"},
        },
    )
    with pytest.raises((TypeError, AttributeError)):
        mutate(context.metadata)
    assert context.metadata["plan"] == "pro"


def test_context_fields_cannot_be_reassigned():
    context = UserExecutionContext.create(user_id="user-1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.user_id = "user-2"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [(["not", "a", "mapping"], "must be a mapping"), ({1: "x"}, "keys must be str")],
)
def test_bad_metadata_is_rejected(metadata, problem):
    with pytest.raises(InvalidContextError, match=f"^metadata: {problem}"):
        UserExecutionContext.create(user_id="user-1", metadata=metadata)


def test_create_generates_the_missing_ids_but_never_the_user():
    first = UserExecutionContext.create(user_id="user-1")
    second = UserExecutionContext.create(user_id="user-1")
    for name in ("thread_id", "run_id", "request_id"):
        assert getattr(first, name) != getattr(second, name)
    assert UserExecutionContext.create(user_id="user-1", thread_id="t", run_id="r").run_id == "r"
    with pytest.raises(TypeError):
        UserExecutionContext.create()  # type: ignore[call-arg]


def test_with_updates_validates_again():
    context = UserExecutionContext.create(user_id="user-1", metadata={"plan": "pro"})
    updated = context.with_updates(run_id="run-2")
    assert (updated.run_id, updated.user_id, updated.metadata) == (
        "run-2",
        "user-1",
        {"plan": "pro"},
    )
    assert context.run_id != "run-2"
    with pytest.raises(InvalidContextError, match=r"^user_id: "):
        context.with_updates(user_id="null")
    with pytest.raises(TypeError):
        context.with_updates(no_such_field=1)


def test_a_child_context_belongs_to_the_same_request_tree():
    session, parent = (
        object(),
        UserExecutionContext.create(user_id="user-1", metadata={"plan": "pro"}),
    )
    parent = parent.with_updates(db_session=session)
    child = parent.child("summarise")
    grandchild = child.child("count words")
    assert (child.user_id, child.thread_id, child.run_id) == (
        parent.user_id,
        parent.thread_id,
        parent.run_id,
    )
    assert child.request_id != parent.request_id
    assert child.parent_request_id == parent.request_id
    assert grandchild.parent_request_id == child.request_id
    assert child.db_session is session
    assert child.metadata == {"plan": "pro", "operation": "summarise"}
    assert grandchild.metadata["parent_operation"] == "summarise"
    with pytest.raises(InvalidContextError, match=r"^operation: "):
        parent.child("  ")


def test_to_dict_is_json_ready_without_sessions_or_secrets():
    context = UserExecutionContext.create(
        user_id="user-1",
        db_session=object(),
        metadata={
            "plan": "pro",
            "api_key": "sk-live-123",
            "nested": {"Password": "hunter2", "auth_token": "t0k", "region": "eu"},
            "session_cookie": "c00kie",
        },
    )
    data = context.to_dict()
    text = json.dumps(data)
    for secret in ("sk-live-123", "hunter2", "t0k", "c00kie"):
        assert secret not in text
    assert data["metadata"]["plan"] == "pro"
    assert data["metadata"]["nested"]["region"] == "eu"
    assert data["has_db_session"] is True
    assert "db_session" not in data


def test_repr_shows_ids_but_no_resources_or_metadata():
    context = UserExecutionContext.create(user_id="user-1", db_session="SESSION-OBJ", metadata={"api_key": "sk-1"})
    text = repr(context)
    assert "user-1" in text
    assert "SESSION-OBJ" not in text and "sk-1" not in text


def test_equality_ignores_resources():
    context = UserExecutionContext.create(user_id="user-1")
    assert context.with_updates(db_session=object()) == context
    assert hash(context.with_updates(db_session=object())) == hash(context)


def test_current_context_is_set_only_inside_a_scope():
    factory = make_factory()

    async def scenario() -> None:
        with pytest.raises(NoActiveContextError):
            current_context()
        async with factory.user_execution_scope(user_id="user-1") as outer:
            assert current_context() is outer
        with pytest.raises(NoActiveContextError):
            current_context()

    run(scenario())
