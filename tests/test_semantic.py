"""The per-file semantic model: which names a scope binds. A nested function
or class binds its own name in the enclosing scope and every other name in
a scope of its own, as Python's compiler sees it."""

from __future__ import annotations

import ast
from textwrap import dedent

from isolint.semantic import ModuleModel, build_model


def _model(source: str) -> ModuleModel:
    return build_model(ast.parse(dedent(source)), "app.mod")


def test_module_names_are_the_top_level_bindings_only() -> None:
    model = _model(
        """
        import json
        from .db import engine as db_engine
        LIMIT = 3

        def handler(request):
            scratch = request.body
            return scratch

        class Agent:
            name = "agent"

            def run(self):
                result = 1
                return result
        """
    )
    assert model.module_names == {"json", "db_engine", "LIMIT", "handler", "Agent"}


def test_a_name_a_nested_function_assigns_is_not_local_to_the_outer_one() -> None:
    model = _model(
        """
        config = {}

        def outer():
            value = config["key"]

            def inner():
                config = {"key": 2}
                return config

            return value, inner
        """
    )
    assert model.unbound_reads == {}


def test_a_local_read_before_its_assignment_is_an_unbound_read() -> None:
    model = _model(
        """
        config = {}

        def outer():
            value = config["key"]
            config = {}
            return value
        """
    )
    assert model.unbound_reads == {("app.mod.outer", "config"): 5}


def test_a_parameter_only_a_nested_function_assigns_is_not_rebound() -> None:
    model = _model(
        """
        def handler(state, session):
            def helper():
                state = None
                return state

            session = session or make_session()
            return helper, state, session
        """
    )
    assert model.functions["app.mod.handler"].rebound == {"session"}


def test_a_default_value_is_read_where_the_nested_function_is_defined() -> None:
    model = _model(
        """
        limit = 10

        def outer():
            def inner(n=limit):
                return n

            limit = 5
            return inner
        """
    )
    assert model.unbound_reads == {("app.mod.outer", "limit"): 5}


def test_a_walrus_in_a_nested_definition_s_default_binds_in_the_enclosing_scope() -> None:
    model = _model(
        """
        def outer():
            print(limit)

            def inner(n=(limit := 5)):
                return n

            return inner
        """
    )
    assert model.unbound_reads == {("app.mod.outer", "limit"): 3}


def test_an_attribute_a_call_calls_is_told_from_one_read_as_a_value() -> None:
    model = _model(
        """
        def run(agent):
            agent.describe(1)
            handler = agent.describe
            return map(agent.describe, [handler])
        """
    )
    assert [(use.attribute, use.line, use.called) for use in model.attributes] == [
        ("describe", 3, True),
        ("describe", 4, False),
        ("describe", 5, False),
    ]


def test_a_function_read_by_name_as_a_value_is_recorded_with_its_qualified_name() -> None:
    model = _model(
        """
        from app import tools
        from app.tools import fetch


        def search(state):
            return state


        TOOLS = {"search": search, "fetch": fetch, "find": tools.find}


        def run(states, agent):
            search(1)
            fetch(2)
            tools.find(3)
            agent.find(4)
            return list(map(search, states))
        """
    )
    assert sorted(model.function_values) == [
        ("app.mod.search", 10),
        ("app.mod.search", 18),
        ("app.tools", 10),  # the module, read for its attribute: no function of that name
        ("app.tools", 16),
        ("app.tools.fetch", 10),
        ("app.tools.find", 10),
    ]
