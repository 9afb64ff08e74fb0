from app.state import DeepAgentState


def build_state(
    user_id: str,
    run_id: str,  # the run
) -> DeepAgentState:
    return DeepAgentState(user_id=user_id)


def f(x) -> DeepAgentState:
    return x
