"""The offline policy, in one place: Hugging Face libraries never reach the network and stay quiet.

Imported before transformers / sentence-transformers / huggingface_hub are; ``quiet()`` also silences the
progress bars those libraries draw, which would otherwise cut through lwd's own.
"""

from __future__ import annotations

import os

__all__ = ["quiet"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def quiet() -> None:
    """Silence transformers' logging and progress bars (call after it is importable)."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
