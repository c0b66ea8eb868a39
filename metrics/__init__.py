"""lwd.metrics — how the network is measured (domain layer).

Contract: summaries in, numbers out. Each model i is summarised by a vector (the mean embedding X_i of its L
responses in the LLM mode, Eq. 1; its mixture weights Π_i in the GMM mode); D_ij = ‖X_i − X_j‖₂ (Eq. 2 / Eq. 4)
and ‖D‖_F is the collapse metric. Per-round metrics are registered functions (:mod:`~lwd.metrics.registry`;
lwd's own in :mod:`~lwd.metrics.collapse`, :mod:`~lwd.metrics.distribution` and :mod:`~lwd.metrics.lexical`): every mode computes the ones it can, and tables, the TUI, sweeps and
reports show them. Embedders (``embedders.py``, loaded lazily) map texts to vectors ϕ(f).
"""

# registering lwd's own metrics, in the order of their columns: the paper's first
from lwd.metrics import collapse, distribution, lexical, change  # noqa: F401, I001
from lwd.metrics.control import ControlChart, control_chart
from lwd.metrics.distance import community_norms, distance_matrix, frobenius_norm, pairwise_norm
from lwd.metrics.onset import collapse_onset, describe_onset, lasting_change
from lwd.metrics.registry import GMM, LLM, Metric, MetricContext, Need, RoundData, metric
from lwd.metrics.settings import MetricSettings
from lwd.metrics.summary import agent_means, align_to, classical_mds, group_sums, spreads

__all__ = [
    "distance_matrix",
    "frobenius_norm",
    "pairwise_norm",
    "community_norms",
    "agent_means",
    "group_sums",
    "spreads",
    "classical_mds",
    "align_to",
    "metric",
    "Metric",
    "MetricContext",
    "Need",
    "RoundData",
    "LLM",
    "GMM",
    "MetricSettings",
    "collapse_onset",
    "describe_onset",
    "lasting_change",
    "ControlChart",
    "control_chart",
]
