"""lwd.metrics — how the network is measured.

Contract: summaries in, numbers out. Each model i is summarised by a vector (the mean embedding X_i of its L
responses in the LLM mode, Eq. 1; its mixture weights Π_i in the GMM mode); D_ij = ‖X_i − X_j‖₂ (Eq. 2 / Eq. 4)
and ‖D‖_F is the collapse metric. Embedders (``embedders.py``, loaded lazily) map texts to vectors ϕ(f).
"""

from lwd.metrics.distance import community_norms, distance_matrix, frobenius_norm
from lwd.metrics.summary import agent_means, align_to, classical_mds, spreads

__all__ = [
    "distance_matrix",
    "frobenius_norm",
    "community_norms",
    "agent_means",
    "spreads",
    "classical_mds",
    "align_to",
]
