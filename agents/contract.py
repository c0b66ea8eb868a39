"""The backend contract: what lwd asks of an agent's chat model beyond LangChain's ``BaseChatModel``.

Every chat model an agent runs is a LangChain ``BaseChatModel`` that also inherits :class:`ChatBackend` and says,
as class attributes, what it can do. The :class:`~lwd.agents.agent.Agent` reads these attributes; it never probes
a model for methods. A third-party chat model (``ChatOpenAI``, ``ChatOllama``) joins by a two-line subclass::

    class OllamaChat(ChatBackend, ChatOllama):
        pass  # one sample per request, no token counts: the defaults
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["ChatBackend"]


class ChatBackend:
    """Capabilities of a backend's chat model (a mixin placed before the LangChain class)."""

    samples_natively: ClassVar[bool] = False
    """``generate([messages], n=L, seed=s)`` returns L samples from one request (the prompt evaluated once),
    sample l with seed s + l in its ``generation_info``. False: the Agent sends L requests, seeds s + l."""

    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    """Exceptions of its client that are worth another try (a refused or reset connection, a timeout), beyond
    Python's own ``ConnectionError`` and ``TimeoutError`` and the HTTP statuses worth a retry."""

    answer_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    """Exceptions that mean the endpoint answered, but not with the backend's API (a web page where JSON
    belongs): the run stops with the endpoint named instead of a traceback."""

    counts_tokens: ClassVar[bool] = False
    """:meth:`count_prompt_tokens` and :meth:`prompt_budget` are exact, so the context policy can be applied
    before a request. False: prompts are sent as they are (the server truncates or refuses)."""

    @property
    def waits(self) -> bool:
        """A request waits on something outside this Python thread (a server, native code that releases the
        GIL), so agents' requests overlap on threads. False: pure-Python work that threads only slow down; a
        round whose agents all say so runs them one after another in the scheduler's own thread, or, past a few
        hundred agents on Linux, in one forked worker process per core (``lwd.run.spread``): the model's answers
        must then depend only on its prompt and seed, as ``lwd resume`` already requires."""
        return True

    def load(self) -> None:
        """Load the weights now (a corrupt file fails before round 0); servers have nothing to load."""

    def close(self) -> None:
        """Free what :meth:`load` took."""

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """Exact prompt length in tokens, with the model's own template and tokenizer (``counts_tokens``)."""
        raise NotImplementedError(f"{type(self).__name__} does not count tokens (counts_tokens = False)")

    def prompt_budget(self, n: int) -> int:
        """Tokens the prompt may use when n samples share the context with it (``counts_tokens``)."""
        raise NotImplementedError(f"{type(self).__name__} does not count tokens (counts_tokens = False)")
