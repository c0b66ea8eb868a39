"""lwd.agents — the LLM agents (added by the Algorithm 1 issue).

Contract: a backend is a LangChain ``BaseChatModel`` built from a registry ``name -> factory(config)``; the
scheduler asks an ``Agent`` for L samples of one prompt and gets L strings back.
"""

__all__: list[str] = []
