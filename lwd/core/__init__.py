"""lwd.core — the foundation: what every other part of lwd stands on, importing nothing else of lwd.

- :mod:`~lwd.core.errors` — ``LwdError(message, fix=...)`` and its few subclasses: the one path of user errors;
- :mod:`~lwd.core.seeding` — named, seeded random streams (resume is exact because of them);
- :mod:`~lwd.core.offline` — Hugging Face libraries never reach the network;
- :mod:`~lwd.core.files` — durable and atomic writes, strict JSON, a full disk told as such, cached file hashes;
- :mod:`~lwd.core.resources` — the memory a run may plan on, and a refusal before it asks for more;
- :mod:`~lwd.core.validation` — TOML files read and validated into frozen models, errors told per key;
- :mod:`~lwd.core.extras` — which pip extra provides what, and a clear refusal when one is missing.
"""

from lwd.core.errors import (
    BackendError,
    ConfigError,
    DiskFullError,
    LwdError,
    MissingExtraError,
    RunFolderError,
    SetupError,
)

__all__ = [
    "LwdError",
    "ConfigError",
    "SetupError",
    "MissingExtraError",
    "RunFolderError",
    "DiskFullError",
    "BackendError",
]
