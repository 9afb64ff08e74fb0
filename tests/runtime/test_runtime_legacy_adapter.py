"""`ensure_context`: what transitional signatures written by `isolint fix` rely on."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import pytest

from isolint.runtime import UserExecutionContext, ensure_context, legacy_adapter


@dataclass
class DeepAgentState:
    user_request: str
    user_id: str | None = None
    chat_thread_id: str | None = None
    run_id: str | None = None


def legacy_caller(state: object, run_id: str | None) -> UserExecutionContext:
    return ensure_context(state, run_id=run_id)


def test_a_context_passes_through_unchanged() -> None:
    context = UserExecutionContext.create(user_id="u1", run_id="r1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ensure_context(context) is context
        assert ensure_context(context, run_id="r1") is context


def test_a_context_with_a_disagreeing_run_id_runs_under_the_given_one_as_the_old_code_did() -> None:
    session = object()
    context = UserExecutionContext.create(user_id="u1", run_id="r1", db_session=session, metadata={"k": 1})
    with pytest.warns(DeprecationWarning, match="run_id 'r2' disagrees with the context's run_id 'r1'; using 'r2'"):
        adapted = ensure_context(context, run_id="r2")
    assert (adapted.user_id, adapted.run_id, adapted.request_id) == ("u1", "r2", context.request_id)
    assert adapted.db_session is session and dict(adapted.metadata) == {"k": 1}
    assert context.run_id == "r1"  # the caller's context is untouched


def test_a_legacy_state_is_adapted_with_the_run_id_argument_winning() -> None:
    state = DeepAgentState("hi", user_id="u1", chat_thread_id="t1", run_id="stale")
    with pytest.warns(DeprecationWarning, match="passing a DeepAgentState and a separate run_id is deprecated"):
        context = ensure_context(state, run_id="r9")
    assert (context.user_id, context.thread_id, context.run_id) == ("u1", "t1", "r9")
    assert isinstance(context, UserExecutionContext)


def test_the_warning_points_at_the_caller_of_the_transitional_function() -> None:
    def transitional(state: object, run_id: str | None = None) -> UserExecutionContext:
        return ensure_context(state, run_id=run_id)

    with pytest.warns(DeprecationWarning) as caught:
        transitional(DeepAgentState("hi", user_id="u1"), "r1")
    assert caught[0].filename == __file__
    assert caught[0].lineno != transitional.__code__.co_firstlineno + 1


def test_legacy_ids_are_kept_verbatim_even_when_a_context_would_reject_them() -> None:
    # The old code read these values as they were; the transitional form must not raise instead.
    state = DeepAgentState("hi", user_id=None, chat_thread_id="default", run_id=None)
    with pytest.warns(DeprecationWarning):
        context = legacy_caller(state, None)
    assert (context.user_id, context.thread_id, context.run_id) == (None, "default", None)


def test_every_field_of_an_adapted_context_is_set() -> None:
    with pytest.warns(DeprecationWarning):
        context = ensure_context(DeepAgentState("hi", user_id="u1"), run_id="r1")
    for field in dataclasses.fields(UserExecutionContext):
        getattr(context, field.name)  # an unset slot would raise AttributeError
    assert dict(context.metadata) == {} and context.db_session is None


def test_none_is_not_a_state() -> None:
    with pytest.raises(TypeError, match="got None"):
        ensure_context(None, run_id="r1")


def test_a_project_adapter_reads_its_own_field_names() -> None:
    @dataclass
    class LegacyRun:
        uid: str
        conversation: str

    adapt = legacy_adapter({"uid": "user_id", "conversation": "thread_id"})
    with pytest.warns(DeprecationWarning):
        context = adapt(LegacyRun("u7", "c7"), run_id="r7")
    assert (context.user_id, context.thread_id, context.run_id) == ("u7", "c7", "r7")


def test_a_field_map_that_targets_something_other_than_an_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="field_map targets must be among"):
        legacy_adapter({"triage_result": "metadata"})
