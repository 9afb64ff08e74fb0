"""The exact call shapes `isolint fix` emits must work against the runtime."""

from __future__ import annotations

import json

from runtime_support import RecordingSession, run

from isolint.runtime import (
    AgentClassRegistry,
    AgentInstanceFactory,
    UserExecutionContext,
    UserWebSocketEmitter,
    current_context,
)


class SupportAgent:
    """What a rewritten legacy agent looks like: no shared state, context passed in."""

    def __init__(self, name: str, *, tone: str) -> None:
        self.name = name
        self.tone = tone
        self.closed = False

    async def execute(self, context: UserExecutionContext, message: str) -> str:
        emitter = context.websocket_emitter
        emitter.notify_agent_started(self.name, tone=self.tone)
        emitter.notify_agent_thinking(self.name, "drafting", step=1)
        await emitter.send_to_user(context.user_id, {"type": "draft", "text": message})
        emitter.send_to_user(context.user_id, {"type": "plan", "tier": context.metadata.get("tier")})
        emitter.notify_tool_executing("kb_search", query=message)
        emitter.notify_tool_completed("kb_search", result=["kb-1"])
        emitter.notify_agent_completed(self.name, result="answered", tokens=12)
        assert current_context().user_id == context.user_id
        return f"{context.db_session.name}:{context.metadata.get('missing', 'default-tier')}"

    async def cleanup(self) -> None:
        self.closed = True


def test_the_rewritten_legacy_shapes_run_end_to_end(log):
    frames: list[dict] = []
    built: list[SupportAgent] = []

    async def send(text: str) -> None:
        frames.append(json.loads(text))

    registry = AgentClassRegistry()
    registry.register_factory(
        "support",
        lambda context: built.append(SupportAgent("support", tone="calm")) or built[-1],
    )
    factory = AgentInstanceFactory(registry, session_factory=lambda: RecordingSession(log, "request-session"))

    async def scenario() -> str:
        emitter = UserWebSocketEmitter("user-7", "connection-7", send)
        base = UserExecutionContext.create(
            user_id="user-7",
            thread_id="thread-7",
            run_id="run-7",
            metadata={"tier": "gold"},
        )
        async with factory.user_execution_scope(
            user_id=base.user_id,
            thread_id=base.thread_id,
            run_id=base.run_id,
            metadata=base.metadata,
            websocket_emitter=emitter,
        ) as context:
            agent = factory.create_agent("support", context)
            result = await agent.execute(context, "where is my refund?")
        await emitter.aclose()
        return result

    assert run(scenario()) == "request-session:default-tier"
    assert [f["event"] for f in frames] == [
        "agent_started",
        "agent_thinking",
        "message",
        "message",
        "tool_executing",
        "tool_completed",
        "agent_completed",
    ]
    assert frames[0]["payload"] == {"agent_name": "support", "tone": "calm"}
    assert frames[3]["payload"] == {"type": "plan", "tier": "gold"}
    assert frames[6]["payload"] == {
        "agent_name": "support",
        "result": "answered",
        "tokens": 12,
    }
    assert {(f["thread_id"], f["run_id"]) for f in frames} == {("thread-7", "run-7")}
    assert built[0].closed
    assert log == ["request-session.commit", "request-session.close"]
