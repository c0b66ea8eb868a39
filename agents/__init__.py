"""lwd.agents — the LLM agents of the network (domain layer).

Contract: an agent's ``[[agents]]`` table is a config class (:mod:`~lwd.agents.config`, pydantic only) whose
``backend`` names a factory in the lazy registry (:mod:`~lwd.agents.registry`); the factory builds an
:class:`~lwd.agents.agent.Agent` around a LangChain chat model that also declares the backend contract
(:class:`~lwd.agents.contract.ChatBackend`: samples natively? counts tokens?). The scheduler asks an Agent for L
samples of one prompt and gets a :class:`~lwd.agents.records.Reply` — a plain record, readable without LangChain.

Modules that import LangChain (``agent``, ``factory``, the backends) are only imported when an LLM run is built;
``config``, ``records``, ``registry``, ``models``, ``prompt`` and ``text`` import nothing heavy.
"""

__all__: list[str] = []
