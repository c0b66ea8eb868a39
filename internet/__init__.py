"""lwd.internet — the shared post store ("the Internet") and what each model may read from it.

Contract: ``retrieval_size(beta, visible)`` gives k_t; the store (``add``, ``ids``, ``get``, ``count``,
``snapshot``/``restore``) and the topologies that decide which posts a model sees are added by the LLM-mode
issues. The GMM mode uses the same vocabulary for its point set A.
"""

from lwd.internet.retrieval import retrieval_size

__all__ = ["retrieval_size"]
