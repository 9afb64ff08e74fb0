from app.registry import registry, get_agent_registry

class Supervisor:
    def __init__(self):
        self._registry = get_agent_registry()

    def add(self, agent):
        registry.register(agent.name, agent)

    def add_stored(self, agent):
        self._registry[agent.name] = agent

    @property
    def agents(self):
        return list(self._agents)

    @agents.setter
    def agents(self, value):
        for a in value:
            registry.register(a)
