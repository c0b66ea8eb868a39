"""lwd.internet — the shared post store ("the Internet") and what each model may read from it.

Contract: ``retrieval_size(beta, visible)`` gives k_t; ``store.PostStore`` holds every post on Chroma;
``topologies`` decide whose posts a model reads (a registry: ``available()``, ``get()``, ``register``) and
``regimes.Ledger`` which posts are on the Internet A_t. The GMM mode uses the same topologies and ledger for its
point set A.
"""

from lwd.internet import builtin_topologies  # noqa: F401 - registers lwd's own topologies
from lwd.internet.retrieval import retrieval_size

__all__ = ["retrieval_size"]
