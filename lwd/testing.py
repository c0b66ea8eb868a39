"""Fakes for fast tests and dry runs, in one place: a deterministic chat model (the ``fake`` backend) and a
feature-hashed embedder (the ``hash`` embedder). They prove the wiring; the real parts are tested beside them."""

from lwd.agents.fake import FakeChatModel, build_fake_agent
from lwd.metrics.embedders import HashEmbedder

__all__ = ["FakeChatModel", "HashEmbedder", "build_fake_agent"]
